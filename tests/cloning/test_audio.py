"""Reading clips, preparing them (trim, level, length) and choosing where to cut."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from cloning import audio
from cloning.audio import (
    BLOCK,
    BLOCK_S,
    CODEC_RATE,
    HUBERT_RATE,
    choose_windows,
    frame_levels,
    prepare,
    read_audio,
)
from core.errors import InputError

RATE = 22_050


def speechlike(parts: list[tuple[str, float]], rate: int = RATE, level: float = 0.3, seed: int = 0) -> np.ndarray:
    """("sound" | "pause", seconds) pieces: sound is a buzzy tone with a syllable rhythm, pause is near silence."""
    rng = np.random.default_rng(seed)
    pieces = []
    for kind, seconds in parts:
        t = np.arange(round(seconds * rate)) / rate
        if kind == "sound":
            envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
            tone = np.sign(np.sin(2 * np.pi * 140 * t)) * 0.5 + np.sin(2 * np.pi * 700 * t) * 0.5
            pieces.append(level * envelope * tone)
        else:
            pieces.append(rng.normal(0, 1e-4, len(t)))
    return np.concatenate(pieces).astype(np.float32)


def source(samples: np.ndarray, rate: int = RATE) -> audio.SourceAudio:
    return read_audio((samples, rate), name="test")


# Reading


def test_each_format_decodes_at_its_rate(clips):
    expected = {"8k": 8_000, "48k": 48_000, "opus": 48_000}
    for kind, path in clips.items():
        clip = read_audio(path)
        assert clip.rate == expected.get(kind, RATE), kind
        assert clip.samples.shape[1] == (2 if kind == "stereo" else 1), kind
        assert 4.0 < clip.seconds < 12.0, kind
        assert clip.name == path.name and len(clip.sha256) == 64


def test_arrays_of_any_layout_and_type_become_float_frames():
    mono = (np.sin(np.arange(4000) / 10) * 20_000).astype(np.int16)
    as_int = read_audio((mono, 8000))
    assert as_int.samples.shape == (4000, 1) and as_int.samples.dtype == np.float32
    np.testing.assert_allclose(as_int.samples[:, 0], mono / 32768, atol=1e-6)
    stereo = np.stack([mono, mono // 2]).astype(np.float64) / 32768
    assert read_audio((stereo, 8000)).samples.shape == (4000, 2)  # (channels, samples) is recognised
    assert read_audio((stereo.T, 8000)).samples.shape == (4000, 2)
    unsigned = read_audio((np.array([0, 128, 255] * 100, dtype=np.uint8), 8000)).samples[:3, 0]
    np.testing.assert_allclose(unsigned, [-1.0, 0.0, 127 / 128])


def test_array_hash_depends_on_the_samples():
    a = read_audio((np.zeros(100, np.float32), 8000)).sha256
    b = read_audio((np.ones(100, np.float32), 8000)).sha256
    assert a != b


@pytest.mark.parametrize(
    "value",
    [
        (np.zeros(100, bool), 8000),
        (np.zeros(100, complex), 8000),
        (np.zeros((2, 2, 100)), 8000),
        (np.zeros(0), 8000),
        (np.array(["a", "b"]), 8000),
        (np.zeros(100), 0),
        (np.zeros(100), 16000.5),
        (np.zeros(100), True),
        (np.zeros(100),),
        (np.array([0.0, np.nan] * 100), 8000),
        42,
    ],
)
def test_bad_arrays_are_refused_with_a_reason(value):
    with pytest.raises(InputError):
        read_audio(value)


def test_a_very_long_source_is_refused():
    with pytest.raises(InputError, match="minutes"):
        read_audio((np.zeros(1000 * 601, np.float32), 1000))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"Hello, this is not audio at all.\n" * 40, "text file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(range(256)) * 4, "damaged"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(500), "MP4"),
        (b"", "empty"),
    ],
)
def test_unreadable_files_say_what_they_are(tmp_path, content, reason):
    path = tmp_path / "clip.wav"
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        read_audio(path)


def test_a_very_long_file_is_refused_before_decoding(tmp_path):
    sf.write(tmp_path / "hour.wav", np.zeros(1000 * 601, np.int16), 1000)
    with pytest.raises(InputError, match=r"10\.0 minutes"):
        read_audio(tmp_path / "hour.wav")


def test_missing_and_oversized_files(tmp_path, clips):
    with pytest.raises(InputError, match="no audio file"):
        read_audio(tmp_path / "nothing.wav")
    with pytest.raises(InputError, match="the limit is"):
        read_audio(clips["wav"], max_bytes=1000)


# Preparation


def test_trims_silence_and_finds_the_pause():
    x = speechlike([("pause", 1.0), ("sound", 2.0), ("pause", 0.5), ("sound", 2.0), ("pause", 1.5)])
    clip = prepare(source(x), trim=True, normalize=False)
    assert len(clip.audio24) == clip.blocks * BLOCK[CODEC_RATE]
    assert len(clip.audio16) == clip.blocks * BLOCK[HUBERT_RATE]
    assert 4.2 <= clip.blocks * BLOCK_S <= 4.9  # 4.5 s of sound and pause, plus margins
    assert any("trimmed 2." in note for note in clip.notes)
    assert len(clip.pauses) == 1
    assert abs(clip.pauses[0] * BLOCK_S - (0.1 + 2.25)) < 0.15  # the pause's middle, after the 0.1 s margin


def test_without_trimming_the_clip_keeps_its_length():
    x = speechlike([("pause", 1.0), ("sound", 2.0), ("pause", 1.0)])
    clip = prepare(source(x), trim=False, normalize=False)
    assert clip.blocks == 100 and clip.offset == 0
    assert not any("trimmed" in note for note in clip.notes)


@pytest.mark.parametrize("level", [0.01, 0.9])
def test_normalising_brings_speech_to_a_standard_level(level):
    x = speechlike([("sound", 3.0)], level=level)
    clip = prepare(source(x), trim=True, normalize=True)
    loud = frame_levels(clip.audio24)
    speech_dbfs = 10 * np.log10(np.mean(10 ** (loud / 10)))
    assert -21.5 < speech_dbfs < -18.5 or np.abs(clip.audio24).max() > 0.88  # target, or held by the peak limit
    assert np.abs(clip.audio24).max() <= 0.9
    assert any("normalised" in note for note in clip.notes)
    unchanged = prepare(source(x), trim=True, normalize=False)
    assert abs(np.abs(unchanged.audio24).max() - np.abs(x).max()) < 0.05 * level


def test_clipping_is_reported():
    x = np.clip(speechlike([("sound", 3.0)], level=3.0), -1, 1)
    assert any("clipped" in note for note in prepare(source(x), trim=True, normalize=True).notes)
    clean = speechlike([("sound", 3.0)], level=0.5)
    assert not any("clipped" in note for note in prepare(source(clean), trim=True, normalize=True).notes)


def test_silence_and_too_little_sound_are_refused():
    with pytest.raises(InputError, match="silent"):
        prepare(source(np.zeros(RATE * 3, np.float32)), trim=True, normalize=True)
    with pytest.raises(InputError, match="silent"):
        prepare(source(np.full(RATE * 3, 1e-5, np.float32)), trim=False, normalize=True)
    short = speechlike([("pause", 1.0), ("sound", 0.5), ("pause", 1.0)])
    with pytest.raises(InputError, match="at least 1 s"):
        prepare(source(short), trim=True, normalize=True)
    prepare(source(short), trim=False, normalize=True)  # untrimmed, it is long enough
    a_word_in_a_long_silence = speechlike([("pause", 10.0), ("sound", 0.5), ("pause", 10.0)])
    with pytest.raises(InputError, match="at least 1 s"):
        prepare(source(a_word_in_a_long_silence), trim=True, normalize=True)


# Where to cut


def long_clip() -> audio.PreparedClip:
    parts = [("sound", 2.5), ("pause", 0.4)] * 5 + [("sound", 2.5)]
    return prepare(source(speechlike(parts)), trim=True, normalize=True)


def test_a_long_clip_keeps_its_last_stretch_from_a_pause():
    clip = long_clip()
    assert len(clip.pauses) == 5
    windows, notes = choose_windows(clip, max_seconds=6.0, count=1)
    (window,) = windows
    assert window.end == clip.blocks and window.start in clip.pauses
    assert 2.0 <= window.seconds <= 6.0
    assert any("kept the last" in n and "from a pause" in n for n in notes)


def test_variants_end_at_earlier_pauses():
    clip = long_clip()
    windows, notes = choose_windows(clip, max_seconds=15.0, count=3)
    assert [w.end for w in windows] == [clip.blocks, clip.pauses[-1], clip.pauses[-2]]
    assert all(w.seconds <= 15.0 for w in windows)
    assert not any("variants" in n for n in notes)


def test_fewer_variants_when_the_clip_has_too_few_pauses():
    clip = prepare(source(speechlike([("sound", 3.0), ("pause", 0.4), ("sound", 3.0)])), trim=True, normalize=True)
    windows, notes = choose_windows(clip, max_seconds=15.0, count=4)
    assert len(windows) == 2
    assert any("2 of the 4 variants" in n for n in notes)


def test_reads_from_soundfile_written_files(tmp_path):
    x = speechlike([("sound", 2.0)])
    sf.write(tmp_path / "a.flac", np.stack([x, x], axis=1), 44_100)
    clip = read_audio(tmp_path / "a.flac")
    assert clip.rate == 44_100 and clip.samples.shape == (len(x), 2)

"""Joining clips, encoding to every format and atomic writes."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from core.audio import AUDIO_FORMATS, encode_audio, join_segments, write_audio
from core.constants import SAMPLE_RATE
from core.errors import InputError

RATE = 1000  # a small rate keeps the join arithmetic easy to read


def tone(seconds: float, rate: int = SAMPLE_RATE, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def expected_length(lengths: list[int], silence: int, fade: int) -> int:
    """Sum of clips and silences minus each neighbour overlap (at most half the shorter part)."""
    parts: list[int] = []
    for i, n in enumerate(lengths):
        if i and silence:
            parts.append(silence)
        parts.append(n)
    overlaps = sum(min(fade, a // 2, b // 2) for a, b in itertools.pairwise(parts))
    return sum(parts) - overlaps


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 300), max_size=6),
    silence=st.integers(0, 100),
    fade=st.integers(0, 200),
)
def test_join_length_is_exact(lengths: list[int], silence: int, fade: int) -> None:
    clips = [np.full(n, 0.1, dtype=np.float32) for n in lengths]
    out = join_segments(clips, RATE, silence_s=silence / RATE, crossfade_s=fade / RATE)
    assert out.dtype == np.float32 and out.ndim == 1
    assert len(out) == expected_length(lengths, silence, fade)


def test_join_without_fades_concatenates_with_silence() -> None:
    a, b = np.ones(10, np.float32), np.full(5, 2.0, np.float32)
    out = join_segments([a, b], RATE, silence_s=0.003)
    np.testing.assert_array_equal(out, np.r_[a, np.zeros(3), b].astype(np.float32))
    assert join_segments([], RATE).shape == (0,)
    np.testing.assert_array_equal(join_segments([a], RATE, silence_s=1.0, crossfade_s=1.0), a)


def test_crossfade_has_equal_gain_and_no_jumps() -> None:
    flat = join_segments([np.ones(100, np.float32), np.ones(100, np.float32)], RATE, crossfade_s=0.04)
    assert len(flat) == 160
    np.testing.assert_allclose(flat, 1.0, atol=1e-6)  # equal-gain fades sum to the original level
    step = join_segments([np.full(100, 0.5, np.float32), np.full(100, -0.5, np.float32)], RATE, crossfade_s=0.04)
    assert np.abs(np.diff(step)).max() <= 1.0 / 41 + 1e-6  # a 40-sample linear ramp, not a jump
    faded = join_segments([np.ones(100, np.float32)] * 2, RATE, silence_s=0.05, crossfade_s=0.02)
    assert len(faded) == 100 + 50 + 100 - 2 * 20
    assert np.abs(np.diff(faded)).max() <= 1.0 / 21 + 1e-6  # fades into and out of the silence


def test_crossfade_never_longer_than_half_a_part() -> None:
    out = join_segments([np.ones(10, np.float32), np.ones(100, np.float32)], RATE, crossfade_s=1.0)
    assert len(out) == 110 - 5
    np.testing.assert_allclose(out, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"silence_s": -0.1}, "silence_s"),
        ({"crossfade_s": -1.0}, "crossfade_s"),
        ({"silence_s": float("nan")}, "silence_s"),
        ({"sample_rate": 0}, "sample_rate"),
    ],
)
def test_join_rejects_bad_arguments(kwargs: dict, field: str) -> None:
    args = {"pieces": [np.zeros(10, np.float32)], "sample_rate": RATE, **kwargs}
    with pytest.raises(InputError, match=field):
        join_segments(**args)


def test_join_rejects_stereo() -> None:
    with pytest.raises(InputError, match="mono"):
        join_segments([np.zeros((10, 2), np.float32)], RATE)


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_each_format_round_trips(fmt: str) -> None:
    audio = tone(1.0)
    data, rate = sf.read(io.BytesIO(encode_audio(audio, SAMPLE_RATE, fmt)), dtype="float32")
    assert rate == SAMPLE_RATE and data.ndim == 1
    if fmt == "mp3":  # the encoder pads the start and end by up to a few frames
        assert abs(len(data) - len(audio)) <= 3 * 1152
        return
    assert len(data) == len(audio)
    tolerance = 0.05 if fmt == "ogg" else 1e-3  # Vorbis is lossy; PCM_16 loses ~3e-5
    np.testing.assert_allclose(data, audio, atol=tolerance)


def test_encode_clips_and_validates() -> None:
    loud = np.array([2.0, -3.0, np.nan, 0.5], dtype=np.float32)
    data, _ = sf.read(io.BytesIO(encode_audio(loud, SAMPLE_RATE, "wav")), dtype="float32")
    np.testing.assert_allclose(data, [1.0, -1.0, 0.0, 0.5], atol=1e-4)
    assert encode_audio(tone(0.1), SAMPLE_RATE, ".WAV")[:4] == b"RIFF"
    with pytest.raises(InputError, match="wav, flac, ogg, mp3"):
        encode_audio(tone(0.1), SAMPLE_RATE, "aac")
    with pytest.raises(InputError, match="empty"):
        encode_audio(np.zeros(0, np.float32), SAMPLE_RATE, "flac")
    with pytest.raises(InputError, match="sample_rate"):
        encode_audio(tone(0.1), -1, "wav")


def test_write_audio_is_atomic_and_uses_the_suffix(tmp_path) -> None:
    path = write_audio(tmp_path / "out" / "clip.flac", tone(0.5), SAMPLE_RATE)
    assert path == tmp_path / "out" / "clip.flac"
    assert sf.info(str(path)).format == "FLAC"
    assert [p.name for p in path.parent.iterdir()] == ["clip.flac"]  # no temporary file left
    explicit = write_audio(tmp_path / "clip.bin", tone(0.5), SAMPLE_RATE, fmt="ogg")
    assert sf.info(str(explicit)).format == "OGG"


def test_failed_write_leaves_nothing(tmp_path) -> None:
    with pytest.raises(InputError):
        write_audio(tmp_path / "clip", tone(0.1), SAMPLE_RATE)
    with pytest.raises(InputError):
        write_audio(tmp_path / "clip.wav", np.zeros((4, 2), np.float32), SAMPLE_RATE)
    assert list(tmp_path.iterdir()) == []

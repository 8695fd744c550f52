"""Joining clips, encoding to every format and atomic writes."""

from __future__ import annotations

import io
import itertools
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from core.audio import (
    AUDIO_FORMATS,
    clip_spans,
    encode_audio,
    iter_join,
    join_segments,
    write_audio,
    write_audio_stream,
)
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


# Streaming joins, clip spans and streamed writes


def reference_join(clips: list[np.ndarray], silence: int, fade: int) -> np.ndarray:
    """The join as first written (whole arrays, one output buffer): the oracle for the streaming one."""
    parts: list[np.ndarray] = []
    for i, clip in enumerate(clips):
        if i and silence:
            parts.append(np.zeros(silence, np.float32))
        parts.append(clip)
    overlaps = [min(fade, len(a) // 2, len(b) // 2) for a, b in itertools.pairwise(parts)]
    out = np.zeros(sum(map(len, parts)) - sum(overlaps), np.float32)
    pos = 0
    for i, part in enumerate(parts):
        shaped = part.copy()
        fade_in, fade_out = overlaps[i - 1] if i else 0, overlaps[i] if i < len(overlaps) else 0
        shaped[:fade_in] *= np.arange(1, fade_in + 1, dtype=np.float32) / np.float32(fade_in + 1)
        shaped[len(part) - fade_out :] *= (np.arange(1, fade_out + 1, dtype=np.float32) / np.float32(fade_out + 1))[
            ::-1
        ]
        out[pos : pos + len(part)] += shaped
        pos += len(part) - fade_out
    return out


join_cases = given(
    lengths=st.lists(st.integers(0, 120), max_size=6),
    silence=st.integers(0, 40),
    fade=st.integers(0, 80),
    seed=st.integers(0, 2**16),
)


@settings(max_examples=300, deadline=None)
@join_cases
def test_iter_join_gives_join_segments_samples_exactly(lengths: list[int], silence: int, fade: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    clips = [rng.uniform(-1, 1, n).astype(np.float32) for n in lengths]
    joined = join_segments(clips, RATE, silence_s=silence / RATE, crossfade_s=fade / RATE)
    chunks = list(iter_join(iter(clips), RATE, silence_s=silence / RATE, crossfade_s=fade / RATE))
    assert all(c.dtype == np.float32 and c.ndim == 1 and c.size for c in chunks)
    assert np.array_equal(np.concatenate([np.zeros(0, np.float32), *chunks]), joined)
    assert np.array_equal(joined, reference_join(clips, silence, fade))  # join_segments is unchanged


@settings(max_examples=200, deadline=None)
@join_cases
def test_clip_spans_are_where_each_clip_lands(lengths: list[int], silence: int, fade: int, seed: int) -> None:
    spans = clip_spans(lengths, RATE, silence_s=silence / RATE, crossfade_s=fade / RATE)
    assert len(spans) == len(lengths)
    assert [e - s for s, e in spans] == lengths
    total = expected_length(lengths, silence, fade)
    assert all(0 <= s <= e <= total for s, e in spans)
    for k, n in enumerate(lengths):  # joined alone among silent clips, clip k sounds exactly over its span
        clips = [np.full(m, 1.0 if i == k else 0.0, np.float32) for i, m in enumerate(lengths)]
        out = join_segments(clips, RATE, silence_s=silence / RATE, crossfade_s=fade / RATE)
        np.testing.assert_array_equal(np.flatnonzero(out), np.arange(*spans[k]))
        assert n == 0 or spans[k][1] <= len(out)


def test_clip_spans_by_hand_and_bad_lengths() -> None:
    assert clip_spans([], RATE) == []
    assert clip_spans([10, 0, 6], RATE, silence_s=0.004) == [(0, 10), (14, 14), (18, 24)]
    assert clip_spans([10, 10], RATE, crossfade_s=0.003) == [(0, 10), (7, 17)]
    assert clip_spans([10, 10], RATE, silence_s=0.004, crossfade_s=1.0) == [(0, 10), (10, 20)]  # fades of 2
    for bad in (-1, 2.5, True):
        with pytest.raises(InputError, match="clip 1's length"):
            clip_spans([3, bad], RATE)
    with pytest.raises(InputError, match="crossfade_s"):
        clip_spans([3], RATE, crossfade_s=-1)


def test_iter_join_reads_lazily() -> None:
    pulled = []

    def clips():
        for i in range(100):
            pulled.append(i)
            yield np.full(50, 0.1, np.float32)

    chunks = iter_join(clips(), RATE, silence_s=0.01, crossfade_s=0.005)
    assert pulled == []  # nothing read before the first chunk is asked for
    next(chunks)
    assert len(pulled) <= 2
    for _ in range(10):
        next(chunks)
    assert len(pulled) <= 7  # chunks alternate clip, silence: a clip and the one after are read
    list(chunks)
    assert pulled == list(range(100))


def test_iter_join_holds_a_few_clips_not_the_whole_join() -> None:
    clip_bytes = SAMPLE_RATE * 4  # one second of float32
    clips = (np.full(SAMPLE_RATE, 0.1, np.float32) for _ in range(200))
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in iter_join(clips, SAMPLE_RATE, silence_s=0.25, crossfade_s=0.05))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == expected_length([SAMPLE_RATE] * 200, SAMPLE_RATE // 4, SAMPLE_RATE // 20)
    assert peak < 5 * clip_bytes  # the last chunk handed out, this part, the next, a silence: not 240 clips


def test_iter_join_checks_arguments_at_once_and_clips_when_read() -> None:
    with pytest.raises(InputError, match="silence_s"):
        iter_join([], RATE, silence_s=-1)
    chunks = iter_join([np.ones(4, np.float32), np.zeros((2, 2), np.float32)], RATE)
    with pytest.raises(InputError, match="clip 1 must be mono"):
        list(chunks)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_stream_writes_what_encode_audio_writes(tmp_path, fmt: str) -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.uniform(-1.5, 1.5, n).astype(np.float32) for n in (0, 1, 4000, 3, 0, 2500)]
    chunks[2][:3] = [np.nan, 1.0, -1.0]  # NaN and full scale are handled as encode_audio handles them
    path = write_audio_stream(tmp_path / f"long.{fmt}", iter(chunks), SAMPLE_RATE, fmt)
    assert path == tmp_path / f"long.{fmt}"
    expected, _ = sf.read(io.BytesIO(encode_audio(np.concatenate(chunks), SAMPLE_RATE, fmt)), dtype="int16")
    written, rate = sf.read(path, dtype="int16")
    assert rate == SAMPLE_RATE and sf.info(str(path)).subtype == "PCM_16"
    np.testing.assert_array_equal(written, expected)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_stream_writes_lossy_formats(tmp_path, fmt: str) -> None:
    path = write_audio_stream(tmp_path / "x.bin", (tone(0.5) for _ in range(3)), SAMPLE_RATE, fmt)
    data, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE and sf.info(str(path)).format == fmt.upper()
    assert abs(len(data) - 3 * len(tone(0.5))) <= 3 * 1152  # mp3 pads by up to a few frames


def test_stream_writes_an_iter_join(tmp_path) -> None:
    clips = [tone(0.3), tone(0.2, hz=220.0), tone(0.4)]
    path = write_audio_stream(tmp_path / "j.wav", iter_join(iter(clips), SAMPLE_RATE, 0.1, 0.02), SAMPLE_RATE, "wav")
    whole, _ = sf.read(io.BytesIO(encode_audio(join_segments(clips, SAMPLE_RATE, 0.1, 0.02), SAMPLE_RATE, "wav")))
    np.testing.assert_array_equal(sf.read(path)[0], whole)


def test_stream_failure_leaves_the_old_file(tmp_path) -> None:
    path = tmp_path / "take.wav"
    path.write_bytes(b"old")

    def failing():
        yield tone(0.2)
        raise RuntimeError("generation failed")

    with pytest.raises(RuntimeError, match="generation failed"):
        write_audio_stream(path, failing(), SAMPLE_RATE, "wav")
    with pytest.raises(InputError, match="chunk 1 must be mono"):
        write_audio_stream(path, [tone(0.1), np.zeros((3, 2), np.float32)], SAMPLE_RATE, "flac")
    for empty in ([], [np.zeros(0, np.float32)] * 3):
        with pytest.raises(InputError, match="empty"):
            write_audio_stream(path, empty, SAMPLE_RATE, "flac")
    with pytest.raises(InputError, match="wav, flac, ogg, mp3"):
        write_audio_stream(path, [tone(0.1)], SAMPLE_RATE, "aac")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["take.wav"]
    write_audio_stream(path, [tone(0.1)], SAMPLE_RATE, "wav")
    assert sf.info(str(path)).frames == len(tone(0.1))  # a successful write replaces it

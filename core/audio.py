"""Audio on the output side: joining segment clips, encoding to file formats, writing files.

Audio is mono float32 in [-1, 1], shape (samples,); rates are in Hz, durations in seconds.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import InputError
from .fileio import atomic_write_bytes

AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3")

# format -> (libsndfile container, subtype)
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def _check_rate(sample_rate: int) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise InputError(f"sample_rate must be a whole number of Hz above 0, got {sample_rate!r}")


def _check_seconds(name: str, value: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise InputError(f"{name} must be a number of seconds, 0 or more; got {value!r}")


def _as_mono(audio: np.ndarray, what: str) -> np.ndarray:
    """`audio` as a float32 array of shape (samples,); InputError for any other shape."""
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim != 1:
        raise InputError(f"{what} must be mono audio of shape (samples,), got shape {array.shape}")
    return array


def join_segments(
    pieces: list[np.ndarray], sample_rate: int, silence_s: float = 0.0, crossfade_s: float = 0.0
) -> np.ndarray:
    """Concatenate mono clips with `silence_s` seconds of silence between consecutive clips.

    With crossfade_s > 0, neighbouring parts (clip, silence, clip, ...) overlap by up to
    `crossfade_s` seconds with equal-gain linear fades, never longer than half the shorter of
    the two parts. Returns float32 of shape (samples,): the sum of the part lengths minus the
    overlaps. An empty list gives an empty array.
    """
    _check_rate(sample_rate)
    _check_seconds("silence_s", silence_s)
    _check_seconds("crossfade_s", crossfade_s)
    clips = [_as_mono(p, f"clip {i}") for i, p in enumerate(pieces)]
    parts = _interleave_silence(clips, round(silence_s * sample_rate))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    fade = round(crossfade_s * sample_rate)
    overlaps = [min(fade, len(a) // 2, len(b) // 2) for a, b in itertools.pairwise(parts)]
    return _overlap_add(parts, overlaps)


def _interleave_silence(clips: list[np.ndarray], silence: int) -> list[np.ndarray]:
    """clip, silence, clip, ... with `silence` zero samples between consecutive clips."""
    if silence <= 0 or len(clips) < 2:
        return clips
    gap = np.zeros(silence, dtype=np.float32)
    parts = [clips[0]]
    for clip in clips[1:]:
        parts += [gap, clip]
    return parts


def _overlap_add(parts: list[np.ndarray], overlaps: list[int]) -> np.ndarray:
    """Lay parts end to end, part i+1 starting overlaps[i] samples before part i ends, fades summed."""
    total = sum(len(p) for p in parts) - sum(overlaps)
    out = np.zeros(total, dtype=np.float32)
    pos = 0
    for i, part in enumerate(parts):
        fade_in = overlaps[i - 1] if i > 0 else 0
        fade_out = overlaps[i] if i < len(overlaps) else 0
        shaped = part.copy()
        if fade_in:
            shaped[:fade_in] *= _ramp(fade_in)
        if fade_out:
            shaped[len(part) - fade_out :] *= _ramp(fade_out)[::-1]
        out[pos : pos + len(part)] += shaped
        pos += len(part) - fade_out
    return out


def _ramp(n: int) -> np.ndarray:
    """Linear fade-in gains of n samples, strictly between 0 and 1; ramp + reversed ramp == 1."""
    return (np.arange(1, n + 1, dtype=np.float32) / np.float32(n + 1)).astype(np.float32)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float samples -> int16 (clipped; NaN becomes silence), with libsndfile's scaling (x 32768, rounded
    down): what a 16-bit wav holds, and what a player is handed (Gradio would convert, with a warning)."""
    samples = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float64), nan=0.0), -1.0, 1.0)
    return np.clip(np.floor(samples * 32768.0), -32768, 32767).astype(np.int16)


def check_format(fmt: str) -> str:
    """The canonical name of an output format this machine can write (InputError otherwise)."""
    name = fmt.lower().lstrip(".") if isinstance(fmt, str) else fmt
    if name not in AUDIO_FORMATS:
        raise InputError(f"audio format must be one of {', '.join(AUDIO_FORMATS)}; got {fmt!r}")
    container = _SOUNDFILE_FORMATS[name][0]
    if container not in sf.available_formats():
        raise InputError(
            f"{name} is not supported by the installed libsndfile ({sf.__libsndfile_version__}); "
            "choose wav, flac or ogg, or install soundfile with libsndfile 1.1 or newer"
        )
    return name


def encode_audio(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Mono float32 audio (samples,) at `sample_rate` Hz -> the bytes of a wav/flac/ogg/mp3 file.

    Samples are clipped to [-1, 1] (NaN becomes silence); empty audio is an InputError.
    wav and flac are 16-bit PCM, ogg is Vorbis, mp3 is MPEG layer III.
    """
    name = check_format(fmt)
    _check_rate(sample_rate)
    samples = _as_mono(audio, "audio")
    if samples.size == 0:  # flac and mp3 would give a zero-byte, unreadable file
        raise InputError("the audio is empty (0 samples); there is nothing to encode")
    samples = np.clip(np.nan_to_num(samples, nan=0.0), -1.0, 1.0)
    container, subtype = _SOUNDFILE_FORMATS[name]
    buffer = io.BytesIO()
    sf.write(buffer, samples, int(sample_rate), format=container, subtype=subtype)
    return buffer.getvalue()


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, fmt: str | None = None) -> Path:
    """Encode `audio` and write it to `path` atomically; `fmt` defaults to the path's suffix.

    Returns the path written. A reader never sees a half-written file.
    """
    path = Path(path)
    if fmt is None:
        if not path.suffix:
            raise InputError(
                f"cannot tell the audio format of {str(path)!r}: add a suffix "
                f"({', '.join('.' + f for f in AUDIO_FORMATS)}) or pass fmt"
            )
        fmt = path.suffix
    atomic_write_bytes(path, encode_audio(audio, sample_rate, fmt))
    return path

"""Audio on the output side: joining segment clips, encoding to file formats, writing files.

Audio is mono float32 in [-1, 1], shape (samples,); rates are in Hz, durations in seconds.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf

from .errors import InputError
from .fileio import atomic_write_bytes, atomic_writer

AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3")
_T = TypeVar("_T")

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
    clips = [_as_mono(p, f"clip {i}") for i, p in enumerate(pieces)]  # every clip checked before any work
    chunks = list(iter_join(clips, sample_rate, silence_s, crossfade_s))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def iter_join(
    clips: Iterable[np.ndarray], sample_rate: int, silence_s: float = 0.0, crossfade_s: float = 0.0
) -> Iterator[np.ndarray]:
    """The samples of `join_segments(list(clips), ...)`, as float32 chunks of shape (samples,).

    `clips` is read lazily and at most two clips (and one silence) are held at a time, so an
    hour of audio can be joined and written without holding it whole. The arguments are checked
    here; each clip when it is read. Empty chunks are not yielded.
    """
    _check_rate(sample_rate)
    _check_seconds("silence_s", silence_s)
    _check_seconds("crossfade_s", crossfade_s)
    mono = (_as_mono(clip, f"clip {i}") for i, clip in enumerate(clips))
    silence = round(silence_s * sample_rate)
    parts = _interleave(mono, np.zeros(silence, dtype=np.float32) if silence > 0 else None)
    return _overlap_add(parts, round(crossfade_s * sample_rate))


def clip_spans(
    lengths: Sequence[int], sample_rate: int, silence_s: float = 0.0, crossfade_s: float = 0.0
) -> list[tuple[int, int]]:
    """(start, end) sample offsets (end exclusive) of each clip within the output of
    `join_segments` for clips of these lengths (in samples), with the same silence and fades.

    With crossfades, neighbouring spans overlap (a clip's fade-out is the next part's fade-in).
    """
    _check_rate(sample_rate)
    _check_seconds("silence_s", silence_s)
    _check_seconds("crossfade_s", crossfade_s)
    for i, n in enumerate(lengths):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise InputError(f"clip {i}'s length must be a whole number of samples, 0 or more; got {n!r}")
    silence, fade = round(silence_s * sample_rate), round(crossfade_s * sample_rate)
    parts = list(_interleave((int(n) for n in lengths), silence if silence > 0 else None))
    starts = [0]
    for a, b in itertools.pairwise(parts):
        starts.append(starts[-1] + a - _overlap(a, b, fade))
    step = 2 if silence > 0 else 1  # clips are every other part when silences lie between them
    return [(starts[i], starts[i] + parts[i]) for i in range(0, len(parts), step)]


def _overlap(a: int, b: int, fade: int) -> int:
    """Samples by which neighbouring parts of a and b samples overlap: `fade`, at most half the shorter."""
    return min(fade, a // 2, b // 2)


def _interleave(items: Iterable[_T], gap: _T | None) -> Iterator[_T]:
    """The items with `gap` between consecutive ones (none when gap is None): clip, silence, clip, ..."""
    for i, item in enumerate(items):
        if i and gap is not None:
            yield gap
        yield item


def _overlap_add(parts: Iterator[np.ndarray], fade: int) -> Iterator[np.ndarray]:
    """Lay parts end to end, each next part starting `_overlap` samples before the last one ends,
    fades summed. Yields each part's samples less the tail that the next part's start is added to."""
    tail = np.zeros(0, dtype=np.float32)  # the faded end of the part before, overlapping this part's start
    part = next(parts, None)
    while part is not None:
        following = next(parts, None)
        n = len(part)
        fade_out = 0 if following is None else _overlap(n, len(following), fade)
        shaped, part = part.copy(), following  # from here on, two parts are held: this one shaped, the next
        if len(tail):
            shaped[: len(tail)] *= _ramp(len(tail))
            shaped[: len(tail)] += tail
        if fade_out:
            shaped[n - fade_out :] *= _ramp(fade_out)[::-1]
        tail = shaped[n - fade_out :].copy()  # a copy: a view would hold on to the whole part
        if n > fade_out:
            yield shaped[: n - fade_out]


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
        raise InputError(_EMPTY_AUDIO)
    container, subtype = _SOUNDFILE_FORMATS[name]
    buffer = io.BytesIO()
    sf.write(buffer, _playable(samples), int(sample_rate), format=container, subtype=subtype)
    return buffer.getvalue()


_EMPTY_AUDIO = "the audio is empty (0 samples); there is nothing to encode"


def _playable(samples: np.ndarray) -> np.ndarray:
    """Samples clipped to [-1, 1], NaN made silence: what every encoder is given."""
    return np.clip(np.nan_to_num(samples, nan=0.0), -1.0, 1.0)


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


def write_audio_stream(path: str | os.PathLike, chunks: Iterable[np.ndarray], sample_rate: int, fmt: str) -> Path:
    """Encode mono float32 chunks (each of shape (samples,)) one after another into a `fmt` file at
    `path`, never holding more than one chunk: e.g. `iter_join`'s output for an hour-long export.

    The same formats and sample handling as `encode_audio` (no samples at all is an InputError). The
    file is written beside `path` under a temporary name and replaces `path` in one rename when
    done; on any exception, the chunks' own included, it is removed and `path` is untouched.
    Returns the path written.
    """
    name = check_format(fmt)
    _check_rate(sample_rate)
    samples = (_as_mono(chunk, f"chunk {i}") for i, chunk in enumerate(chunks))
    nonempty = (chunk for chunk in samples if chunk.size)
    first = next(nonempty, None)
    if first is None:  # checked before any file is made: an empty flac or mp3 would be unreadable
        raise InputError(_EMPTY_AUDIO)
    container, subtype = _SOUNDFILE_FORMATS[name]
    path = Path(path)
    with (
        atomic_writer(path) as f,
        sf.SoundFile(f, "w", int(sample_rate), 1, subtype, format=container) as out,
    ):
        for chunk in itertools.chain([first], nonempty):
            out.write(_playable(chunk))
    return path

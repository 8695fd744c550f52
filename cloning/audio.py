"""The clip side of cloning: read any audio, mix to mono, resample, trim, level, and pick where to cut.

Times are measured in 40 ms blocks: 960 samples at 24 kHz (three EnCodec frames) and 640 samples at
16 kHz (two HuBERT frames). Cutting only at block edges keeps the semantic and coarse token
counts of every cut in Bark's 1.5 ratio. Silence and pauses are found on 20 ms frames.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from core.constants import SAMPLE_RATE
from core.errors import InputError

HUBERT_RATE = 16_000
CODEC_RATE = SAMPLE_RATE  # 24 kHz
BLOCK_S = 0.04
BLOCK = {CODEC_RATE: 960, HUBERT_RATE: 640}  # samples per block
FRAME = 480  # 20 ms at 24 kHz: the unit of the level analysis

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_SOURCE_SECONDS = 600.0  # only the last stretch is used; an hour of audio is surely a mistake
MIN_SECONDS = 1.0
MIN_VARIANT_SECONDS = 2.0  # an earlier end point must leave at least this much speech
MIN_VARIANT_GAP_S = 0.5  # between the end points of two variants
MIN_PAUSE_S = 0.16
SILENT_DBFS = -60.0  # a clip whose loudest 20 ms is below this is silence
QUIET_BELOW_SPEECH_DB = 35.0  # a frame this far below the speech level is quiet ...
NOISE_MARGIN_DB = 6.0  # ... unless the noise floor is higher: then this far above the floor ...
MIN_SPEECH_RANGE_DB = 20.0  # ... but never closer than this to the speech level
TRIM_MARGIN_S = (0.1, 0.2)  # silence kept before the first and after the last sound
TARGET_SPEECH_DBFS = -20.0
MAX_PEAK = 10 ** (-1 / 20)  # -1 dBFS after normalising
CLIPPED_LEVEL = 0.99
CLIPPED_SHARE = 5e-4  # warn when more than 0.05% of samples sit at full scale

SUPPORTED = "wav, flac, ogg (vorbis or opus) or mp3"


@dataclass(frozen=True, eq=False)
class SourceAudio:
    """A decoded clip before preparation."""

    samples: np.ndarray  # (N, C) float32
    rate: int  # Hz
    name: str  # file name (or what the caller calls it)
    sha256: str  # of the file's bytes, or of the array's bytes

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True, eq=False)
class PreparedClip:
    """The prepared clip at both rates, cut to whole blocks."""

    audio16: np.ndarray  # (640 * B,) float32 at 16 kHz
    audio24: np.ndarray  # (960 * B,) float32 at 24 kHz
    pauses: tuple[int, ...]  # block indices of the middles of pauses, ascending
    offset: int  # blocks of the source before the first kept block (trimmed)
    notes: tuple[str, ...]  # what preparation did, in words

    @property
    def blocks(self) -> int:
        return len(self.audio24) // BLOCK[CODEC_RATE]


@dataclass(frozen=True)
class Window:
    """A stretch [start, end) of a prepared clip, in blocks."""

    start: int
    end: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start) * BLOCK_S

    def cut(self, clip: PreparedClip, rate: int) -> np.ndarray:
        audio = clip.audio24 if rate == CODEC_RATE else clip.audio16
        return audio[self.start * BLOCK[rate] : self.end * BLOCK[rate]]


# Reading


def read_audio(source, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> SourceAudio:
    """A file path (any format soundfile reads) or an (array, rate) pair, as (N, C) float32."""
    if isinstance(source, tuple):
        if len(source) != 2:
            raise InputError("audio given as a tuple must be (samples, sample_rate)")
        array, rate = np.asarray(source[0]), source[1]
        samples = _from_array(array)
        rate = _check_rate(rate)
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        result = SourceAudio(samples, rate, name or "array", digest)
    elif isinstance(source, str | Path):
        label = name or Path(source).name  # an upload's own name, not the temporary file's
        data = _read_bytes(Path(source).expanduser(), max_bytes, label)
        samples, rate = _decode(data, label)
        result = SourceAudio(samples, rate, label, hashlib.sha256(data).hexdigest())
    else:
        raise InputError(f"audio must be a file path or (samples, sample_rate), got {type(source).__name__}")
    _check_duration(result.seconds, result.name)
    if not np.isfinite(result.samples).all():
        raise InputError(f"{result.name} holds NaN or infinite samples; it is not usable audio")
    return result


def _read_bytes(path: Path, max_bytes: int, label: str) -> bytes:
    """The file's bytes; a missing file, a folder, a device or a pipe is refused before it is opened,
    and so is a file over `max_bytes`."""
    if not path.is_file():
        raise InputError(f"no audio file at {path}; check the path")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{label} is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB. "
            "Cut the clip to 5-15 s of one speaker, or save it compressed (flac, ogg, mp3)"
        )
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{label} cannot be read ({e.strerror or e})") from e


def _decode(data: bytes, name: str) -> tuple[np.ndarray, int]:
    if not data:
        raise InputError(f"{name} is empty (0 bytes); record or export the clip again")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            seconds, rate = f.frames / f.samplerate, f.samplerate
            # Decode only what will be kept, not an hour of audio into memory.
            samples = f.read(dtype="float32", always_2d=True) if seconds <= MAX_SOURCE_SECONDS else None
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise InputError(f"{name} cannot be read as audio: {_what_it_is(data, e)}. Use {SUPPORTED}") from e
    _check_duration(seconds, name)
    if samples.size == 0:
        raise InputError(f"{name} holds no audio samples; record or export the clip again")
    return samples, int(rate)


def _check_duration(seconds: float, name: str) -> None:
    if seconds > MAX_SOURCE_SECONDS:
        raise InputError(
            f"{name} is {seconds / 60:.1f} minutes long; cut it to under {MAX_SOURCE_SECONDS / 60:.0f} minutes "
            "(5-15 s of one speaker is best: only the end is used)"
        )


def _what_it_is(data: bytes, error: Exception) -> str:
    head = data[:64]
    if head[4:8] == b"ftyp":
        return "it is an MP4/M4A/AAC file, which is not supported"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "it is a WebM/Matroska file, which is not supported"
    text = data[:512].decode("utf-8", "replace").rstrip("\ufffd")  # a character cut at 512 bytes is fine
    if text and "\ufffd" not in text and all(c.isprintable() or c.isspace() for c in text):
        return "it is a text file, not audio"
    detail = str(error).split(":")[-1].strip() or type(error).__name__
    return f"the file is damaged or of an unsupported kind ({detail})"


def _from_array(array) -> np.ndarray:
    """(N,), (N, C) or (C, N) with C <= 8 < N; ints are scaled to [-1, 1]. Returns (N, C) float32."""
    array = np.asarray(array)
    if array.dtype.kind not in "iuf" or array.ndim not in (1, 2) or array.size == 0:
        raise InputError(
            f"audio samples must be a non-empty int or float array of shape (samples,) or (samples, channels), "
            f"got dtype {array.dtype} and shape {array.shape}"
        )
    if array.ndim == 1:
        array = array[:, None]
    elif array.shape[0] <= 8 < array.shape[1]:
        array = array.T  # (channels, samples), as torchaudio gives it
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    info = np.iinfo(array.dtype)
    middle = (info.max + 1) / 2 if array.dtype.kind == "u" else 0.0
    scale = (info.max + 1) / 2 if array.dtype.kind == "u" else -float(info.min)
    return ((array.astype(np.float64) - middle) / scale).astype(np.float32)


def _check_rate(rate) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or not 1000 <= rate <= 384_000:
        raise InputError(f"the sample rate must be a whole number of Hz from 1000 to 384000, got {rate!r}")
    return int(rate)


# Preparation


def prepare(source: SourceAudio, *, trim: bool, normalize: bool) -> PreparedClip:
    """Mono, both rates, trimmed to the sound and levelled as asked; silence or too little sound is refused."""
    notes = []
    if _clipped(source.samples):
        notes.append("the recording is clipped (distorted at full scale) in places; a quieter take clones better")
    mono = source.samples.mean(axis=1)
    audio24 = soxr.resample(mono, source.rate, CODEC_RATE, quality="HQ").astype(np.float32)
    audio16 = soxr.resample(mono, source.rate, HUBERT_RATE, quality="HQ").astype(np.float32)
    levels = frame_levels(audio24)
    quiet = levels < _quiet_threshold(levels, source.name)
    blocks = min(len(audio24) // BLOCK[CODEC_RATE], len(audio16) // BLOCK[HUBERT_RATE])
    start, end = _sound_blocks(quiet, blocks) if trim else (0, blocks)
    trimmed = (blocks - (end - start)) * BLOCK_S
    if trimmed >= 0.05:
        notes.append(f"trimmed {trimmed:.1f} s of silence")
    if (end - start) * BLOCK_S < MIN_SECONDS:
        raise InputError(
            f"{source.name} has only {(end - start) * BLOCK_S:.1f} s of sound; cloning needs at least "
            f"{MIN_SECONDS:.0f} s, and 5-15 s of one speaker works best"
        )
    audio16 = audio16[start * BLOCK[HUBERT_RATE] : end * BLOCK[HUBERT_RATE]]
    audio24 = audio24[start * BLOCK[CODEC_RATE] : end * BLOCK[CODEC_RATE]]
    if normalize:
        gain = _normalising_gain(audio24, levels[2 * start : 2 * end], quiet[2 * start : 2 * end])
        audio16, audio24 = audio16 * gain, audio24 * gain
        if abs(20 * math.log10(gain)) >= 0.5:
            notes.append(f"normalised the level ({20 * math.log10(gain):+.1f} dB)")
    pauses = tuple(p - start for p in find_pauses(quiet) if start < p < end)
    return PreparedClip(audio16, audio24, pauses, start, tuple(notes))


def frame_levels(audio: np.ndarray) -> np.ndarray:
    """dBFS (RMS) of each 20 ms frame of 24 kHz audio: (ceil(N / 480),)."""
    padded = np.pad(audio, (0, -len(audio) % FRAME))
    power = np.mean(padded.reshape(-1, FRAME).astype(np.float64) ** 2, axis=1)
    return 10 * np.log10(power + 1e-12)


def _quiet_threshold(levels: np.ndarray, name: str) -> float:
    """Frames below this level (dBFS) are quiet: well under the speech, and above the noise floor."""
    if levels.size == 0 or levels.max() < SILENT_DBFS:
        loudest = levels.max() if levels.size else -120.0
        raise InputError(
            f"{name} is silent (its loudest moment is {loudest:.0f} dBFS); record the voice closer or louder"
        )
    # The loud vowels: a single click does not count, a short word in a long silence does.
    speech = max(float(np.percentile(levels, 98)), float(levels.max()) - MIN_SPEECH_RANGE_DB)
    floor = float(np.percentile(levels, 10))
    return min(max(speech - QUIET_BELOW_SPEECH_DB, floor + NOISE_MARGIN_DB), speech - MIN_SPEECH_RANGE_DB)


def _sound_blocks(quiet: np.ndarray, blocks: int) -> tuple[int, int]:
    """[start, end) blocks from just before the first loud frame to just after the last."""
    loud = np.flatnonzero(~quiet)
    before, after = (round(m / 0.02) for m in TRIM_MARGIN_S)
    start = max(0, int(loud[0]) - before) // 2
    end = min(blocks, -(-(int(loud[-1]) + 1 + after) // 2))
    return start, max(end, start)


def find_pauses(quiet: np.ndarray) -> list[int]:
    """Middles (in blocks) of the runs of quiet frames at least MIN_PAUSE_S long, inside the clip."""
    pauses = []
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if (last - first) * 0.02 >= MIN_PAUSE_S and first > 0 and last < len(quiet):
            pauses.append(int(first + last) // 4)  # frame middle -> block
    return pauses


def _normalising_gain(audio: np.ndarray, levels: np.ndarray, quiet: np.ndarray) -> float:
    """Gain that brings the speech frames to TARGET_SPEECH_DBFS, without the peak passing -1 dBFS."""
    speech = levels[~quiet] if (~quiet).any() else levels
    speech_dbfs = 10 * np.log10(np.mean(10 ** (speech / 10)))
    gain = 10 ** ((TARGET_SPEECH_DBFS - speech_dbfs) / 20)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return float(min(gain, MAX_PEAK / peak)) if peak > 0 else 1.0


def _clipped(samples: np.ndarray) -> bool:
    at_full_scale = np.abs(samples) >= CLIPPED_LEVEL
    return int(at_full_scale.sum()) >= max(10, CLIPPED_SHARE * samples.size)


# Where to cut


def choose_windows(clip: PreparedClip, max_seconds: float, count: int) -> tuple[list[Window], list[str]]:
    """Up to `count` stretches of at most `max_seconds`: the first ends at the clip's end, the others
    at earlier pauses. Each starts at a pause where one is in reach. Returns (windows, notes)."""
    longest = round(max_seconds / BLOCK_S)
    ends = _variant_ends(clip, count)
    windows = [_window_ending_at(end, clip.pauses, longest) for end in ends]
    notes = []
    if windows[0].start > 0:
        at_pause = ", from a pause" if windows[0].start in clip.pauses else ""
        notes.append(
            f"kept the last {windows[0].seconds:.1f} s of {clip.blocks * BLOCK_S:.1f} s{at_pause} "
            f"(at most {max_seconds:g} s; Bark uses only the end of a voice prompt)"
        )
    if len(windows) < count:
        notes.append(f"made {len(windows)} of the {count} variants asked for: the clip has too few pauses to end at")
    return windows, notes


def _variant_ends(clip: PreparedClip, count: int) -> list[int]:
    ends = [clip.blocks]
    for pause in reversed(clip.pauses):
        if len(ends) == count:
            break
        if pause * BLOCK_S >= MIN_VARIANT_SECONDS and (ends[-1] - pause) * BLOCK_S >= MIN_VARIANT_GAP_S:
            ends.append(pause)
    return ends


def _window_ending_at(end: int, pauses: tuple[int, ...], longest: int) -> Window:
    """The longest stretch ending at `end` that fits, starting at the earliest pause it can."""
    earliest = max(0, end - longest)
    if earliest == 0:
        return Window(0, end)
    latest_start = end - round(MIN_VARIANT_SECONDS / BLOCK_S)
    start = next((p for p in pauses if earliest <= p <= latest_start), earliest)
    return Window(start, end)

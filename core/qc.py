"""Cheap quality checks of one take (one generated segment), each finding explained in words.

A take is flagged when its text was longer than Bark reads (the end was not spoken), when its
length does not fit its text (Bark rambles on, or stops short), when it used every semantic token
it could, when it falls silent in the middle, clips, or is nearly silent throughout. Levels are in
dBFS: 20 log10 of the RMS, full scale 1.0 (a full-scale sine is -3 dBFS). Everything is O(samples) numpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .constants import CHARS_PER_SECOND, TEXT_CONTEXT
from .errors import InputError

QC_CODES = ("text_cut", "too_long", "too_short", "length_cap", "silence_gap", "clipping", "quiet")
TEXT_CODES = ("text_cut",)  # findings about the text itself: another take of the same text has them too

TOO_LONG_FACTOR = 2.5  # too_long: longer than this times the expected duration ...
TOO_LONG_SLACK_S = 2.0  # ... plus this many seconds
TOO_SHORT_FACTOR = 0.4  # too_short: shorter than this times the expected duration ...
TOO_SHORT_SLACK_S = 1.0  # ... minus this many seconds,
TOO_SHORT_MIN_EXPECTED_S = 2.0  # for texts expected to last longer than this
FRAME_S = 0.02  # silence is measured on frames of this length
SILENT_FRAME_DBFS = -40.0  # a frame quieter than this is silent
SILENCE_GAP_S = 1.5  # an inner silence at least this long is a gap
CLIP_LEVEL = 0.999  # |sample| at or above this is at full scale
CLIP_FRACTION = 0.001  # clipping: more than this fraction of samples at full scale
QUIET_DBFS = -45.0  # quiet: the whole take's level below this

_TAG = re.compile(r"\[[^\[\]\n]{1,40}\]")  # Bark's [laughs], [music], ... are not spoken characters


@dataclass(frozen=True)
class Flag:
    """One finding: `code` is one of QC_CODES; `message` says, with numbers, what was found and what it likely means."""

    code: str
    message: str


def check_take(
    text: str, audio: np.ndarray, sample_rate: int, semantic_tokens: int, token_cap: int, *, text_tokens: int
) -> tuple[Flag, ...]:
    """The flags of one take, in the order of QC_CODES; () for a take that looks fine.

    text: the segment's text. audio: its mono float32 samples, shape (samples,), at `sample_rate` Hz.
    semantic_tokens: how many semantic tokens the take has; token_cap: the most it could have had
    (at token_cap - 1 or more it hit the cap). text_tokens: the text's BERT tokens (Bark reads
    TEXT_CONTEXT of them). Empty audio is flagged too_short.
    """
    samples = _checked(audio, sample_rate, semantic_tokens, token_cap, text_tokens)
    flags = []
    cut = text_cut(text_tokens)
    if cut:
        flags.append(Flag("text_cut", f"{cut} (split the segment)"))
    flags += _length_flags(text, len(samples) / sample_rate)
    if semantic_tokens >= token_cap - 1:
        flags.append(
            Flag(
                "length_cap",
                f"{semantic_tokens} semantic tokens of at most {token_cap}: the take ran to the length cap "
                "(likely rambling, or cut off mid-sentence)",
            )
        )
    if samples.size:
        flags += _level_flags(samples, sample_rate)
    return tuple(sorted(flags, key=lambda flag: QC_CODES.index(flag.code)))


def text_cut(text_tokens: int) -> str | None:
    """What is wrong with a text of `text_tokens` BERT tokens, in words; None if Bark reads all of it."""
    if text_tokens <= TEXT_CONTEXT:
        return None
    return f"{text_tokens} text tokens: Bark reads only the first {TEXT_CONTEXT}, so the end of the text was not spoken"


def _spoken_chars(text: str) -> int:
    """Characters Bark speaks in `text`: without [tags] and ♪, whitespace runs counted as one space."""
    return len(" ".join(_TAG.sub(" ", text).replace("♪", " ").split()))


def _checked(audio: np.ndarray, sample_rate: int, semantic_tokens: int, token_cap: int, text_tokens: int) -> np.ndarray:
    """The take's samples as float32 (samples,), NaN made silence; InputError for bad arguments."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise InputError(f"sample_rate must be a whole number of Hz above 0, got {sample_rate!r}")
    counts = (("semantic_tokens", semantic_tokens), ("token_cap", token_cap), ("text_tokens", text_tokens))
    for name, value in counts:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise InputError(f"{name} must be a whole number, 0 or more; got {value!r}")
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise InputError(f"audio must be mono audio of shape (samples,), got shape {samples.shape}")
    return np.nan_to_num(samples, nan=0.0)


def _length_flags(text: str, duration: float) -> list[Flag]:
    chars = _spoken_chars(text)
    expected = chars / CHARS_PER_SECOND
    found = f"{duration:.1f} s for {chars} characters: about {expected:.1f} s expected"
    if duration == 0:
        return [Flag("too_short", f"the take is empty (0 samples) for {chars} characters (likely a failed take)")]
    if duration > TOO_LONG_FACTOR * expected + TOO_LONG_SLACK_S:
        return [Flag("too_long", f"{found} (likely rambling, or noise after the speech)")]
    if expected > TOO_SHORT_MIN_EXPECTED_S and duration < TOO_SHORT_FACTOR * expected - TOO_SHORT_SLACK_S:
        return [Flag("too_short", f"{found} (likely words skipped, or stopped early)")]
    return []


def _level_flags(samples: np.ndarray, sample_rate: int) -> list[Flag]:
    flags = []
    full_scale = float(np.mean(np.abs(samples) >= CLIP_LEVEL))
    if full_scale > CLIP_FRACTION:
        flags.append(
            Flag(
                "clipping",
                f"{full_scale:.1%} of samples at full scale (|x| >= {CLIP_LEVEL}), more than {CLIP_FRACTION:.1%} "
                "(likely distorted)",
            )
        )
    level = _dbfs(float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))
    if level < QUIET_DBFS:
        found = "every sample is 0" if level == -np.inf else f"overall level {level:.1f} dBFS"
        flags.append(Flag("quiet", f"{found}, under {QUIET_DBFS:g} dBFS (likely near silence, no speech)"))
    else:
        flags += _gap_flags(samples, sample_rate)
    return flags


def _gap_flags(samples: np.ndarray, sample_rate: int) -> list[Flag]:
    """A silence_gap flag for the inner silences (not at either end) of SILENCE_GAP_S or more."""
    frame = max(1, round(FRAME_S * sample_rate))
    silent = _frame_dbfs(samples, frame) < SILENT_FRAME_DBFS
    edges = np.flatnonzero(np.diff(np.r_[0, silent.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]  # runs of silent frames: [start, end) in frames
    inner = (starts > 0) & (ends < len(silent))
    gaps = (ends - starts)[inner] * frame / sample_rate
    gaps_at = starts[inner] * frame / sample_rate
    long = gaps >= SILENCE_GAP_S
    if not long.any():
        return []
    longest = int(np.argmax(gaps))
    where = f"{gaps[longest]:.1f} s at {gaps_at[longest]:.1f} s"
    count = int(long.sum())
    found = (
        f"a silence of {where} inside the take"
        if count == 1
        else f"{count} silences of {SILENCE_GAP_S:g} s or more inside the take, the longest {where}"
    )
    return [Flag("silence_gap", f"{found} (below {SILENT_FRAME_DBFS:g} dBFS; likely a stall, or words missing)")]


def _frame_dbfs(samples: np.ndarray, frame: int) -> np.ndarray:
    """The level of each `frame`-sample frame in dBFS, shape (ceil(samples / frame),); the last may be shorter."""
    whole = len(samples) // frame * frame
    squares = np.square(samples, dtype=np.float64)
    means = squares[:whole].reshape(-1, frame).mean(axis=1)
    if whole < len(samples):
        means = np.r_[means, squares[whole:].mean()]
    return _dbfs(np.sqrt(means))


def _dbfs(rms: float | np.ndarray) -> float | np.ndarray:
    """RMS (full scale 1.0) -> dBFS; silence is -inf."""
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(rms)

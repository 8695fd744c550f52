"""Cues (what is said, from when to when) -> the text of an SRT or a WebVTT subtitle file.

A cue is written as one line: newlines and other whitespace runs in its text become single
spaces (a blank line would end the cue), and "-->" becomes "→" (it is what marks a timing line).
Times are rounded to the millisecond; hours have at least two digits, more past 99.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InputError

SUBTITLE_FORMATS = ("srt", "vtt")


@dataclass(frozen=True)
class Cue:
    """`text` (said by `speaker`, when known) shown from `start_s` to `end_s`, in seconds from the start."""

    start_s: float
    end_s: float
    text: str
    speaker: str | None = None

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0:
                raise InputError(f"a cue's {name} must be a number of seconds, 0 or more; got {value!r}")
        if not isinstance(self.text, str) or not isinstance(self.speaker, str | None):
            raise InputError(f"a cue's text and speaker must be strings; got {self.text!r} and {self.speaker!r}")
        if self.end_s < self.start_s:
            raise InputError(f"a cue ends ({self.end_s} s) before it starts ({self.start_s} s)")


def to_srt(cues: Iterable[Cue]) -> str:
    """SubRip: cues numbered from 1, "HH:MM:SS,mmm --> HH:MM:SS,mmm", then "Speaker: text".

    Cues whose text is empty (once whitespace is collapsed) are left out; "" for no cues."""
    blocks = []
    for cue in cues:
        text, speaker = _one_line(cue.text), _one_line(cue.speaker)
        if text:
            shown = f"{speaker}: {text}" if speaker else text
            blocks.append(f"{len(blocks) + 1}\n{_timing(cue, ',')}\n{shown}\n")
    return "\n".join(blocks)


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT: a "WEBVTT" header, then "HH:MM:SS.mmm --> HH:MM:SS.mmm" and "<v Speaker>text" per cue
    (& < > escaped; a speaker's trailing "-" dropped). Cues whose text is empty are left out."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        # a name ending in "--" would make "-->" with the voice tag's ">"
        text, speaker = _escape(_one_line(cue.text)), _escape(_one_line(cue.speaker).rstrip("-"))
        if text:
            voice = f"<v {speaker}>" if speaker else ""
            blocks.append(f"{_timing(cue, '.')}\n{voice}{text}\n")
    return "\n".join(blocks)


def subtitles(cues: Iterable[Cue], fmt: str) -> str:
    """The cues as the text of a subtitle file in `fmt`, one of SUBTITLE_FORMATS ("SRT", ".vtt" work too)."""
    name = fmt.lower().lstrip(".") if isinstance(fmt, str) else fmt
    if name == "srt":
        return to_srt(cues)
    if name == "vtt":
        return to_vtt(cues)
    raise InputError(f"subtitle format must be one of {', '.join(SUBTITLE_FORMATS)}; got {fmt!r}")


def _one_line(text: str | None) -> str:
    """Whitespace runs (newlines too) made single spaces, stripped; "-->" made "→"."""
    return " ".join((text or "").split()).replace("-->", "→")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timing(cue: Cue, decimal: str) -> str:
    return f"{_timestamp(cue.start_s, decimal)} --> {_timestamp(cue.end_s, decimal)}"


def _timestamp(seconds: float, decimal: str) -> str:
    """Seconds -> "HH:MM:SS" + decimal + "mmm", rounded to the millisecond."""
    hours, ms = divmod(round(seconds * 1000), 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"

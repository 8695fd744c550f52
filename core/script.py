"""Text -> the lines of a script: who says what, and where sections begin.

A script labels each turn at the start of a line, `Alice: text` or `[Alice] text`; unlabelled
lines after a label continue that turn, and text before the first label is narration (no
speaker). A line that is only a heading, `# Title` (1 to 3 `#`), starts a section and is not
spoken. Plain text (no labels) with no headings is one line: the text itself, stripped.

Lines are separated by "\\n" (a "\\r" before it is whitespace and stripped with the rest).
Every regex here is anchored at a line's start and has no nested quantifiers: linear in the text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import regex

from .errors import InputError

DIALOGUE_MODES = ("auto", "on", "off")
MIN_SCRIPT_LABELS = 2  # mode "auto": a text is a script when at least this many lines are labelled
MAX_NAME_CHARS = 32
MAX_NAME_WORDS = 4
# Bark's documented non-speech tags: `[laughs]` is a sound, not a speaker called Laughs.
BARK_TAGS = frozenset(("laughter", "laughs", "sighs", "music", "gasps", "clears throat", "man", "woman"))

# A name starts with a letter (any script) and holds letters with their marks, digits, spaces and . ' ’ - _;
# the class is bounded (a little over MAX_NAME_CHARS, for spacing that normalising collapses).
_NAME = r"(?P<name>\p{L}[\p{L}\p{M}\p{Nd} \t.'’\-_]{0,47})"
_COLON_LABEL = regex.compile(rf"\s*{_NAME}:(?=\s|$)(?P<rest>.*)", regex.DOTALL)
_BRACKET_LABEL = regex.compile(rf"\s*\[{_NAME}\]:?(?P<rest>.*)", regex.DOTALL)
_HEADING = regex.compile(r"\s*#{1,3}[ \t]+(?P<title>\S.*)", regex.DOTALL)


@dataclass(frozen=True)
class ScriptLine:
    """One turn of a script, or a stretch of narration.

    text: what is spoken, the speaker label removed, stripped; the physical lines of one turn
        joined by "\\n" (blank lines among them kept).
    speaker: who speaks it, as first spelt in the text; None for narration and plain text.
    section: the title of the section this line starts (from a heading just before it), else None.
    """

    text: str
    speaker: str | None
    section: str | None


def parse_script(text: str, dialogue: str = "auto") -> list[ScriptLine]:
    """The lines of `text`, in order; [] when nothing in it is spoken.

    dialogue: "on" reads every speaker label as one, "off" reads none (labels stay text), "auto"
    reads them when at least MIN_SCRIPT_LABELS lines are labelled (a lone "Note: ..." stays prose).
    Headings start sections in every mode; a heading with no text before the next heading (or
    the end) gives no line, and the next heading's title is the one a line carries.
    Names are compared ignoring case and spacing ("alice" is Alice).
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    if dialogue not in DIALOGUE_MODES:
        raise InputError(f"dialogue must be one of {', '.join(DIALOGUE_MODES)}; got {dialogue!r}", "dialogue")
    rows = text.split("\n")
    titles = [_heading(row) for row in rows]
    labels = [
        None if title is not None or dialogue == "off" else _label(row) for row, title in zip(rows, titles, strict=True)
    ]
    if dialogue == "auto" and sum(label is not None for label in labels) < MIN_SCRIPT_LABELS:
        labels = [None] * len(rows)
    return _assemble(rows, titles, labels)


def _assemble(rows: list[str], titles: list[str | None], labels: list[tuple[str, str] | None]) -> list[ScriptLine]:
    """Group rows into turns: a label or a heading ends the turn before it."""
    names = _Names()
    out: list[ScriptLine] = []
    section: str | None = None  # a heading's title not yet given to a line
    speaker: str | None = None
    body: list[str] = []
    for row, title, label in zip(rows, titles, labels, strict=True):
        if title is None and label is None:
            body.append(row)
            continue
        section = _emit(out, body, speaker, section)
        if title is not None:  # what follows a heading, until a label, is narration
            section, speaker, body = title, None, []
        else:
            speaker, body = names.canonical(label[0]), [label[1]]
    _emit(out, body, speaker, section)
    return out


def _emit(out: list[ScriptLine], body: list[str], speaker: str | None, section: str | None) -> str | None:
    """Append the turn of these rows when it says anything; the section still to give a line."""
    spoken = "\n".join(body).strip()
    if not spoken:
        return section
    out.append(ScriptLine(spoken, speaker, section))
    return None


def _heading(row: str) -> str | None:
    """The title of a heading row ("## Part two" -> "Part two"), else None."""
    match = _HEADING.match(row)
    return _collapse(match["title"]) if match else None


def _label(row: str) -> tuple[str, str] | None:
    """(speaker name, the rest of the row) when the row starts with a speaker label, else None."""
    for pattern in (_COLON_LABEL, _BRACKET_LABEL):
        match = pattern.match(row)
        if match is None:
            continue
        name = _collapse(match["name"])
        if len(name) > MAX_NAME_CHARS or len(name.split(" ")) > MAX_NAME_WORDS:
            continue
        if pattern is _BRACKET_LABEL and name.lower() in BARK_TAGS:
            continue
        return name, match["rest"]
    return None


def _collapse(name: str) -> str:
    """Stripped, with each run of inner whitespace made one space."""
    return " ".join(name.split())


class _Names:
    """The first spelling of each speaker, by the name case-folded."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}

    def canonical(self, name: str) -> str:
        return self.first.setdefault(name.casefold(), name)


def script_speakers(lines: Iterable[ScriptLine]) -> list[str]:
    """The distinct speakers of these lines, in order of first appearance (case ignored: the first spelling)."""
    names = _Names()
    for line in lines:
        if line.speaker is not None:
            names.canonical(line.speaker)
    return list(names.first.values())

"""Long text -> segments that each fit one Bark generation.

Bark reads at most 256 text tokens and speaks about 13-15 s per generation, so long text is
split first. The segments partition the input: every character lands in exactly one segment,
and whitespace between pieces trails the segment before it. Bark's `[tags]` and `♪ ... ♪`
spans are never cut (a ♪ span longer than `max_length` may be cut at its words), and no
segment's clean text is longer than `max_length` characters.

A piece too long for its unit is split further, preferring in turn: sentence ends, clause
punctuation, word boundaries and, as a last resort, character boundaries. The pieces are then
packed greedily into segments of about `goal_length`.
"""

from __future__ import annotations

import bisect
import heapq
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import regex

from .errors import InputError
from .fields import check_fields, one_of, option, ranged

try:
    from re import _parser as _re_parser  # Python 3.11+
except ImportError:  # Python 3.10
    import sre_parse as _re_parser

SPLIT_MODES = ("sentence", "line", "word", "char", "separator", "regex", "none")
_CHAR_GOAL_MODES = ("sentence", "line", "char", "separator", "regex")  # goal_length in characters
MIN_MAX_LENGTH = 20
MAX_MAX_LENGTH = 400
MAX_JITTER = 0.5
MAX_TAG_CHARS = 40  # text inside `[...]`

# A user's pattern (mode "regex") runs in the `regex` package, whose matcher has a time budget and lets go of
# the GIL; `re` holds the GIL for as long as a backtracking pattern takes, which can be forever.
PATTERN_BUDGET_S = 1.0  # matching time for one split; honest patterns take ~1-20 ms on 100,000 characters
MAX_PATTERN_CHARS = 1000
MAX_PATTERN_DEPTH = 100  # groups within groups; deeper ones exhaust the parsers' recursion (re's and regex's)
MAX_PATTERN_SIZE = 10_000  # items with each repeat's body counted {min} times: how `regex` compiles it
_PATTERN_DIALECT = regex.VERSION0  # the `re`-compatible one
_REPEATS = frozenset(
    getattr(_re_parser, name) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(_re_parser, name)
)

# Every regex here is linear: no nested quantifiers, and each bounded or stopped by its own delimiter.
_TAG = re.compile(rf"\[[^\[\]♪\n]{{1,{MAX_TAG_CHARS}}}\]")
_MUSIC = re.compile(r"♪[^♪]*♪")
_Q = f"{{1,{MAX_MAX_LENGTH}}}"  # quotes longer than any segment are never kept whole
_QUOTE = re.compile(rf'"[^"]{_Q}"|“[^“”]{_Q}”|«[^«»]{_Q}»|„[^„“”]{_Q}[“”]|「[^「」]{_Q}」|『[^『』]{_Q}』')
_CLOSERS = "\"'”’»」』)]）】"
_SENTENCE_END = re.compile(rf"[.!?…。！？]+[{re.escape(_CLOSERS)}]*")
_CJK_ENDS = frozenset("。！？")
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_CLAUSE_SPACED = re.compile(rf"[,;:]+[{re.escape(_CLOSERS)}]*")  # a cut only before whitespace
_CLAUSE_ANYWHERE = re.compile(r"[—–]+|[，、；：]+")
_WHITESPACE = re.compile(r"\s+")
_NON_WHITESPACE = re.compile(r"\S")
_LINE_BREAK = re.compile(r"[\n\r\u2028\u2029]")
_ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "approx", "fig")
)
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")

# Levels of refinement for a piece that is too long, coarsest first.
_SENTENCE, _CLAUSE, _WORD, _CHAR = range(4)


@dataclass(frozen=True)
class SplitOptions:
    """How to cut long text into segments of one generation each.

    goal_length: target segment size, in characters (words in mode "word").
    max_length: hard cap on a segment's clean text, in characters, in every mode
        (one Bark generation speaks about 15 s, roughly 220 characters).
    jitter: 0..0.5; each segment's goal is drawn in goal_length * (1 ± jitter).
    separator: mode "separator" cuts after each occurrence of this string.
    pattern: mode "regex" cuts after each match of this regular expression, in Python's `re` syntax (run
        by the `regex` package, whose \\w also takes combining marks, as in Hindi, but not ² or ½), within
        PATTERN_BUDGET_S of matching.
    """

    mode: str = one_of("sentence", SPLIT_MODES, "Split long text by", "how long text is cut into segments")
    goal_length: int = ranged(150, 1, 10**6, "Goal length", "target segment size: characters (words in mode 'word')")
    max_length: int = ranged(
        220, MIN_MAX_LENGTH, MAX_MAX_LENGTH, "Max length", "hard cap on a segment", unit="characters"
    )
    jitter: float = ranged(0.0, 0.0, MAX_JITTER, "Length jitter", "vary each segment's goal by up to this fraction")
    separator: str = option("", "Separator", "with mode 'separator': cut after each occurrence of this text")
    pattern: str = option("", "Regex", "with mode 'regex': cut after each match of this regular expression")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.mode in _CHAR_GOAL_MODES and self.goal_length > self.max_length:
            raise InputError(
                f"goal_length ({self.goal_length}) must not exceed the max length ({self.max_length}) "
                f"in split mode {self.mode!r}; lower the goal length or raise the max length",
                "goal_length",
            )
        if self.mode == "separator" and (not isinstance(self.separator, str) or not self.separator):
            raise InputError("separator must be a non-empty string in split mode 'separator'", "separator")
        if self.mode == "regex":
            _compile_pattern(self.pattern)


def _group_depth(pattern: str) -> int:
    """How deep the pattern's parentheses nest (escaped ones and those in [...] do not count)."""
    depth = deepest = 0
    in_class = escaped = False
    for i, c in enumerate(pattern):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif in_class:
            in_class = c != "]" or pattern[i - 1] == "[" or pattern[i - 2 : i] == "[^"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth -= 1
    return deepest


def _pattern_error(message: str) -> InputError:
    return InputError(message, "pattern")


def _compile_pattern(pattern: str, empty_ok: bool = False) -> regex.Pattern[str]:
    """The regex of mode "regex", in Python's `re` syntax.

    InputError when it is empty, too long, invalid, repeats too much to compile or (unless `empty_ok`)
    matches the empty text.
    """
    if not isinstance(pattern, str) or not pattern:
        raise _pattern_error("pattern must be a non-empty regular expression in split mode 'regex'")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise _pattern_error(f"pattern is {len(pattern):,} characters; the limit is {MAX_PATTERN_CHARS:,}")
    if _group_depth(pattern) > MAX_PATTERN_DEPTH:
        raise _pattern_error(f"pattern {pattern[:40]!r}... nests its groups too deeply; use fewer parentheses")
    try:
        re.compile(pattern)  # the syntax users know, checked by `re` (which never expands repeats)
        size = _pattern_size(_re_parser.parse(pattern))
    except (re.error, OverflowError) as e:
        raise _pattern_error(f"pattern {pattern!r} is not a valid regular expression: {e}") from None
    except RecursionError:
        raise _pattern_error(
            f"pattern {pattern[:40]!r}... nests its groups too deeply; use fewer parentheses"
        ) from None
    if size > MAX_PATTERN_SIZE:
        raise _pattern_error(
            f"pattern {pattern!r} repeats too much (its {{n}} repeat counts expand it to {size:,} items; at most "
            f"{MAX_PATTERN_SIZE:,}); use smaller counts, or + and * for 'one or more' and 'any number'"
        )
    compiled = regex.compile(pattern, _PATTERN_DIALECT)
    if not empty_ok and next(_matches(compiled, "", pattern), None) is not None:
        raise _pattern_error(f"pattern {pattern!r} matches empty text; give a pattern that needs a character")
    return compiled


def _pattern_size(items: _re_parser.SubPattern) -> int:
    """How many items `regex` compiles `items` into: a repeat's body is copied {min} times."""
    size = 0
    for op, arguments in items:
        inner = sum(_pattern_size(sub) for sub in _subpatterns(arguments))
        size += max(arguments[0], 1) * inner if op in _REPEATS else 1 + inner
    return size


def _subpatterns(arguments: object) -> Iterator[_re_parser.SubPattern]:
    """The parsed subpatterns among an item's arguments (a group's body, a repeat's, each branch, ...)."""
    if isinstance(arguments, _re_parser.SubPattern):
        yield arguments
    elif isinstance(arguments, tuple | list):
        for argument in arguments:
            yield from _subpatterns(argument)


def _matches(compiled: regex.Pattern[str], text: str, pattern: str) -> Iterator[regex.Match[str]]:
    """compiled.finditer(text) within PATTERN_BUDGET_S of matching in all, with the GIL released meanwhile."""
    try:
        yield from compiled.finditer(text, timeout=PATTERN_BUDGET_S, concurrent=True)
    except TimeoutError:
        raise _pattern_error(
            f"pattern {pattern!r} took too long on this text (over {PATTERN_BUDGET_S:g} s; it backtracks too much); "
            "use a simpler pattern: no repeat of a repeat such as (a+)+ and no overlapping alternatives such as "
            "(a|a)+, e.g. [.!?]\\s+ or (?=Chapter)"
        ) from None


def pattern_spans(pattern: str, text: str, empty_ok: bool = False) -> Iterator[tuple[int, int]]:
    """(start, end) of each match of a user's pattern in `text`, as re.finditer gives them, within
    PATTERN_BUDGET_S of matching (InputError beyond, or for a pattern _compile_pattern refuses)."""
    return (m.span() for m in _matches(_compile_pattern(pattern, empty_ok), text, pattern))


@dataclass(frozen=True)
class Segment:
    """One piece of the input: `text == input[start:end]` (offsets in characters, end exclusive)."""

    start: int
    end: int
    text: str

    @property
    def clean(self) -> str:
        """The text Bark is given: whitespace runs collapsed to single spaces, stripped."""
        return " ".join(self.text.split())


def split_text(text: str, options: SplitOptions = SplitOptions(), seed: int = 0) -> list[Segment]:
    """Cut `text` into segments whose clean text is at most `options.max_length` characters.

    Returns [] for empty or whitespace-only text. `seed` drives the goal jitter only.
    Mode "none" gives one segment, or InputError when the text is too long for one generation.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    if not isinstance(options, SplitOptions):
        raise InputError("options must be SplitOptions")
    if text.isspace() or not text:
        return []
    if options.mode == "none":
        return [_whole_text(text, options.max_length)]
    splitter = _Splitter(text, options, seed)
    return [Segment(s, e, text[s:e]) for s, e in splitter.segments()]


def _whole_text(text: str, max_length: int) -> Segment:
    length = _clean_len(text, 0, len(text))
    if length > max_length:
        raise InputError(
            f"the text is {length} characters, too long for one generation (max_length {max_length}); "
            "choose a split mode such as 'sentence', or shorten the text"
        )
    return Segment(0, len(text), text)


def _clean_len(text: str, start: int, end: int) -> int:
    """Length of text[start:end] with whitespace collapsed and stripped, in characters."""
    return len(" ".join(text[start:end].split()))


class _Protected:
    """Disjoint spans that no cut may fall strictly inside, as sorted (start, end) offsets."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if merged and s < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]

    def span_around(self, pos: int) -> tuple[int, int] | None:
        """The span with start < pos < end, if any."""
        i = bisect.bisect_right(self.starts, pos) - 1
        if i >= 0 and self.starts[i] < pos < self.ends[i]:
            return self.starts[i], self.ends[i]
        return None


def _protected_spans(text: str, max_length: int, with_quotes: bool) -> _Protected:
    """Tags and ♪ spans that fit one segment; with_quotes adds fitting quotes that cross neither."""

    def fitting(pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        spans = (m.span() for m in pattern.finditer(text))
        return [(s, e) for s, e in spans if _clean_len(text, s, e) <= max_length]

    # A tag holds no ♪, so tags and ♪ spans are nested or disjoint.
    hard = fitting(_TAG) + fitting(_MUSIC)
    if not with_quotes:
        return _Protected(hard)
    hard_index = _Protected(hard)
    quotes = [
        (s, e) for s, e in fitting(_QUOTE) if hard_index.span_around(s) is None and hard_index.span_around(e) is None
    ]
    return _Protected(hard + quotes)


class _Splitter:
    """The state of one split_text call: the text, options, protected spans and goal draws."""

    def __init__(self, text: str, options: SplitOptions, seed: int) -> None:
        self.text = text
        self.opts = options
        self.rng = random.Random(seed)
        self.protected = _protected_spans(text, options.max_length, options.mode == "sentence")
        self.by_words = options.mode == "word"
        # Chunk size of the character-level last resort, in characters.
        self.char_step = options.max_length if self.by_words else min(options.goal_length, options.max_length)
        self.level_cuts: list[Callable[[int, int], Iterable[int]]] = [
            self._sentence_cuts,
            self._clause_cuts,
            self._word_cuts,
        ]

    # -- top level -------------------------------------------------------------------------------

    def segments(self) -> list[tuple[int, int]]:
        """(start, end) of every segment, covering the text in order."""
        n, mode = len(self.text), self.opts.mode
        if mode == "sentence":
            return self._pack(self._units(0, n, _SENTENCE))
        if mode in ("word", "char"):
            return self._pack(self._units(0, n, _WORD))
        cuts = {"line": self._line_cuts, "separator": self._separator_cuts, "regex": self._regex_cuts}
        out: list[tuple[int, int]] = []
        for s, e in self._pieces(0, n, cuts[mode]()):
            out.extend(self._pack(self._split(s, e, _SENTENCE)))
        return out

    def _units(self, start: int, end: int, level: int) -> list[tuple[int, int]]:
        """Cut [start, end) at `level`, then refine every piece that is still too long."""
        if level == _CHAR:
            return self._char_chunks(start, end)
        out: list[tuple[int, int]] = []
        for s, e in self._pieces(start, end, self.level_cuts[level](start, end)):
            out.extend(self._split(s, e, level + 1))
        return out

    def _split(self, start: int, end: int, level: int) -> list[tuple[int, int]]:
        """[start, end) as one piece when it fits max_length, else cut at `level` and finer."""
        if _clean_len(self.text, start, end) <= self.opts.max_length:
            return [(start, end)]
        return self._units(start, end, level)

    # -- cutting ---------------------------------------------------------------------------------

    def _next_visible(self, pos: int, end: int) -> int:
        """First non-whitespace offset in [pos, end), or end."""
        m = _NON_WHITESPACE.search(self.text, pos, end)
        return m.start() if m else end

    def _pieces(self, start: int, end: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
        """[start, end) cut at `cuts` (ascending), each cut moved past whitespace.

        Cuts inside protected spans are dropped; every piece holds a non-whitespace character.
        """
        first = self._next_visible(start, end)
        pieces, prev, last = [], start, first
        for cut in cuts:
            if cut <= last:  # already covered: skipping keeps whitespace scans linear
                continue
            last = cut = self._next_visible(cut, end)
            if cut < end and self.protected.span_around(cut) is None:
                pieces.append((prev, cut))
                prev = cut
        pieces.append((prev, end))
        return pieces

    def _sentence_cuts(self, start: int, end: int) -> Iterator[int]:
        """After sentence-ending punctuation (and closing quotes), and at blank lines."""
        ends = (m.end() for m in _SENTENCE_END.finditer(self.text, start, end) if self._ends_sentence(m, end))
        paragraphs = (m.end() for m in _PARAGRAPH.finditer(self.text, start, end))
        return heapq.merge(ends, paragraphs)

    def _ends_sentence(self, m: re.Match[str], end: int) -> bool:
        """Whether the punctuation run `m` ends a sentence (the range ends at `end`)."""
        text, after = self.text, m.end()
        if any(c in _CJK_ENDS for c in m.group()):
            return True
        if after < end and not text[after].isspace():
            return False  # 3.14, e.g.x, example.com
        punct = m.group().rstrip(_CLOSERS)
        if punct == "." and m.start() > 0 and not text[m.start() - 1].isspace():
            word = text[max(0, m.start() - 12) : m.start()].split()[-1].lstrip("(\"'“‘").lower()
            if word in _ABBREVIATIONS:
                return False
            if "." in word:  # p.m. or U.S.: a sentence end only before a capital
                return not self._lower_follows(after, end)
        if punct.endswith(("...", "…")):  # an ellipsis before a lower-case word continues the sentence
            return not self._lower_follows(after, end)
        return True

    def _lower_follows(self, pos: int, end: int) -> bool:
        nxt = self._next_visible(pos, end)
        return nxt < end and self.text[nxt].islower()

    def _clause_cuts(self, start: int, end: int) -> Iterator[int]:
        """After , ; : (before whitespace), after dashes and after CJK clause marks."""
        text = self.text
        spaced = (
            m.end() for m in _CLAUSE_SPACED.finditer(text, start, end) if m.end() < end and text[m.end()].isspace()
        )
        anywhere = (m.end() for m in _CLAUSE_ANYWHERE.finditer(text, start, end))
        return heapq.merge(spaced, anywhere)

    def _word_cuts(self, start: int, end: int) -> Iterator[int]:
        return (m.end() for m in _WHITESPACE.finditer(self.text, start, end))

    def _line_cuts(self) -> Iterator[int]:
        return (m.end() for m in _LINE_BREAK.finditer(self.text))

    def _separator_cuts(self) -> list[int]:
        text, sep = self.text, self.opts.separator
        spans, i = [], text.find(sep)
        while i >= 0:
            spans.append((i, i + len(sep)))
            i = text.find(sep, i + len(sep))
        return self._occurrence_cuts(spans)

    def _regex_cuts(self) -> list[int]:
        return self._occurrence_cuts(pattern_spans(self.opts.pattern, self.text))

    def _occurrence_cuts(self, spans: Iterable[tuple[int, int]]) -> list[int]:
        """A cut after each occurrence; an occurrence after an empty part joins the part before."""
        cuts: list[int] = []
        prev = 0
        for s, e in spans:
            if self._next_visible(prev, s) < s:
                cuts.append(e)
            elif cuts:
                cuts[-1] = e
            prev = e
        return cuts

    def _char_chunks(self, start: int, end: int) -> list[tuple[int, int]]:
        """Last resort: chunks of at most char_step visible characters, never cutting a protected span."""
        pieces, i = [], start
        while i < end:
            cut = min(self._next_visible(i, end) + self.char_step, end)
            if cut < end:
                cut = self._char_cut(i, cut, end)
            pieces.append((i, cut))
            i = cut
        return pieces

    def _char_cut(self, lo: int, cut: int, end: int) -> int:
        """Move a character cut off combining marks and out of protected spans, then past whitespace."""
        text, pos = self.text, cut
        while pos > lo + 1 and (unicodedata.combining(text[pos]) or text[pos] in _JOINERS or text[pos - 1] in _JOINERS):
            pos -= 1
        cut = pos if pos > lo + 1 else cut
        span = self.protected.span_around(cut)
        if span is not None:
            cut = span[0] if span[0] > lo else span[1]
        return self._next_visible(cut, end)

    # -- packing ---------------------------------------------------------------------------------

    def _draw_goal(self) -> int:
        """This segment's goal, in characters (words in mode "word")."""
        goal, jitter = self.opts.goal_length, self.opts.jitter
        if jitter > 0:
            goal = max(1, round(goal * (1.0 + self.rng.uniform(-jitter, jitter))))
        return goal

    def _pack(self, pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Join neighbouring pieces greedily while the segment stays within its goal and max_length."""
        text, max_length = self.text, self.opts.max_length
        out: list[tuple[int, int]] = []
        goal, seg_start, seg_end, chars, words = self._draw_goal(), -1, -1, 0, 0
        for s, e in pieces:
            piece_chars = _clean_len(text, s, e)
            piece_words = len(text[s:e].split())
            if seg_start >= 0:
                gap = 1 if text[s - 1].isspace() else 0
                new_chars, new_words = chars + gap + piece_chars, words + piece_words - (1 - gap)
                size = new_words if self.by_words else new_chars
                if new_chars <= max_length and size <= goal:
                    seg_end, chars, words = e, new_chars, new_words
                    continue
                out.append((seg_start, seg_end))
                goal = self._draw_goal()
            seg_start, seg_end, chars, words = s, e, piece_chars, piece_words
        if seg_start >= 0:
            out.append((seg_start, seg_end))
        return out

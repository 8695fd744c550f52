"""Long-text splitting: partition, length cap and uncut tags for every mode, plus examples."""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.textsplit import MAX_PATTERN_CHARS, SPLIT_MODES, Segment, SplitOptions, pattern_spans, split_text

CUT_MODES = tuple(m for m in SPLIT_MODES if m != "none")
TAG = re.compile(r"\[[^\[\]♪\n]{1,40}\]")  # Bark's bracket tags, as the splitter defines them

# -- text generation ---------------------------------------------------------------------------

WORDS = ["the", "Bark", "speaks", "hello", "world", "Mr.", "Dr.", "e.g.", "i.e.", "etc.", "3.14", "U.S."]
PUNCT = [".", "!", "?", "…", "...", ",", ";", ":", "—", "–", "。", "！", "？", "，", "、", '!"', ".”"]
TAGS = ["[laughs]", "[MAN]", "[WOMAN]", "[music]", "[clears throat]", "[sighs]", "[gasps]"]
CJK = ["你好", "世界", "こんにちは", "我很好", "谢谢"]
SPACES = ["", " ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u3000"]

random_word = st.text(st.characters(blacklist_characters="[]♪", blacklist_categories=("Cs",)), min_size=1, max_size=8)
word = st.one_of(st.sampled_from(WORDS), st.sampled_from(CJK), random_word)
words = st.lists(word, min_size=1, max_size=6).map(" ".join)
inner = st.lists(st.one_of(word, word, st.sampled_from(PUNCT + TAGS)), min_size=1, max_size=30).map(" ".join)
long_word = st.integers(25, 450).map(lambda n: "x" * n)
music = st.builds(lambda w, sp: f"♪{sp}{w}{sp}♪", inner, st.sampled_from(["", " "]))
quote = st.builds(lambda w, q: q[0] + w + q[1], inner, st.sampled_from(['""', "“”", "「」"]))
token = st.one_of(word, word, word, st.sampled_from(PUNCT), st.sampled_from(TAGS), music, quote, long_word)
texts = st.lists(st.tuples(token, st.sampled_from(SPACES)), max_size=60).map(
    lambda pairs: "".join(t + s for t, s in pairs)
)


@st.composite
def split_options(draw: st.DrawFn, mode: str) -> SplitOptions:
    max_length = draw(st.integers(20, 400))
    goal_high = 60 if mode == "word" else max_length
    return SplitOptions(
        mode=mode,
        goal_length=draw(st.integers(1, goal_high)),
        max_length=max_length,
        jitter=draw(st.sampled_from([0.0, 0.0, 0.2, 0.5])),
        separator=draw(st.sampled_from(["|", ".", "\n", "--", " ", "x"])),
        pattern=draw(st.sampled_from([r"\|", r"[.!?]", r"\n+", r"(?=the)", r"\s", r"x+"])),
    )


# -- properties ---------------------------------------------------------------------------------


def music_spans(text: str) -> list[tuple[int, int]]:
    """♪ characters paired in order: (first, second + 1), (third, fourth + 1), ..."""
    marks = [i for i, c in enumerate(text) if c == "♪"]
    return [(marks[i], marks[i + 1] + 1) for i in range(0, len(marks) - 1, 2)]


def clean(text: str) -> str:
    return " ".join(text.split())


def check_segments(text: str, segments: list[Segment], options: SplitOptions) -> None:
    if not text.strip():
        assert segments == []
        return
    assert "".join(s.text for s in segments) == text
    assert segments[0].start == 0
    assert segments[-1].end == len(text)
    for before, after in itertools.pairwise(segments):
        assert after.start == before.end
    for s in segments:
        assert s.text == text[s.start : s.end]
        assert s.clean == clean(s.text)
        assert s.clean, f"empty segment {s!r}"
        assert len(s.clean) <= options.max_length, s
    cuts = {s.start for s in segments[1:]}
    spans = [m.span() for m in TAG.finditer(text)] + music_spans(text)
    for start, end in spans:
        if len(clean(text[start:end])) <= options.max_length:
            inside = [c for c in cuts if start < c < end]
            assert not inside, f"cut inside {text[start:end]!r}"


@pytest.mark.parametrize("mode", CUT_MODES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), text=texts, seed=st.integers(0, 2**32 - 1))
def test_split_properties(mode: str, data: st.DataObject, text: str, seed: int) -> None:
    options = data.draw(split_options(mode))
    check_segments(text, split_text(text, options, seed), options)


@settings(max_examples=60, deadline=None)
@given(text=texts)
def test_mode_none_is_whole_text_or_error(text: str) -> None:
    options = SplitOptions(mode="none", max_length=200)
    if len(clean(text)) > 200:
        with pytest.raises(InputError, match="too long for one generation"):
            split_text(text, options)
    else:
        check_segments(text, split_text(text, options), options)
        assert len(split_text(text, options)) == (1 if text.strip() else 0)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300), mode=st.sampled_from(CUT_MODES), max_length=st.integers(20, 60))
def test_any_unicode_text(text: str, mode: str, max_length: int) -> None:
    options = SplitOptions(mode=mode, goal_length=5, max_length=max_length, separator="a", pattern="a|b")
    check_segments(text, split_text(text, options), options)


# -- examples -----------------------------------------------------------------------------------


def cleans(text: str, **options: object) -> list[str]:
    return [s.clean for s in split_text(text, SplitOptions(**options))]


def test_empty_and_whitespace_give_no_segments() -> None:
    for mode in SPLIT_MODES:
        assert split_text("", SplitOptions(mode=mode, separator="|", pattern="x")) == []
        assert split_text(" \n\t ", SplitOptions(mode=mode, separator="|", pattern="x")) == []


def test_sentences_skip_abbreviations_and_decimals() -> None:
    text = "Mr. Smith met Dr. Jones, e.g. at 3.14 p.m. sharp! Then they left etc. and more. Bye at 5 p.m. Ok."
    assert cleans(text, goal_length=1) == [
        "Mr. Smith met Dr. Jones, e.g. at 3.14 p.m. sharp!",
        "Then they left etc. and more.",
        "Bye at 5 p.m.",
        "Ok.",
    ]


def test_sentence_keeps_closing_quote_and_whole_quotes() -> None:
    assert cleans('"Hi!" she said. Bye.', goal_length=1) == ['"Hi!"', "she said.", "Bye."]
    text = "He said “One. Two! Three?” and left. Next."
    assert cleans(text, goal_length=1) == ["He said “One. Two! Three?”", "and left.", "Next."]


def test_cjk_and_ellipsis() -> None:
    assert cleans("你好。我很好！谢谢？", goal_length=1) == ["你好。", "我很好！", "谢谢？"]
    assert cleans("Well... maybe not. So… Yes.", goal_length=1) == ["Well... maybe not.", "So…", "Yes."]


def test_sentences_packed_up_to_goal() -> None:
    text = "One two. Three four. Five six. Seven eight."
    assert cleans(text, goal_length=22) == ["One two. Three four.", "Five six. Seven eight."]
    assert cleans(text, goal_length=150) == [text]


def test_long_sentence_splits_at_clauses_then_words_then_chars() -> None:
    clause = "word " * 8 + "end, "
    text = clause * 6 + "x" * 100 + "."
    segments = split_text(text, SplitOptions(goal_length=60, max_length=60))
    check_segments(text, segments, SplitOptions(goal_length=60, max_length=60))
    assert all(s.clean.endswith(",") for s in segments[:6])
    assert "".join(s.clean for s in segments[6:]) == "x" * 100 + "."


def test_tags_and_music_stay_whole() -> None:
    text = "a " * 12 + "[clears throat] " + "b " * 5 + "♪ la la la ♪ end."
    options = SplitOptions(mode="char", goal_length=20, max_length=20)
    got = [s.clean for s in split_text(text, options)]
    assert "[clears throat]" in " ".join(got) and any("[clears throat]" in g for g in got)
    assert any("♪ la la la ♪" in g for g in got)
    long_music = "♪ " + "la " * 20 + "♪"  # 63 characters: too long for one segment, cut at its words
    got = cleans(long_music, goal_length=20, max_length=20)
    assert " ".join(got) == clean(long_music) and all(len(g) <= 20 for g in got)


def test_line_mode() -> None:
    text = "first line\n\n  second line\r\nthird"
    assert cleans(text, mode="line") == ["first line", "second line", "third"]
    long_line = "word " * 60
    got = cleans(long_line + "\nshort", mode="line", goal_length=100, max_length=120)
    assert got[-1] == "short" and all(len(g) <= 120 for g in got) and len(got) == 4


def test_word_mode_counts_words() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    got = cleans(text, mode="word", goal_length=10)
    assert [len(g.split()) for g in got] == [10] * 10
    assert all(len(g) <= 30 for g in cleans(text, mode="word", goal_length=60, max_length=30))


def test_char_mode_cuts_at_words() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    got = cleans(text, mode="char", goal_length=20, max_length=20)
    assert got == ["alpha beta gamma", "delta epsilon zeta", "eta theta iota kappa"]


def test_separator_mode() -> None:
    assert cleans("a|b||c|", mode="separator", separator="|") == ["a|", "b||", "c|"]
    assert cleans("|a | b| |", mode="separator", separator="|") == ["|a |", "b| |"]
    assert cleans("one\n---\ntwo", mode="separator", separator="---") == ["one ---", "two"]


def test_regex_mode() -> None:
    text = "Intro. Chapter 1 text. Chapter 2 more."
    assert cleans(text, mode="regex", pattern=r"(?=Chapter)") == ["Intro.", "Chapter 1 text.", "Chapter 2 more."]
    assert cleans("a1b22c", mode="regex", pattern=r"\d+") == ["a1", "b22", "c"]


def test_none_mode() -> None:
    assert cleans("  short text \n", mode="none") == ["short text"]
    with pytest.raises(InputError, match=r"too long for one generation.*split mode"):
        split_text("word " * 100, SplitOptions(mode="none"))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "paragraph"}, "mode"),
        ({"goal_length": 0}, "goal_length"),
        ({"goal_length": 1.5}, "goal_length"),
        ({"goal_length": True}, "goal_length"),
        ({"goal_length": 300}, "goal_length"),
        ({"max_length": 19}, "max_length"),
        ({"max_length": 401}, "max_length"),
        ({"jitter": 0.6}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": float("nan")}, "jitter"),
        ({"mode": "separator"}, "separator"),
        ({"mode": "regex"}, "pattern"),
        ({"mode": "regex", "pattern": "("}, "pattern"),
        ({"mode": "regex", "pattern": "a*"}, "pattern"),
    ],
)
def test_invalid_options_name_the_field(options: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        SplitOptions(**options)


def test_word_goal_may_exceed_max_length() -> None:
    assert SplitOptions(mode="word", goal_length=300).goal_length == 300


def test_jitter_is_deterministic_per_seed() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    options = SplitOptions(goal_length=100, jitter=0.5)
    first = split_text(text, options, seed=1)
    assert split_text(text, options, seed=1) == first
    assert split_text(text, options, seed=2) != first
    steady = SplitOptions(goal_length=100)
    assert split_text(text, steady, seed=1) == split_text(text, steady, seed=2)


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox, it seems, jumps. " * 27_000,
        "x" * 1_000_000,
        "." * 1_000_000,
        "\n" * 999_990 + "last line",
        "“" * 500_000 + "♪" * 3 + "[" * 500_000,
    ],
    ids=["prose", "one-word", "dots", "newlines", "openers"],
)
@pytest.mark.parametrize("mode", ["sentence", "line", "word", "char"])
def test_one_megabyte_splits(text: str, mode: str) -> None:
    """A megabyte in the worst shapes splits correctly (its speed: bench/bench_textsplit.py)."""
    options = SplitOptions(mode=mode)
    check_segments(text, split_text(text, options), options)


# -- user patterns ------------------------------------------------------------------------------


def regex_options(pattern: str) -> SplitOptions:
    return SplitOptions(mode="regex", pattern=pattern)


ORDINARY_PATTERNS = [
    r"\n\n+",
    r"(?=Chapter \d+)",
    r"[.!?]\s+",
    r"(?<=\.)\s",
    r"\b(?:said|asked)\b",
    r"(?i)the\s+",
    r"(?m)^\w",
    r"[^.]*\.",
    r"(?:\w+\W+){3}",
    r"(\w)\1",
    r"\d{1,3}(?:,\d{3})*",
    r"—|–",
    r"[，。]",
]


# Where the regex package and re differ: its \w follows Unicode (combining marks, ‿ and Ⓐ are word characters;
# ² and ½ are not), its \s leaves out the control characters \x1c-\x1f, and its Unicode tables are newer.
DIALECT_GAPS = frozenset(("Mn", "Mc", "Me", "Pc", "No", "So", "Cn", "Cf", "Cc"))
re_texts = texts.map(lambda t: "".join(c for c in t if c in "\t\n\r_" or unicodedata.category(c) not in DIALECT_GAPS))


@settings(max_examples=100, deadline=None)
@given(text=re_texts, pattern=st.sampled_from(ORDINARY_PATTERNS))
def test_ordinary_patterns_match_as_python_re_does(text: str, pattern: str) -> None:
    assert list(pattern_spans(pattern, text)) == [m.span() for m in re.finditer(pattern, text)]


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("(a|a)+b", "a" * 40),  # 2**40 ways to fail at the first position
        ("(a|aa)+b", "a" * 100_000),
        ("(a+)+b", "a" * 10_000),  # cubic in the regex package, exponential in re
    ],
    ids=["alternatives", "alternatives-100k", "nested-10k"],
)
def test_backtracking_pattern_is_input_error(pattern: str, text: str) -> None:
    with pytest.raises(InputError, match=r"^pattern .* took too long on this text.*simpler pattern"):
        split_text(text, regex_options(pattern))


def test_the_issue_pattern_ends() -> None:
    """Issue 11's request: the regex package sees through (a+)+b here; a budget would stop it otherwise."""
    try:
        segments = split_text("a" * 40, regex_options("(a+)+b"))
    except InputError as e:
        assert str(e).startswith("pattern ")
    else:
        assert [s.text for s in segments] == ["a" * 40]


def test_the_budget_covers_the_whole_text() -> None:
    """Each match is cheap (2**17 steps), thousands of them are not: the budget is per split, not per match."""
    text = ("a" * 16 + "b") * 5_000
    with pytest.raises(InputError, match="took too long"):
        split_text(text, regex_options(r"(?:(a|a)+c)|b"))


def test_other_threads_run_while_a_pattern_is_matched() -> None:
    """The matcher lets go of the GIL: work that needs it finishes while a hostile pattern is still running."""
    matching = threading.Event()
    finished_while_matching: list[bool] = []

    def other_work() -> None:
        matching.wait()
        sum(range(2_000_000))  # Python bytecode: runs only while holding the GIL
        finished_while_matching.append(matching.is_set())

    worker = threading.Thread(target=other_work)
    worker.start()
    matching.set()
    try:
        with pytest.raises(InputError, match="took too long"):
            split_text("a" * 40, regex_options("(a|a)+b"))
    finally:
        matching.clear()
        worker.join()
    assert finished_while_matching == [True]


@pytest.mark.parametrize(
    "pattern",
    [
        r"\w{4000000000}",  # the regex package compiles a repeat by copying its body: hours
        r"(?:ab|cd){1000000}",  # ... or a crash (a segfault in regex 2026.5)
        r"(?:(?:a{1000}){1000}){1000}",
        r"(?:x|y){20000,}",
    ],
)
def test_huge_repeat_counts_are_input_error(pattern: str) -> None:
    with pytest.raises(InputError, match=r"^pattern .* repeats too much"):
        regex_options(pattern)


def test_ordinary_repeat_counts_are_fine() -> None:
    dates = cleans("On 2024-01-02 x 2025-03-04 y", mode="regex", pattern=r"\d{4}-\d{2}-\d{2}", goal_length=1)
    assert dates == ["On 2024-01-02", "x 2025-03-04", "y"]
    runs = cleans("x" + "ab" * 150 + " y", mode="regex", pattern=r"(?:ab){150}", goal_length=1, max_length=400)
    assert runs == ["x" + "ab" * 150, "y"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(", "not a valid regular expression"),
        ("a{99999999999}", "not a valid regular expression"),
        (r"\p{L}", "not a valid regular expression"),  # the regex package's syntax: patterns are Python's re
        ("(?<=a+)b", "not a valid regular expression"),
        ("a*", "matches empty text"),
        ("(?:(a|a)+b)?", "matches empty text"),
        ("x" * (MAX_PATTERN_CHARS + 1), "characters"),
        ("(" * 490 + "a" + ")" * 490, ""),  # invalid or too deep, either way one message
    ],
    ids=[
        "unclosed",
        "count-overflow",
        "regex-only-syntax",
        "lookbehind-width",
        "empty",
        "empty-hostile",
        "long",
        "deep",
    ],
)
def test_bad_patterns_are_input_error(pattern: str, message: str) -> None:
    with pytest.raises(InputError, match=rf"^pattern .*{message}"):
        regex_options(pattern)

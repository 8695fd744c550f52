"""Long-text splitting: partition, length cap and uncut tags for every mode, plus examples."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.textsplit import SPLIT_MODES, Segment, SplitOptions, split_text

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
def test_one_megabyte_is_fast(text: str, mode: str) -> None:
    options = SplitOptions(mode=mode)
    start = time.perf_counter()
    segments = split_text(text, options)
    elapsed = time.perf_counter() - start
    assert segments[-1].end == len(text)
    assert elapsed < 5.0, f"{elapsed:.1f} s"

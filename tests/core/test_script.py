"""Scripts: speaker labels, turns, narration, headings and the three dialogue modes."""

from __future__ import annotations

import pytest

from core.errors import InputError
from core.script import BARK_TAGS, DIALOGUE_MODES, ScriptLine, parse_script, script_speakers


def said(text: str, dialogue: str = "auto") -> list[tuple[str | None, str]]:
    """(speaker, text) of each line."""
    return [(line.speaker, line.text) for line in parse_script(text, dialogue)]


def test_plain_text_is_one_line_kept_exactly() -> None:
    text = "  First paragraph,\n  indented line.\r\n\n\nSecond paragraph: with a colon.\n\t"
    assert parse_script(text) == [ScriptLine(text.strip(), None, None)]
    assert parse_script("Hello.") == [ScriptLine("Hello.", None, None)]
    for mode in DIALOGUE_MODES:
        assert parse_script("", mode) == []
        assert parse_script(" \n\t\r\n ", mode) == []


def test_a_script_of_turns_with_narration_first() -> None:
    text = "It was late.\nVery late.\nAlice: Are you there?\n  [Bob]  Yes.\nI am.\n\nStill here.\nAlice:  Good."
    assert parse_script(text) == [
        ScriptLine("It was late.\nVery late.", None, None),
        ScriptLine("Are you there?", "Alice", None),
        ScriptLine("Yes.\nI am.\n\nStill here.", "Bob", None),  # unlabelled lines continue the turn
        ScriptLine("Good.", "Alice", None),
    ]


def test_label_forms() -> None:
    text = (
        "Dr. Jane O'Neil-Smith: one\n"
        "[Narrator_2]: two\n"
        "Alice:\n"
        "three, on the next line\n"
        "Bob\t:  four\r\n"
        "张三: 五\n"
        "[Анна Каренина] шесть\n"
        "राहुल: सात\n"
    )
    assert said(text, "on") == [
        ("Dr. Jane O'Neil-Smith", "one"),
        ("Narrator_2", "two"),
        ("Alice", "three, on the next line"),
        ("Bob", "four"),
        ("张三", "五"),
        ("Анна Каренина", "шесть"),
        ("राहुल", "सात"),  # a name keeps its combining vowel signs
    ]


@pytest.mark.parametrize(
    "line",
    [
        "http://example.com is a site",
        "10:30 am: the meeting",
        "Time:10:30",  # no space after the colon
        "[laughs] ha",
        "[MAN] hello",
        "[clears  throat] well",
        "♪ Alice: la la ♪",
        "One two three four five: too many words",
        "A" * 33 + ": too long a name",
        "[Alice: unclosed",
        "'quoted': starts with no letter",
        "#### Four hashes is not a heading",
        "Alice - no colon",
    ],
)
def test_what_is_not_a_label(line: str) -> None:
    assert said(f"Bob: hi\n{line}", "on") == [("Bob", f"hi\n{line}")]


def test_bark_tags_and_music_stay_text_in_a_script() -> None:
    assert {"laughs", "clears throat", "man", "woman"} <= BARK_TAGS
    text = "Alice: Hi.\n[laughs] That's funny.\n♪ la la ♪\nBob: [sighs] Fine."
    assert said(text) == [("Alice", "Hi.\n[laughs] That's funny.\n♪ la la ♪"), ("Bob", "[sighs] Fine.")]


def test_auto_needs_two_labelled_lines() -> None:
    prose = "We met at noon.\nNote: bring an umbrella.\nIt rained."
    assert said(prose) == [(None, prose)]
    assert said(prose, "on") == [(None, "We met at noon."), ("Note", "bring an umbrella.\nIt rained.")]
    monologue = "Alice: one.\nAlice: two."
    assert said(monologue) == [("Alice", "one."), ("Alice", "two.")]


def test_off_keeps_labels_as_text_and_headings_as_sections() -> None:
    text = "# Act one\nAlice: Hi.\nBob: Hello.\n## Act two\nAlice: Bye."
    assert parse_script(text, "off") == [
        ScriptLine("Alice: Hi.\nBob: Hello.", None, "Act one"),
        ScriptLine("Alice: Bye.", None, "Act two"),
    ]


def test_headings_start_sections() -> None:
    text = "Intro.\n# Chapter  1 \nAlice: Hi.\nBob: Yo.\n  ### The next day\nMorning came.\nAlice: Again."
    assert parse_script(text) == [
        ScriptLine("Intro.", None, None),
        ScriptLine("Hi.", "Alice", "Chapter 1"),
        ScriptLine("Yo.", "Bob", None),
        ScriptLine("Morning came.", None, "The next day"),  # after a heading, narration until a label
        ScriptLine("Again.", "Alice", None),
    ]
    assert parse_script("#hashtag\n# \nText") == [ScriptLine("#hashtag\n# \nText", None, None)]  # not headings


def test_headings_with_nothing_to_say() -> None:
    assert parse_script("# Title only") == []
    assert parse_script("# Part one\n\n## Chapter one\n\nIt begins.\n# The end\n") == [
        ScriptLine("It begins.", None, "Chapter one")  # the heading just before the text
    ]
    text = "# Scene\nAlice:\nBob: Hi.\nAlice: Hey."  # Alice's empty turn gives nothing; the section waits
    assert parse_script(text) == [ScriptLine("Hi.", "Bob", "Scene"), ScriptLine("Hey.", "Alice", None)]


def test_speakers_are_one_whatever_the_case_and_spacing() -> None:
    lines = parse_script("alice: one\nBob: two\nALICE: three\n[Mary  Ann] four\nmary ann: five")
    assert [line.speaker for line in lines] == ["alice", "Bob", "alice", "Mary Ann", "Mary Ann"]
    assert script_speakers(lines) == ["alice", "Bob", "Mary Ann"]
    narrated = [ScriptLine("x", None, None), ScriptLine("y", "Eve", None), ScriptLine("z", "EVE", None)]
    assert script_speakers(narrated) == ["Eve"]
    assert script_speakers([]) == []


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="auto, on, off") as error:
        parse_script("Alice: hi", "yes")
    assert error.value.field == "dialogue"
    with pytest.raises(InputError, match="string"):
        parse_script(None)  # type: ignore[arg-type]


def test_hostile_text_of_100000_characters() -> None:
    unit = "a a a a a a" * 3 + "[" + " " * 40 + "#" * 3 + "\t" * 20 + "Ab:" + ":" * 30 + "x\r"
    hostile = (unit * (100_000 // len(unit) + 1))[:100_000]
    assert parse_script(hostile) == [ScriptLine(hostile.strip(), None, None)]
    spaced = " " * 99_990 + "Al: x\nBo: y"
    assert said(spaced) == [("Al", "x"), ("Bo", "y")]
    rows = "\n".join(["Name name name name: " + "-" * 40] * 1500 + ["[" + "a" * 48] * 500)
    assert len(rows) >= 40_000
    assert script_speakers(parse_script(rows)) == ["Name name name name"]

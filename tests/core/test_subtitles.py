"""SRT and WebVTT output, read back by a small parser of each format."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.subtitles import SUBTITLE_FORMATS, Cue, subtitles, to_srt, to_vtt

_SRT_TIME = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$")
_VTT_TIME = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$")


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue; the numbers must run 1, 2, 3, ..."""
    cues = []
    for n, block in enumerate(filter(None, text.split("\n\n")), 1):
        number, timing, *lines = block.strip("\n").split("\n")
        assert number == str(n)
        parts = _SRT_TIME.match(timing).groups()
        assert lines and all(line.strip() for line in lines) and not any("-->" in line for line in lines)
        cues.append((seconds(*parts[:4]), seconds(*parts[4:]), "\n".join(lines)))
    return cues


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, payload) of each cue, the payload unescaped (a voice tag kept as written)."""
    header, *blocks = text.split("\n\n")
    assert header.rstrip("\n") == "WEBVTT"
    cues = []
    for block in filter(None, blocks):
        timing, *lines = block.strip("\n").split("\n")
        parts = _VTT_TIME.match(timing).groups()
        assert lines and all(line.strip() for line in lines) and not any("-->" in line for line in lines)
        payload = "\n".join(lines)
        assert not re.search(r"&(?!amp;|lt;|gt;)|<(?!v )", payload)  # escaped, but for the voice tag
        voice = re.match(r"<v ([^>]*)>", payload)
        shown = f"<v {unescape(voice[1])}>{unescape(payload[voice.end() :])}" if voice else unescape(payload)
        cues.append((seconds(*parts[:4]), seconds(*parts[4:]), shown))
    return cues


CUES = [
    Cue(0.0, 1.5, "Hello there.", "Alice"),
    Cue(1.5004, 3.9996, "Line one\nline two\n\n\nafter a blank line"),
    Cue(4.0, 4.0, "  x --> y  & <b>bold</b> ", "Bob & Co"),
]


def test_srt() -> None:
    out = to_srt(CUES)
    assert out.startswith("1\n00:00:00,000 --> 00:00:01,500\nAlice: Hello there.\n\n2\n00:00:01,500 --> 00:00:04,000")
    assert parse_srt(out) == [
        (0.0, 1.5, "Alice: Hello there."),
        (1.5, 4.0, "Line one line two after a blank line"),
        (4.0, 4.0, "Bob & Co: x → y & <b>bold</b>"),
    ]
    assert out.endswith("\n") and not out.endswith("\n\n")


def test_vtt() -> None:
    out = to_vtt(CUES)
    assert out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Alice>Hello there.\n")
    assert "<v Bob &amp; Co>x → y &amp; &lt;b&gt;bold&lt;/b&gt;" in out
    assert parse_vtt(out) == [
        (0.0, 1.5, "<v Alice>Hello there."),
        (1.5, 4.0, "Line one line two after a blank line"),
        (4.0, 4.0, "<v Bob & Co>x → y & <b>bold</b>"),
    ]


def test_long_times_and_no_cues() -> None:
    late = [Cue(99 * 3600 + 59 * 60 + 59.9995, 123 * 3600 + 0.25, "late")]
    assert "99:59:59,999 --> 123:00:00,250" not in to_srt(late)  # rounded, not cut: 59.9995 s -> 60.000
    assert "100:00:00,000 --> 123:00:00,250" in to_srt(late)
    assert parse_vtt(to_vtt(late)) == [(360_000.0, 442_800.25, "late")]
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n"
    assert to_srt([Cue(0, 1, " \n "), Cue(1, 2, "kept", " ")]) == "1\n00:00:01,000 --> 00:00:02,000\nkept\n"


text_chars = st.text(st.sampled_from(list("ab -><&\n\r\t:é♪")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(0, 10**9), st.integers(0, 10**6), text_chars, st.none() | text_chars), max_size=8
    )
)
def test_any_cues_read_back(items: list[tuple[int, int, str, str | None]]) -> None:
    cues = [Cue(start / 1000, (start + length) / 1000, text, speaker) for start, length, text, speaker in items]
    kept = [cue for cue in cues if cue.text.split()]
    srt, vtt = parse_srt(to_srt(cues)), parse_vtt(to_vtt(cues))
    assert len(srt) == len(vtt) == len(kept)
    for cue, (start, end, shown), (vstart, vend, payload) in zip(kept, srt, vtt, strict=True):
        assert (start, end) == (vstart, vend)
        assert abs(start - cue.start_s) < 1e-6 and abs(end - cue.end_s) < 1e-6
        words = " ".join(cue.text.split()).replace("-->", "→")
        name = " ".join((cue.speaker or "").split()).replace("-->", "→")
        assert shown == (f"{name}: {words}" if name else words)
        assert payload == (f"<v {name.rstrip('-')}>{words}" if name.rstrip("-") else words)


def test_subtitles_by_format_name() -> None:
    assert SUBTITLE_FORMATS == ("srt", "vtt")
    assert subtitles(CUES, "srt") == to_srt(CUES)
    assert subtitles(iter(CUES), ".VTT") == to_vtt(CUES)
    with pytest.raises(InputError, match="srt, vtt"):
        subtitles(CUES, "ass")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(-1.0, 1.0, "start_s"), (0.0, float("nan"), "end_s"), (2.0, 1.0, "before it starts"), (True, 1.0, "start_s")],
)
def test_bad_cues(start: float, end: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Cue(start, end, "text")

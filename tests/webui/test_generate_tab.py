"""The Generate tab in headless Chromium (issue 13, items 5-9): what the page says and shows before, while
and after a generation, on the tiny models (noise that never stops early: durations are capped)."""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator

import pytest

from core.errors import ModelFileError

from .conftest import CHROMIUM, LAPTOP, PHONE, TIMEOUT_MS, Served

playwright = pytest.importorskip("playwright.sync_api")
SENTENCES = "This is one of many sentences, each a segment of its own. "

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
playwright.expect.set_options(timeout=TIMEOUT_MS)  # not 5 s: a busy machine generates slowly


class HeldAtSegment:
    """Engine.generate held (in its worker thread) at the first progress report of segment `index`
    (0-based) until `release`: earlier segments are done and shown, the generation still runs."""

    def __init__(self, engine, index: int):
        self.index, self._real = index, engine.generate
        self.held, self.release = threading.Event(), threading.Event()

    def generate(self, *args, **kwargs):
        call = inspect.signature(self._real).bind(*args, **kwargs)
        report = call.arguments.get("progress")

        def progress(p):
            if report is not None:
                report(p)
            if p.segment >= self.index and not self.held.is_set():
                self.held.set()
                self.release.wait(TIMEOUT_MS / 1000)

        call.arguments["progress"] = progress
        return self._real(*call.args, **call.kwargs)


@pytest.fixture()
def held_at_second(served: Served, monkeypatch) -> Iterator[HeldAtSegment]:
    engine = HeldAtSegment(served.engine, 1)
    monkeypatch.setattr(served.engine, "generate", engine.generate)
    yield engine
    engine.release.set()


@pytest.fixture()
def held_at_first(served: Served, monkeypatch) -> Iterator[HeldAtSegment]:
    engine = HeldAtSegment(served.engine, 0)
    monkeypatch.setattr(served.engine, "generate", engine.generate)
    yield engine
    engine.release.set()


def wait_on(page, condition, timeout_s: float = TIMEOUT_MS / 1000) -> None:
    """Poll `condition` while the page runs on: Playwright answers the page's requests (page.route) only
    while the test calls into it, so a plain sleep would hold the page up."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def set_max_duration(page, seconds: str) -> None:
    page.get_by_role("button", name="Advanced").click()
    page.locator("#max-duration input").fill(seconds)
    page.locator("#max-duration input").press("Tab")


def generate(page, text: str, max_seconds: str = "0.2") -> None:
    page.locator("#text textarea").fill(text)
    set_max_duration(page, max_seconds)
    page.locator("#generate").click()


# Item 5: progress on its own line, the player of finished segments free to see and pause


def test_progress_leaves_the_player_of_finished_segments_free(open_page, held_at_second):
    page = open_page()
    generate(page, SENTENCES * 4, max_seconds="1")  # two segments
    wait_on(page, held_at_second.held.is_set)
    playwright.expect(page.locator("#status")).to_contain_text("Segment 1 is ready")
    live = page.locator("#live")
    live.scroll_into_view_if_needed()
    play = live.get_by_role("button", name="Play", exact=True).or_(live.get_by_role("button", name="Pause", exact=True))
    play.first.click(trial=True, timeout=5_000)  # nothing over it: the segment can be seen, paused, played
    line = page.locator("#progress")
    playwright.expect(line).to_contain_text("Segment 2/2")  # where it is, on a line of its own
    playwright.expect(line).to_contain_text("so far")
    held_at_second.release.set()
    playwright.expect(page.locator("#status")).to_contain_text("Done")
    playwright.expect(line).to_be_empty()


def test_without_ffmpeg_the_segments_play_one_after_another(open_page):
    """The player cannot stream without ffmpeg (as here): a segment that finishes while another plays waits
    for its end instead of cutting it off. Segments 2 and 3 are made together (one batch), so 3 waits."""
    page = open_page()
    generate(page, SENTENCES * 6, max_seconds="3")  # three segments of 3 s
    label = page.locator("#live [data-testid='block-label']")
    first_seen: dict[str, float] = {}
    done_at = None
    started = time.monotonic()
    while len(first_seen) < 3 and time.monotonic() - started < TIMEOUT_MS / 1000:
        text = label.inner_text() if label.count() else ""
        if " of " in text:
            first_seen.setdefault(text.rsplit("· ", 1)[-1], time.monotonic())
        if done_at is None and "Done" in page.locator("#status").inner_text():
            done_at = time.monotonic()
        page.wait_for_timeout(50)
    assert list(first_seen) == ["1 of 3", "2 of 3", "3 of 3"]
    one, two, three = first_seen.values()
    assert two - one >= 2.5 and three - two >= 2.5  # each played to its end (3 s) before the next
    assert done_at is not None and done_at < three  # 3 was ready long before: it waited for 2


# Item 6: errors where the result would be, the status line true


def test_a_mistake_is_said_in_the_status_line_at_once(open_page):
    page = open_page()
    status = page.locator("#status")
    page.locator("#generate").click()  # no text
    playwright.expect(status).to_contain_text("The text is empty")
    page.locator("#text textarea").fill("Hello there.")
    page.locator("#voice input").fill("de")
    page.locator("#voice input").press("Tab")
    page.locator("#generate").click()
    playwright.expect(status).to_contain_text("No voice named 'de'")
    assert page.locator(".toast-body").count() == 0


def test_an_error_while_generating_ends_in_the_status_line(open_page, served, monkeypatch):
    def broken(*args, **kwargs):
        raise ModelFileError("The coarse model file is damaged: delete it and download it again.")

    monkeypatch.setattr(served.engine, "generate", broken)
    page = open_page()
    generate(page, "Hello there.")
    status = page.locator("#status")
    playwright.expect(status).to_contain_text("The coarse model file is damaged")
    assert "Starting" not in status.inner_text()
    page.get_by_role("tab", name="Clone").click()
    assert page.locator(".toast-body").count() == 0  # the error stays on the Generate tab, said once
    page.get_by_role("tab", name="Generate").click()
    playwright.expect(status).to_contain_text("The coarse model file is damaged")


# Item 7: a long job is shown and asked about before it runs


def test_a_long_text_is_shown_with_its_estimate_and_asked_about_once(open_page, served):
    page = open_page()
    status, confirm, table = page.locator("#status"), page.locator("#confirm"), page.locator("#segments")
    made_before = len(list(served.output_dir.glob("*.json")))
    generate(page, SENTENCES * 50)  # 25 segments
    playwright.expect(status).to_contain_text("This is a long one: 25 segments, about")
    playwright.expect(status).to_contain_text("of audio")
    playwright.expect(table).to_contain_text("Segments: 25 segments")  # what it would make, before it runs
    assert len(list(served.output_dir.glob("*.json"))) == made_before  # nothing generates meanwhile
    page.get_by_role("button", name="Yes, generate all 25 segments").click()
    playwright.expect(confirm).to_be_hidden()
    playwright.expect(status).to_contain_text("Done")
    assert "25 segment(s)" in status.inner_text()
    page.locator("#generate").click()  # the same text again: asked once, so not again
    playwright.expect(status).not_to_contain_text("Done")
    playwright.expect(status).to_contain_text("Done")
    assert len(list(served.output_dir.glob("*.json"))) == made_before + 2


# Item 8: a wait behind another tab's job said as it is; Cancel while waiting answers at once


def test_a_second_tab_is_told_what_it_waits_for_and_can_leave_the_line(open_page, served, held_at_first):
    first = open_page()
    generate(first, SENTENCES * 10, max_seconds="0")  # five segments at Bark's longest
    wait_on(first, held_at_first.held.is_set)  # it runs, held in its first step

    second = open_page()
    generate(second, "Second user.")
    line = second.locator("#progress")
    playwright.expect(line).to_contain_text("Waiting for the engine: 1 generation ahead of yours")
    playwright.expect(line).to_contain_text("(the one running: Segment 1/5 · text")
    second.get_by_role("button", name="Cancel").click()
    playwright.expect(second.locator("#status")).to_have_text("Cancelled before it started: nothing was generated.")
    playwright.expect(line).to_be_empty()
    assert not held_at_first.release.is_set()  # all that while, the first one still held the engine

    third = open_page()
    generate(third, "Third user.")
    playwright.expect(third.locator("#progress")).to_contain_text("1 generation ahead of yours")  # not 2
    held_at_first.release.set()
    first.get_by_role("button", name="Cancel").click()
    playwright.expect(third.locator("#status")).to_contain_text("Done")
    texts = [json.loads(f.read_text())["text"] for f in served.output_dir.glob("*.json")]
    assert "Third user." in texts and "Second user." not in texts


# Item 9: the voice picker, the Segments table, the seed boxes, the Download box


def test_a_voice_that_is_not_one_is_said_at_once(open_page):
    page = open_page()
    picker, note = page.locator("#voice input"), page.locator("#voice-note")
    picker.click()
    picker.fill("de")
    picker.press("Tab")
    playwright.expect(note).to_contain_text("No voice named 'de'")
    playwright.expect(note).to_contain_text("v2/de_speaker_0")  # what the user may have meant
    picker.click()
    picker.fill("v2/de_speaker_3")
    page.get_by_role("option", name="German › v2/de_speaker_3").click()
    playwright.expect(note).to_be_hidden()


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_the_segments_table_shows_its_seconds_whole(open_page, viewport):
    page = open_page(viewport)
    page.locator("#text textarea").fill(SENTENCES * 4)
    page.get_by_role("button", name="Show segments").click()
    header = page.locator("#segments th").filter(has_text="seconds")
    header.wait_for()
    page.locator("#segments").scroll_into_view_if_needed()
    fits = page.evaluate(
        """() => {
            const table = document.querySelector('#segments');
            const box = table.getBoundingClientRect();
            const th = [...table.querySelectorAll('th')].find(th => th.innerText.includes('seconds'));
            const column = [...th.parentElement.children].indexOf(th);
            const cells = [th, ...[...table.querySelectorAll('tbody tr')].map(tr => tr.children[column])];
            const inside = cells.every(c => c.getBoundingClientRect().right <= box.right + 1
                                         && c.getBoundingClientRect().left >= box.left - 1);
            // the word "seconds" on one line, not broken into "seco" / "nds"
            const text = [...th.querySelectorAll('*')].map(e => e.firstChild)
                .find(n => n && n.nodeType === 3 && n.textContent.includes('seconds'));
            const range = document.createRange();
            const at = text.textContent.indexOf('seconds');
            range.setStart(text, at);
            range.setEnd(text, at + 'seconds'.length);
            const rows = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
            return {inside, lines: rows.size, cells: cells.length};
        }"""
    )
    assert fits["inside"] and fits["lines"] == 1 and fits["cells"] >= 2  # the header and the rows shown


def test_no_seed_shows_that_is_not_used(open_page):
    page = open_page()
    seed, used = page.locator("#seed input"), page.locator("#seed-used input")
    random = page.locator("#random-seed input")
    assert random.is_checked() and not seed.is_visible()  # not a 0 that Random ignores
    assert not used.is_visible()  # not "Seed used: 0" before any generation
    random.uncheck()
    playwright.expect(seed).to_be_visible()
    seed.fill("7")
    generate(page, "Hello there.")
    playwright.expect(page.locator("#status")).to_contain_text("Done")
    playwright.expect(used).to_have_value("7")

    random.check()
    playwright.expect(seed).to_be_hidden()
    page.locator("#generate").click()
    playwright.expect(used).not_to_have_value("7")  # this generation's seed (the status says Done already)
    heard = used.input_value()
    random.uncheck()
    playwright.expect(seed).to_have_value(heard)  # untick Random to keep the seed just heard


def test_the_download_box_appears_with_a_file(open_page):
    page = open_page()
    download = page.locator("#download")
    assert not download.is_visible()  # no tall empty box before anything was made
    generate(page, "Hello there.")
    playwright.expect(page.locator("#status")).to_contain_text("Done")
    playwright.expect(download).to_contain_text(".wav")
    assert download.bounding_box()["height"] < 200

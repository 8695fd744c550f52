"""The app in headless Chromium: generate, clone, find the new voice. Screenshots for a person to look at.

Screenshots go to the test's tmp folder, and also to $SCREENSHOT_DIR when it is set
(e.g. SCREENSHOT_DIR=tests/webui/screenshots).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.options import GenerationOptions
from core.outputs import write_outputs

from .conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, Served, only_this_machine
from .helpers import voice_clip

playwright = pytest.importorskip("playwright.sync_api")
# A full-page screenshot repaints the whole page (no GPU) and waits for the fonts: slow on a busy
# machine, and only a picture for a person, so it gets its own, longer limit.
SCREENSHOT_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture()
def page(served: Served) -> Iterator:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", only_this_machine)
            page.goto(served.url)
            yield page
        finally:
            browser.close()


class Screenshots:
    def __init__(self, page, folder: Path):
        self.page, self.folders = page, [folder]
        if os.environ.get("SCREENSHOT_DIR"):
            self.folders.append(Path(os.environ["SCREENSHOT_DIR"]))

    def __call__(self, name: str) -> None:
        # Animations stopped and the caret hidden: a still page, taken once and written to each folder.
        png = self.page.screenshot(full_page=True, animations="disabled", caret="hide", timeout=SCREENSHOT_TIMEOUT_MS)
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.png").write_bytes(png)


def test_generate_clone_and_find_the_voice(served, page, tmp_path):
    shot = Screenshots(page, tmp_path / "screenshots")
    generate(page)
    shot("1-generate")
    cancel_a_long_generation(page, shot, served)

    clone(page, voice_clip(tmp_path / "speaker.wav"), "Robot")
    shot("3-clone")

    open_tab(page, "Voices")
    page.locator("#voices-table").get_by_text("Robot", exact=True).filter(visible=True).first.wait_for()
    shot("4-voices")

    open_tab(page, "Generate")
    page.locator("#voice input").click()
    page.locator("#voice input").fill("Robot")
    page.get_by_role("option", name="My voices › Robot").wait_for()
    shot("5-voice-picker")
    page.keyboard.press("Escape")

    open_tab(page, "History")
    pick_a_row_after_another_program_wrote_one(page, served)
    shot("6-history")
    open_tab(page, "Settings")
    page.locator("#engine-status").get_by_text("Models loaded").wait_for()
    shot("7-settings")


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def generate(page) -> None:
    page.locator("#text textarea").fill("Hello world. [laughs] This is Bark Studio.")
    page.get_by_role("button", name="Advanced").click()
    page.locator("#max-duration input").fill("0.2")
    page.locator("#max-duration input").press("Tab")
    page.locator("#generate").click()
    page.locator("#status").get_by_text("Done").wait_for()
    page.locator("#result audio, #result [data-testid='waveform-Audio']").first.wait_for(state="attached")
    assert int(page.locator("#seed-used input").input_value()) >= 0


def cancel_a_long_generation(page, shot, served: Served) -> None:
    page.locator("#text textarea").fill("This is one of many sentences, each a segment of its own. " * 30)
    page.locator("#max-duration input").fill("0")  # Bark's maximum, about 2 s a segment on the tiny models
    page.locator("#max-duration input").press("Tab")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(served.engine, "generate", held_after_the_first_step(served.engine.generate))
        page.locator("#generate").click()
        # The status of the first generation ("Done: ...") is gone before Cancel's answer is read.
        playwright.expect(page.locator("#status")).not_to_contain_text("Done", timeout=TIMEOUT_MS)
        page.get_by_text(re.compile(r"Segment 1(–\d+)?/\d+ · ")).first.wait_for()
        shot("2-generating")
        page.get_by_role("button", name="Cancel").click()
        status = page.locator("#status").get_by_text(re.compile("Cancelled|Done"))
        status.wait_for()
        assert status.inner_text() == "Cancelled."


def held_after_the_first_step(generate):
    """Engine.generate whose first progress report waits (up to TIMEOUT_MS) for the cancel event: the
    generation is still running when Cancel is pressed, however slow the machine (on a busy one the
    whole generation could otherwise end before the click lands). Cancel must then stop it."""

    def held(text, voice=None, options=None, progress=None, cancel=None, **kwargs):
        first = threading.Event()

        def report(p) -> None:
            if progress is not None:
                progress(p)
            if cancel is not None and not first.is_set():
                first.set()
                cancel.wait(TIMEOUT_MS / 1000)

        return generate(text, voice, options, report, cancel, **kwargs)

    return held


def pick_a_row_after_another_program_wrote_one(page, served: Served) -> None:
    """A generation written elsewhere (e.g. bark_perform.py) after the table was drawn moves every
    row down in the folder; a click must still pick the row the user sees."""
    row = page.locator("#history-table").get_by_text("Hello world", exact=False).filter(visible=True).first
    row.wait_for()
    options = GenerationOptions(seed=1, max_duration_s=0.2)
    write_outputs(
        served.engine.generate("Written elsewhere.", options=options), served.engine, served.output_dir, "wav"
    )
    row.click()
    picker = page.locator("#history-picker input")
    page.wait_for_function("() => document.querySelector('#history-picker input').value.includes('Hello world')")
    assert "Written elsewhere" not in picker.input_value()


def clone(page, clip: Path, name: str) -> None:
    open_tab(page, "Clone")
    page.locator("#clone-audio input[type=file]").set_input_files(str(clip))
    page.locator("#clone-name textarea, #clone-name input").first.fill(name)
    page.locator("#sample-seconds input[type=number]").fill("0.2")
    page.locator("#sample-seconds input[type=number]").press("Tab")
    page.locator("#clone").click()
    page.locator("#clone-notes").get_by_text(f"Saved {name}").wait_for()

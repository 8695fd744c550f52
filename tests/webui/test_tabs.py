"""Tabs that go away: a closed browser tab must not keep the engine busy for everyone else."""

from __future__ import annotations

import inspect
import re
import threading

import pytest

from tests.serving import wait_until

from .conftest import CHROMIUM, CHROMIUM_ARGS, Served

playwright = pytest.importorskip("playwright.sync_api")
LONG_TEXT = "This is one of many sentences, each a segment of its own. " * 30

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


class HeldEngine:
    """Holds the first generation inside its first step (in the worker thread) until `release`, so
    a test can act while the engine is busy and the page's handler cannot run; records each
    generation's cancel event."""

    def __init__(self, engine):
        self.cancels: list[threading.Event] = []
        self.held, self.release = threading.Event(), threading.Event()
        self._real = engine.generate

    def generate(self, *args, **kwargs):
        call = inspect.signature(self._real).bind(*args, **kwargs)
        self.cancels.append(call.arguments["cancel"])
        report = call.arguments.get("progress")

        def progress(p):
            if not self.held.is_set():
                self.held.set()
                self.release.wait(60)
            if report is not None:
                report(p)

        call.arguments["progress"] = progress
        return self._real(*call.args, **call.kwargs)


@pytest.fixture()
def held(served: Served, monkeypatch):
    engine = HeldEngine(served.engine)
    monkeypatch.setattr(served.engine, "generate", engine.generate)
    yield engine
    engine.release.set()


def generate(page, url: str, text: str, max_seconds: str) -> None:
    page.goto(url)
    page.locator("#text textarea").fill(text)
    page.get_by_role("button", name="Advanced").click()
    page.locator("#max-duration input").fill(max_seconds)
    page.locator("#max-duration input").press("Tab")
    page.locator("#generate").click()


def test_closing_a_tab_cancels_its_generation(served, held):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(120_000)
            page = context.new_page()
            generate(page, served.url, LONG_TEXT, "0")  # Bark's maximum, about 2 s a segment on the tiny models
            wait_until(held.held.is_set)
            assert len(held.cancels) == 1 and not held.cancels[0].is_set()
            page.close()  # the heartbeat connection drops: Gradio's unload event
            wait_until(held.cancels[0].is_set)  # at once, while the engine is still inside its step
            held.release.set()
            wait_until(lambda: not served.engine._lock.locked())  # the step ends: Cancelled, the engine is free

            other = context.new_page()
            generate(other, served.url, "Hello there.", "0.2")
            other.locator("#status").get_by_text(re.compile("^Done")).wait_for()
        finally:
            browser.close()

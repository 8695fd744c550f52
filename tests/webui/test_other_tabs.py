"""The Clone, Voices, History and Settings tabs, and the app at a phone's width, in headless Chromium
(tiny models, served as bark_webui.py serves them)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from .conftest import HOST, Served

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TIMEOUT_MS = 60_000  # how long to wait for a state of the page before failing
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def open_page(browser, served: Served):
    """open_page(viewport=DESKTOP): a new page of the app, loaded; closed after the test."""
    pages = []

    def open_page(viewport: dict = DESKTOP):
        page = browser.new_page(viewport=viewport)
        pages.append(page)
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*", _only_this_machine)
        page.goto(served.url)
        page.locator("#text textarea").wait_for()
        return page

    yield open_page
    for page in pages:
        page.close()


def _only_this_machine(route) -> None:
    if urlparse(route.request.url).hostname == HOST or route.request.url.startswith("data:"):
        route.continue_()
    else:
        route.abort()


def box(page, selector: str) -> dict:
    """The bounding box (x, y, width, height, in CSS pixels of the page) of the first match."""
    return page.locator(selector).first.bounding_box()


# At a phone's width


def test_at_a_phones_width_every_tab_is_one_tap_away(open_page):
    page = open_page(PHONE)
    for name in ["Generate", "Clone", "Voices", "History", "Settings"]:
        tab = page.get_by_role("tab", name=name)
        assert tab.is_visible(), f"the {name} tab is hidden (behind the overflow menu?)"
        tab.click()
        playwright.expect(tab).to_have_attribute("aria-selected", "true")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sideways


def test_at_a_phones_width_generate_sits_under_the_text_box(open_page):
    page = open_page(PHONE)
    text, button = box(page, "#text textarea"), box(page, "#generate")
    assert 0 <= button["y"] - (text["y"] + text["height"]) < 100
    assert button["y"] + button["height"] <= PHONE["height"]  # on the first screen, no scrolling
    status, live, voice = box(page, "#status"), box(page, "#live"), box(page, "#voice")
    assert button["y"] < status["y"] < live["y"] < voice["y"]  # what happens shows where the button is


def test_on_a_desktop_generate_stays_below_both_columns(open_page):
    page = open_page(DESKTOP)
    text, voice, button = box(page, "#text"), box(page, "#voice"), box(page, "#generate")
    assert voice["x"] > text["x"] + text["width"] - 1  # two columns side by side
    assert button["y"] > voice["y"] + voice["height"]

"""The web app served as `python bark_webui.py` serves it (the UI mounted beside the API, behind the
door) on 127.0.0.1 at a free port, over the tiny models; one server per test module. And the headless
Chromium the browser tests drive (`browser`, `open_page`), which reaches nothing but that server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core.engine import Engine, EngineSettings
from tests.serving import serve
from webui.app import create_app
from webui.server import create_server
from webui.studio import Studio

HOST = "127.0.0.1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TIMEOUT_MS = 60_000  # how long to wait for a state of the page before failing
PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


@dataclass(frozen=True)
class Served:
    url: str
    engine: Engine
    output_dir: Path
    app: object  # gr.Blocks


@pytest.fixture(scope="module")
def served(tiny_models, tmp_path_factory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("webui")
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=root / "prompts", device="cpu", allow_download=False)
    engine = Engine(settings)
    output_dir = root / "outputs"
    studio = Studio(engine, output_dir)
    app = create_app(studio, stream_audio=False)
    with serve(create_server(studio, ui=app, local_only=True)) as url:
        yield Served(f"{url}/", engine, output_dir, app)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """A headless Chromium for the module's tests (skipped without Playwright or Chromium)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def open_page(browser, served: Served):
    """open_page(viewport=LAPTOP): the app, loaded in a new tab of its own (its own session); closed
    after the test."""
    contexts = []

    def open_page(viewport: dict = LAPTOP):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*", only_this_machine)
        page.goto(served.url)
        page.locator("#text textarea").wait_for()
        return page

    yield open_page
    for context in contexts:
        context.close()


def only_this_machine(route) -> None:
    """The page may talk to the app on 127.0.0.1 and nothing else (fonts, CDNs, analytics)."""
    if urlparse(route.request.url).hostname == HOST or route.request.url.startswith("data:"):
        route.continue_()
    else:
        route.abort()

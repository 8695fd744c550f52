"""A live API server on the tiny pack: uvicorn on 127.0.0.1 and a free port, in a thread.

The tiny random models never stop on their own, so the engine here caps every segment at
0.1 s and every generation at 3 segments (a project's segments at 0.3 s); whatever a request asks, it
stays short.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.engine import Engine, EngineSettings
from core.options import GenerationOptions
from tests.serving import serve
from webui.server import create_server
from webui.studio import Studio

QUICK = {"voice": "none", "response_format": "pcm", "stream": False}  # a request body's usual rest
SEGMENT_CAP_S = 0.1
PROJECT_SEGMENT_CAP_S = 0.3
MAX_SEGMENTS = 3


class ShortEngine(Engine):
    """The real engine, with every segment capped at SEGMENT_CAP_S and at most MAX_SEGMENTS segments.

    `before_generate` (if set) runs in the worker thread at the start of each generation, so a
    test can hold a generation back; `progress_log` records (time, Progress) of every step."""

    before_generate = None
    on_progress = None
    before_segments = None  # (texts, cancel) at the start of each batch of a project's segments
    max_project_texts = None  # a project batch's texts beyond this are left pending (a fuzzer's long texts)

    def __init__(self, settings: EngineSettings):
        super().__init__(settings)
        self.progress_log: list = []
        self.failures: list[Exception] = []  # what generations raised (e.g. Cancelled)
        self.cancels: list = []  # the cancel event of every generation

    def plan(self, text, options=None, seed=0):
        return super().plan(text, options, seed)[:MAX_SEGMENTS]

    def generate(self, text, voice=None, options=None, progress=None, cancel=None, allow_paths=True, on_segment=None):
        options = options or GenerationOptions()
        cap = min(options.max_duration_s or SEGMENT_CAP_S, SEGMENT_CAP_S)
        self.cancels.append(cancel)
        if self.before_generate is not None:
            self.before_generate(text)

        def record(p):
            self.progress_log.append((time.monotonic(), p))
            if self.on_progress is not None:
                self.on_progress(p)
            if progress is not None:
                progress(p)

        try:
            return super().generate(
                text, voice, options.replace(max_duration_s=cap), record, cancel, allow_paths, on_segment=on_segment
            )
        except Exception as e:
            self.failures.append(e)
            raise

    def generate_segments(self, texts, seeds, voice, options, progress=None, cancel=None, allow_paths=True, **kw):
        cap = min(options.max_duration_s or PROJECT_SEGMENT_CAP_S, PROJECT_SEGMENT_CAP_S)
        if self.max_project_texts is not None:
            texts, seeds = texts[: self.max_project_texts], seeds[: self.max_project_texts]
        if self.before_segments is not None:
            self.before_segments(texts, cancel)
        return super().generate_segments(
            texts, seeds, voice, options.replace(max_duration_s=cap), progress, cancel, allow_paths, **kw
        )


def make_engine(models: Path, prompts: Path) -> ShortEngine:
    return ShortEngine(EngineSettings(models_dir=models, prompts_dir=prompts, device="cpu", allow_download=False))


@pytest.fixture(scope="session")
def api_engine(tiny_models, tmp_path_factory) -> ShortEngine:
    return make_engine(tiny_models, tmp_path_factory.mktemp("api-prompts"))


@pytest.fixture(scope="session")
def api_url(api_engine) -> Iterator[str]:
    """One server for the tests that need no special settings (no key, a line of 16)."""
    with serve(
        create_server(
            Studio(api_engine, None, allow_paths=False),
            api_key=None,
            cors_origins=["http://localhost:3000"],
            max_queue=16,
        )
    ) as url:
        yield url


@pytest.fixture()
def client(api_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=60) as c:
        yield c

"""The web app served as `python bark_webui.py` serves it (the UI mounted beside the API, behind the
door) on 127.0.0.1 at a free port, over the tiny models; one server per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.engine import Engine, EngineSettings
from tests.serving import serve
from webui.app import create_app
from webui.server import create_server
from webui.studio import Studio

HOST = "127.0.0.1"


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

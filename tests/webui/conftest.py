"""The web app served on 127.0.0.1 (a free port) over the tiny models, one server per test module."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.engine import Engine, EngineSettings
from webui.app import create_app, launch_options

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Served:
    url: str
    engine: Engine
    output_dir: Path
    app: object  # gr.Blocks


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_models, tmp_path_factory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("webui")
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=root / "prompts", device="cpu", allow_download=False)
    engine = Engine(settings)
    output_dir = root / "outputs"
    app = create_app(engine, output_dir, stream_audio=False)
    port = free_port()
    app.launch(server_name=HOST, server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(output_dir))
    try:
        yield Served(f"http://{HOST}:{port}/", engine, output_dir, app)
    finally:
        app.close()

"""`python bark_webui.py` as a process: it keeps answering while it works, and SIGTERM stops it soon,
whatever it is doing (a generation, a stream, the UI's open event streams)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
LONG = {"input": "This is one of many sentences, each a segment of its own. " * 40, "voice": "none"}
STOP_DEADLINE_S = 15  # SIGTERM: cancel (one step), then at most 3 s for open connections; slack for a busy CI


@pytest.fixture()
def server(tiny_models, tmp_path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    args = [sys.executable, str(ROOT / "bark_webui.py"), "--models-dir", str(tiny_models), "--offline"]
    args += ["--device", "cpu", "--port", str(port), "--prompts-dir", str(tmp_path / "prompts")]
    args += ["--output-dir", str(tmp_path / "outputs")]
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url) or process.poll() is not None, timeout=120)
        assert process.poll() is None, process.stderr.read().decode()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stream_in_background(url: str, body: dict) -> threading.Event:
    """Start a streamed generation; the event is set once its first segment has arrived."""
    first = threading.Event()

    def read() -> None:
        try:
            with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as response:
                for _ in response.iter_raw():
                    first.set()
        except httpx.HTTPError:
            pass  # the server went away mid-stream: expected here

    threading.Thread(target=read, daemon=True).start()
    return first


def test_health_answers_while_a_generation_and_a_hostile_pattern_run(server):
    _, url = server
    assert stream_in_background(url, {**LONG, "response_format": "pcm"}).wait(120)
    with httpx.Client(base_url=url, timeout=10) as client:
        hostile = {"input": "a" * 40, "voice": "none", "split": {"mode": "regex", "pattern": "(a|a)+b"}}
        answer: list[httpx.Response] = []
        threading.Thread(target=lambda: answer.append(client.post("/v1/audio/speech", json=hostile))).start()
        for _ in range(5):
            assert client.get("/health").status_code == 200  # within the client's timeout, every time
        wait_until(lambda: answer)
        assert answer[0].status_code == 422 and answer[0].json()["error"]["param"] == "split.pattern"


def test_sigterm_stops_the_server_while_it_generates_and_streams(server):
    process, url = server
    threading.Thread(target=_hold_the_ui_open, args=(url,), daemon=True).start()
    assert stream_in_background(url, {**LONG, "response_format": "pcm"}).wait(120)  # a segment is out: it runs
    os.kill(process.pid, signal.SIGTERM)
    process.wait(STOP_DEADLINE_S)  # before: a running stream kept it alive; only kill -9 stopped it
    log = process.stderr.read().decode()
    assert "cancelled 1 running job" in log and "Traceback" not in log  # the open tab's stream ended too


def _hold_the_ui_open(url: str) -> None:
    """What an open browser tab holds: Gradio's heartbeat event stream."""
    try:
        with httpx.stream("GET", f"{url}/gradio_api/heartbeat/tab", timeout=120) as response:
            for _ in response.iter_raw():
                pass
    except httpx.HTTPError:
        pass

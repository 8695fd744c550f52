"""`bark_webui.py --api-only --ray ADDRESS`: the REST API on a Ray cluster that was there before the
command (its own driver's), with this checkout shipped as the working_dir; stopping the command takes
the application down and leaves the cluster running."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.serving import free_port, wait_until

pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra (pip install '.[ray]'): not tested")

ROOT = Path(__file__).resolve().parents[2]
KEY = "existing-cluster-key"


@pytest.fixture
def head(tmp_path):
    """`ray start --head` with token authentication (as a cluster whose machine had a token when it
    started); yields its address and the path of its token. Its processes stop with it."""
    token = tmp_path / "ray-token"
    token.write_text(secrets.token_hex(32))
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"  # a test's cluster stops at once (no 30-s drain)
    command = ["ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=3", "--include-dashboard=false"]
    command += ["--disable-usage-stats", f"--ray-client-server-port={free_port()}"]  # not the default 10001
    # its own process group: whatever happens, its Ray processes can be stopped with it
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: _listens(port) or process.poll() is not None, timeout=60)
        assert process.poll() is None, "ray start --head failed"
        yield Head(f"127.0.0.1:{port}", token, process)
    finally:
        process.terminate()  # --block: its Ray processes go with it
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Head:
    address: str
    token: Path
    process: subprocess.Popen


def test_the_api_on_an_existing_cluster_serves_and_stops_without_the_cluster(head, tiny_models, tmp_path):
    """Where the token is, is all the command is told: it must ask for token mode (Ray does not)."""
    port = free_port()
    command = [
        *(sys.executable, str(ROOT / "bark_webui.py"), "--api-only", "--ray", head.address, "--port", str(port)),
        *("--models-dir", str(tiny_models), "--prompts-dir", str(tmp_path / "prompts"), "--offline"),
        *("--projects-dir", str(tmp_path / "projects"), "--device", "cpu", "--api-key", KEY),
    ]
    env = {**os.environ, "RAY_AUTH_TOKEN_PATH": str(head.token), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_AUTH_MODE", None)
    api = subprocess.Popen(command, cwd=tmp_path, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health") or api.poll() is not None, timeout=180)
        assert api.poll() is None, "the command stopped"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
            body = {"model": "bark", "voice": "none", "input": "Hello there.", "max_duration_s": 0.2, "stream": False}
            answer = client.post("/v1/audio/speech", json={**body, "response_format": "wav"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Bark-Replica"] and answer.content[:4] == b"RIFF"
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            returned = api.wait(60)
        except subprocess.TimeoutExpired:
            api.kill()
            raise
    assert returned == 0
    assert head.process.poll() is None  # the cluster is still there
    wait_until(lambda: not _answers(f"{url}/health"), timeout=60)  # the application is gone


def _listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False

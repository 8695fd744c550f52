"""The install and launch files: Dockerfile, conda environments, the Colab notebook.

No image can be built here, so the Dockerfile is checked by parsing, and its command is the one
these tests launch (on 127.0.0.1, a free port and the tiny pack).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest
import yaml

import bark_webui

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ["bark-studio", "--listen", "--port", "7860"]  # the image's command: bark_webui.py, installed


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions as (KEYWORD, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            parent, _, name = args.partition(" AS ")
            current = list(stages.get(parent.strip(), []))  # a stage inherits its parent's settings
            stages[name.strip()] = current
        current.append((keyword.upper(), args.strip()))
    return stages


def last(stage: list[tuple[str, str]], keyword: str) -> str:
    return [args for k, args in stage if k == keyword][-1]


@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_dockerfile_targets_serve_on_7860_with_volumes_and_a_health_check(target):
    stage = dockerfile_stages()[target]
    assert json.loads(last(stage, "CMD")) == LAUNCH
    assert last(stage, "EXPOSE") == "7860"
    volumes = json.loads(last(stage, "VOLUME"))
    kept = {"/root/.cache/huggingface", "/app/prompts", "/app/outputs", "/app/projects"}
    assert kept <= set(volumes)  # models, voices, outputs and projects outlive the container
    assert last(stage, "WORKDIR") == "/app" and "HF_HOME=/root/.cache/huggingface" in last(stage, "ENV")
    assert "http://127.0.0.1:7860/health" in last(stage, "HEALTHCHECK")
    installs = " ".join(args for k, args in stage if k == "RUN")
    assert "pip install -r requirements-pip.txt" in installs and "pip install --no-deps ." in installs
    assert "apt-get install -y --no-install-recommends ffmpeg" in installs  # segments stream as they are made
    assert ("download.pytorch.org/whl/cpu" in installs) == (target == "cpu")


def test_dockerignore_keeps_user_data_and_history_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", "prompts", "outputs", "models", "**/__pycache__"} <= ignored


@pytest.mark.parametrize(
    ("name", "torch"), [("environment-cuda.yml", "pytorch-gpu"), ("environment-cpu.yml", "pytorch-cpu")]
)
def test_conda_environments(name, torch):
    env = yaml.safe_load((ROOT / name).read_text())
    dependencies = env["dependencies"]
    assert "python=3.11" in dependencies and any(str(d).startswith(torch) for d in dependencies)
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict))
    assert pip == ["-r requirements-pip.txt"] and (ROOT / "requirements-pip.txt").is_file()


def notebook_commands() -> list[str]:
    notebook = nbformat.read(ROOT / "notebooks" / "colab.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_notebook_installs_the_standard_way_and_launches_in_one_cell_each():
    install, launch = notebook_commands()
    assert install.splitlines()[-1] == '!pip install -q "git+{REPO_URL}"'
    assert "colab.research.google.com/github/" in install  # says exactly what REPO_URL is
    readme = (ROOT / "README.md").read_text()
    assert "pip install . && bark-studio --inbrowser" in readme
    assert launch.removeprefix("!") in readme  # the README shows the notebook's launch command
    argv = shlex.split(launch.removeprefix("!"))
    assert argv[:1] == LAUNCH[:1] and argv[1:] == ["--share"]
    bark_webui.build_parser().parse_args(argv[1:])  # flags the launcher knows
    bark_webui.build_parser().parse_args(LAUNCH[1:])


def test_the_notebook_refuses_an_empty_repo_url_saying_what_to_fill_in():
    install, _ = notebook_commands()
    python = "\n".join(line for line in install.splitlines() if not line.startswith("!"))
    with pytest.raises(ValueError, match=r"like https://github\.com/OWNER/REPO"):
        exec(python, {})


def test_pip_install_gives_the_three_commands(tmp_path):
    """`pip install .` (or from a git URL): a wheel of the packages with console entry points that run."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "tests", "bench", "notebooks", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source], check=True)
    (wheel,) = (tmp_path / "dist").glob("bark_studio-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True)
    site = tmp_path / "site"
    assert {p.name for p in site.iterdir()} >= {"core", "cloning", "webui", "bark_webui.py", "bark_perform.py"}
    assert not (site / "tests").exists()
    env = {**os.environ, "PYTHONPATH": str(site)}
    for command, words in (("bark-studio", "--api-only"), ("bark-perform", "--prompt-file"), ("bark-clone", "--name")):
        done = subprocess.run([site / "bin" / command, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0 and words in done.stdout, done.stderr
    dry = [site / "bin" / "bark-perform", "--text", "Hello there.", "--dry-run"]
    done = subprocess.run(dry, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "1 segment(s)" in done.stdout, done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_docker_command_starts_a_server_that_answers_health(tiny_models, tmp_path):
    """LAUNCH as the image runs it, but on 127.0.0.1 (no --listen) and a free port, offline."""
    port = free_port()
    argv = [sys.executable, str(ROOT / "bark_webui.py"), *[a for a in LAUNCH[1:] if a != "--listen"]]
    argv[argv.index("--port") + 1] = str(port)
    argv += ["--models-dir", str(tiny_models), "--offline", "--device", "cpu"]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("BARK_API_KEY", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer /health within 90 s"
                time.sleep(0.5)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)  # the UI beside the API
        assert page.status_code == 200 and "gradio" in page.text.lower()
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_bark_api_servers_docker_recipe_is_in_the_readme_with_the_one_changed_number():
    """`docker build -t bark-api .` builds the last stage (no target): it must be the CPU image, listening
    where the README's recipe maps 8001 to."""
    stages = dockerfile_stages()
    default = list(stages)[-1]
    assert default == "cpu" and last(stages[default], "EXPOSE") == "7860"
    assert json.loads(last(stages[default], "CMD")) == LAUNCH
    readme = (ROOT / "README.md").read_text()
    assert "> docker build -t bark-api .\n" in readme
    assert "> docker run -p 8001:7860 -v $(pwd)/hf-cache:/root/.cache/huggingface bark-api\n" in readme
    assert "listens on\n> **7860**, not 8000" in readme
    assert "curl -X POST http://localhost:8001/generate-audio/" in readme

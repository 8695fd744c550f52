"""The whole server as a hostile client meets it: Gradio's raw API with paths of the server's own files,
every route without credentials, pages of other origins, and names that are not this machine's.

Each server here is `create_server` with the UI mounted, as `python bark_webui.py` builds it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import gradio.utils
import httpx
import pytest

from core.engine import Engine, EngineSettings
from tests.serving import serve
from webui.app import create_app
from webui.server import create_server
from webui.studio import Studio

KEY = "k3y"
LOGIN = ("me", "pw")


def make_server(tiny_models: Path, root: Path, **options) -> tuple[Engine, object, object]:
    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=root / "prompts", device="cpu"))
    studio = Studio(engine, root / "outputs", allow_paths=options.get("local_only", False))
    blocks = create_app(studio, stream_audio=False)
    return engine, blocks, create_server(studio, ui=blocks, **options)


@pytest.fixture(scope="module")
def open_server(tiny_models, tmp_path_factory) -> Iterator[tuple[str, Engine, object]]:
    root = tmp_path_factory.mktemp("door-open")
    engine, blocks, app = make_server(tiny_models, root, local_only=True)
    with serve(app) as url:
        yield url, engine, blocks


@pytest.fixture(scope="module")
def guarded_server(tiny_models, tmp_path_factory) -> Iterator[tuple[str, Engine, object]]:
    root = tmp_path_factory.mktemp("door-guarded")
    engine, blocks, app = make_server(tiny_models, root, api_key=KEY, login=LOGIN, local_only=True)
    with serve(app) as url:
        yield url, engine, blocks


def gradio_call(client: httpx.Client, blocks, api_name: str, given: dict[int, object]) -> tuple[str, object]:
    """POST /gradio_api/call/<api_name> with the inputs' defaults, input i replaced by given[i], then
    read the result: ("complete" or "error", data)."""
    fn = next(f for f in blocks.fns.values() if f.api_name == api_name)
    data = [given.get(i, _default(component)) for i, component in enumerate(fn.inputs)]
    started = client.post(f"/gradio_api/call/{api_name}", json={"data": data})
    assert started.status_code == 200, started.text
    with client.stream("GET", f"/gradio_api/call/{api_name}/{started.json()['event_id']}", timeout=30) as events:
        event = None
        for line in events.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event in ("complete", "error"):
                return event, json.loads(line.removeprefix("data: "))
    raise AssertionError("the call ended without a result")


def _default(component) -> object:
    return None if isinstance(component, gr.State) else getattr(component, "value", None)


def file_data(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def uploaded_files() -> set[Path]:
    """Every file in Gradio's upload folder (its cache), where a file input's file is copied first."""
    folder = Path(gradio.utils.get_upload_folder())
    return {p for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()


# File inputs: only what was uploaded through this server


@pytest.fixture()
def foreign_voice(open_server, tmp_path) -> Path:
    """A valid voice .npz somewhere on the server's disk that nobody uploaded."""
    _, engine, _ = open_server
    prompt, _ = engine.resolve_voice("v2/en_speaker_1")
    return prompt.save(tmp_path / "elsewhere" / "voice.npz")


@pytest.mark.parametrize("kind", ["foreign file", "passwd", "device", "folder", "fifo", "dotdot"])
def test_file_inputs_refuse_what_was_not_uploaded(open_server, foreign_voice, tmp_path, kind):
    url, engine, blocks = open_server
    fifo = tmp_path / "pipe.npz"
    if kind == "fifo":
        os.mkfifo(fifo)
    upload_folder = gradio.utils.get_upload_folder()
    path = {
        "foreign file": foreign_voice,
        "passwd": "/etc/passwd",
        "device": "/dev/zero",
        "folder": tmp_path,
        "fifo": fifo,
        "dotdot": f"{upload_folder}/../../{foreign_voice}",
    }[kind]
    cached = uploaded_files()
    with httpx.Client(base_url=url, timeout=30) as client:
        # import_voice(path, name, overwrite), clone(audio, name, ...), generate(text, voice, session, voice_file, ...)
        event, _ = gradio_call(client, blocks, "import_voice", {0: file_data(path), 1: "stolen"})
        assert event == "error" and not engine.library.exists("stolen")
        event, _ = gradio_call(client, blocks, "clone", {0: file_data(path), 1: "stolen-clip"})
        assert event == "error" and not engine.library.exists("stolen-clip")
        event, _ = gradio_call(client, blocks, "generate", {0: "hi", 3: file_data(path)})
        assert event == "error"
        assert client.get("/voices/stolen").status_code == 404
        assert client.get("/health").status_code == 200  # /dev/zero or a pipe hung the server once
    copied = {p.name for p in uploaded_files() - cached}
    assert Path(path).name not in copied  # refused before Gradio copied it into its cache


def test_a_file_uploaded_through_the_server_is_accepted(open_server, foreign_voice):
    url, engine, blocks = open_server
    with httpx.Client(base_url=url, timeout=30) as client:
        uploaded = client.post("/gradio_api/upload", files={"files": ("mine.npz", foreign_voice.read_bytes())})
        assert uploaded.status_code == 200, uploaded.text
        event, data = gradio_call(client, blocks, "import_voice", {0: file_data(uploaded.json()[0]), 1: "mine"})
        assert event == "complete" and "Imported **mine**" in data[0] and engine.library.exists("mine")


# One door: credentials for everything but /health


def test_without_credentials_only_health_answers(guarded_server, foreign_voice):
    url, engine, _ = guarded_server
    engine.library.import_file(foreign_voice, "keep-me")
    paths = {"/", "/config", "/docs", "/openapi.json", "/voices", "/v1/models", "/gradio_api/info", "/theme.css"}
    paths |= {"/gradio_api/upload", "/gradio_api/queue/data", "/gradio_api/heartbeat/x", "/voices/keep-me"}
    paths |= {"/gradio_api/file=/etc/passwd", "/monitoring", "/login", "/gradio_api/call/status"}
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").status_code == 200
        for path in sorted(paths):
            for method in ("GET", "POST"):
                assert client.request(method, path).status_code == 401, (method, path)
        deleted = client.post("/gradio_api/call/delete_voice", json={"data": ["keep-me"]})
        assert deleted.status_code == 401 and engine.library.exists("keep-me")
        assert client.post("/gradio_api/call/status", json={"data": []}).status_code == 401


@pytest.mark.parametrize(
    ("auth", "headers"),
    [(LOGIN, {}), (("anyone", KEY), {}), (None, {"Authorization": f"Bearer {KEY}"})],
    ids=["login", "key as password", "bearer key"],
)
def test_the_login_or_the_key_opens_everything(guarded_server, auth, headers):
    url, _, blocks = guarded_server
    with httpx.Client(base_url=url, timeout=30, auth=auth, headers=headers) as client:
        for path in ("/", "/config", "/docs", "/openapi.json", "/voices"):
            assert client.get(path).status_code == 200, path
        event, data = gradio_call(client, blocks, "status", {})
        assert event == "complete" and "Device" in data[0]


def test_wrong_credentials_are_refused(guarded_server):
    url, _, _ = guarded_server
    with httpx.Client(base_url=url, timeout=30) as client:
        for auth in [("me", "nope"), ("you", "pw"), ("me", KEY + "x")]:
            refused = client.get("/config", auth=auth)
            assert refused.status_code == 401 and refused.headers.get_list("WWW-Authenticate")[-1].startswith("Basic")
        assert client.get("/config", headers={"Authorization": "Bearer nope"}).status_code == 401
        for garbage in (b"Basic !!!", b"Basic \xe9", b"Basic " + base64.b64encode(b"\xff:\xfe"), b"Basic"):
            assert client.get("/config", headers={"Authorization": garbage}).status_code == 401, garbage


# Other origins and other names


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:1", "null", "http://evil.example"])
def test_pages_of_other_origins_cannot_drive_the_server(open_server, origin, foreign_voice):
    url, engine, _ = open_server
    engine.library.import_file(foreign_voice, "target", overwrite=True)
    with httpx.Client(base_url=url, timeout=30, headers={"Origin": origin}) as client:
        preflight = client.options("/gradio_api/call/delete_voice", headers={"Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-credentials" not in preflight.headers
        simple = client.post("/gradio_api/call/delete_voice", json={"data": ["target"]})
        assert simple.status_code == 403 and "access-control-allow-origin" not in simple.headers
        assert (
            client.post(
                "/voices", files={"file": ("x.npz", foreign_voice.read_bytes())}, data={"name": "x"}
            ).status_code
            == 403
        )
    assert engine.library.exists("target") and not engine.library.exists("x")


def test_the_page_itself_and_cors_origins_are_let_in(tiny_models, tmp_path):
    _, _, app = make_server(tiny_models, tmp_path, cors_origins=["http://localhost:3000"], local_only=True)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/config", headers={"Origin": url}).status_code == 200  # same origin
        allowed = client.get("/voices", headers={"Origin": "http://localhost:3000"})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert client.get("/voices", headers={"Origin": "http://localhost:3001"}).status_code == 403


def test_a_local_server_answers_only_to_this_machines_names(open_server):
    url, _, _ = open_server
    port = url.rsplit(":", 1)[1]
    with httpx.Client(base_url=url, timeout=30) as client:
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"0.0.0.0:{port}", f"127.0.1.1:{port}"):
            assert client.get("/voices", headers={"Host": host}).status_code == 200, host
        rebound = client.get("/voices", headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 421 and f"127.0.0.1:{port}" in rebound.json()["detail"]
        for host in (f"192.168.1.5:{port}", f"localhost.attacker.example:{port}", ""):
            assert client.get("/voices", headers={"Host": host}).status_code == 421, host


# What a user on another machine sees of the server's folders


def test_a_remote_user_sees_no_folder_redactor(tiny_models, tmp_path):
    from cloning import VoiceCloner
    from core.options import GenerationOptions
    from core.outputs import write_outputs

    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path / "prompts", device="cpu"))
    result = engine.generate("Hello.", options=GenerationOptions(seed=1, max_duration_s=0.2))
    _, sidecar, _ = write_outputs(result, engine, tmp_path / "outputs", "wav", save_voice=True)
    remote = Studio(engine, tmp_path / "outputs", VoiceCloner(engine), allow_paths=False)
    audio, files, settings = remote.entry_view(sidecar.stem)
    assert str(tmp_path) not in json.dumps(settings) and "the models folder" in json.dumps(settings)
    assert sidecar not in files and audio in files  # the settings file keeps the paths, for this machine
    assert str(tmp_path) not in remote.status()
    page = create_app(remote, stream_audio=False).get_config_file()
    assert str(tiny_models) not in json.dumps(page, default=str)  # the Settings tab's models folder
    local = Studio(engine, tmp_path / "outputs", VoiceCloner(engine), allow_paths=True)
    assert str(tiny_models) in json.dumps(local.entry_view(sidecar.stem)[2]) and str(tiny_models) in local.status()

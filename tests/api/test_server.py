"""Health, auth, errors, the bounded line, concurrency, CORS, body limits and disconnects."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from core import model_cache
from core.errors import Cancelled
from core.options import GenerationOptions
from tests.serving import wait_until
from webui.api.audio import pcm16
from webui.api.routes import API_KEY_ENV, api_key_from
from webui.server import create_server
from webui.studio import Studio

from .conftest import QUICK, make_engine, serve


def test_health_reports_models_device_and_queue(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["device"] == "cpu"
    assert isinstance(health["models_loaded"], bool) and isinstance(health["models"], list)
    assert health["queue"] == {"running": 0, "waiting": 0, "max_waiting": 16}


def test_models_and_docs(client):
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and "bark" in [m["id"] for m in models["data"]]
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/generate-audio/", "/v1/audio/speech", "/voices", "/voices/{name}", "/health"} <= set(paths)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"voice": "none"}, "input"),
        ({"input": "hi", "voice": "none", "text_temp": 9}, "text_temp"),
        ({"input": "hi", "voice": "none", "response_format": "aac"}, "response_format"),
        ({"input": "hi", "voice": "none", "speed": 5}, "speed"),
        ({"input": "hi", "voice": "none", "response_format": "mp3", "stream": True}, "stream"),
        ({"input": "   ", "voice": "none"}, "input"),
        ({"input": "hi", "voice": "none", "split": {"mode": "paragraphs"}}, "split.mode"),
        ({"input": "hi", "voice": "none", "seed": -1}, "seed"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, body, field):
    response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["error"]["param"] == field and field.split(".")[-1] in error["detail"]


def test_generate_audio_validation_names_the_field(client):
    assert client.post("/generate-audio/", json={}).json()["error"]["param"] == "text"
    unknown = client.post("/generate-audio/", json={"text": "hi", "temperature": 1})
    assert unknown.status_code == 422 and "temperature" in unknown.json()["detail"]
    both = client.post("/generate-audio/", json={"text": "hi", "fine_temp": 0.5, "fine_temperature": 0.5})
    assert both.status_code == 422 and "fine_temperature" in both.json()["detail"]


@pytest.mark.parametrize("voice", ["nobody", "../../etc/passwd", "/etc/hosts", "x.npz", "v2/en_speaker_99"])
def test_unknown_voices_and_paths_are_404(client, voice):
    response = client.post("/v1/audio/speech", json={"input": "hi", "voice": voice})
    assert response.status_code == 404 and response.json()["error"]["param"] == "voice"
    legacy = client.post("/generate-audio/", json={"text": "hi", "voice_preset": voice})
    assert legacy.status_code == 404


def test_eight_concurrent_requests_are_all_answered_correctly(client, api_engine):
    def ask(seed):
        with httpx.Client(base_url=str(client.base_url), timeout=120) as c:
            return c.post("/v1/audio/speech", json={"input": f"Number {seed}.", "seed": seed, **QUICK})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(ask, range(8)))
    for seed, response in enumerate(responses):
        assert response.status_code == 200 and response.headers["X-Seed"] == str(seed)
        expected = api_engine.generate(f"Number {seed}.", None, GenerationOptions(seed=seed)).audio
        assert response.content == pcm16(expected)


def test_health_says_what_is_loading_while_a_first_request_waits_for_it(tiny_models, tmp_path, monkeypatch):
    """A first request once waited for its models with nothing anywhere saying so, and /health itself
    waited for the load (the model cache's one lock), holding the server's event loop."""
    engine = make_engine(tiny_models, tmp_path / "prompts")
    reading, release = threading.Event(), threading.Event()
    real_load = model_cache.load_stage_model

    def slow_load(locator, stage, small):
        reading.set()
        release.wait(30)
        return real_load(locator, stage, small)

    monkeypatch.setattr(model_cache, "load_stage_model", slow_load)
    with (
        serve(create_server(Studio(engine, None, allow_paths=False), max_queue=2)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.get("/health").json()["loading"] is None
        answer: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: answer.append(client.post("/v1/audio/speech", json={"input": "hi", **QUICK}))
        )
        worker.start()
        assert reading.wait(30)
        health = client.get("/health", timeout=5).json()  # at once: it once waited for the load to end
        loading = health["loading"]
        assert loading["what"] == "the text model" and loading["message"] == "Loading the text model"
        release.set()
        worker.join(60)
        assert answer[0].status_code == 200 and client.get("/health").json()["loading"] is None


@pytest.fixture()
def held_server(tiny_models, tmp_path):
    """A server with a line of one whose generations wait for `release` before they start."""
    engine = make_engine(tiny_models, tmp_path / "prompts")
    release = threading.Event()
    engine.before_generate = lambda text: release.wait(30)
    with serve(
        create_server(Studio(engine, None, allow_paths=False), api_key=None, cors_origins=[], max_queue=1)
    ) as url:
        yield url, release
        release.set()


def test_a_full_line_is_503_with_retry_after(held_server):
    url, release = held_server
    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/v1/audio/speech", json={"input": "one", **QUICK})
        wait_until(lambda: client.get("/health").json()["queue"]["running"] == 1)
        second = pool.submit(client.post, "/v1/audio/speech", json={"input": "two", **QUICK})
        wait_until(lambda: client.get("/health").json()["queue"]["waiting"] == 1)
        refused = client.post("/generate-audio/", json={"text": "three"})
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        assert "busy" in refused.json()["detail"]
        assert client.get("/health").status_code == 200  # the event loop is not blocked
        release.set()
        assert first.result().status_code == 200 and second.result().status_code == 200
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/health").json()["queue"] == {"running": 0, "waiting": 0, "max_waiting": 1}


def test_a_client_that_disconnects_mid_stream_cancels_its_generation(tiny_models, tmp_path):
    engine = make_engine(tiny_models, tmp_path / "prompts")
    resume = threading.Event()
    engine.on_progress = lambda p: resume.wait(10) if p.segment > 0 else None
    body = {"input": "First one here. Then the second.", "voice": "none", "response_format": "pcm"}
    body["split"] = {"goal_length": 10, "max_length": 20}
    app = create_server(Studio(engine, None, allow_paths=False), api_key=None, cors_origins=[], max_queue=4)
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        with client.stream("POST", "/v1/audio/speech", json=body) as response:
            assert next(response.iter_raw())  # the first segment; the second is held
        wait_until(lambda: engine.cancels[-1].is_set())  # the server noticed the closed connection
        resume.set()
        wait_until(lambda: engine.failures)
        assert isinstance(engine.failures[0], Cancelled)
        wait_until(lambda: client.get("/health").json()["queue"]["running"] == 0)


def test_api_key_guards_every_route_but_health(tiny_models, tmp_path):
    engine = make_engine(tiny_models, tmp_path / "prompts")
    with (
        serve(
            create_server(Studio(engine, None, allow_paths=False), api_key="s3cret", cors_origins=[], max_queue=2)
        ) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert client.get("/health").status_code == 200
        for method, path in [("GET", "/v1/models"), ("GET", "/voices"), ("POST", "/v1/audio/speech")]:
            response = client.request(method, path, json={})
            assert response.status_code == 401 and response.headers.get_list("WWW-Authenticate")[0] == "Bearer"
            wrong = client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/audio/voices", headers=good).status_code == 200
        speech = client.post("/v1/audio/speech", json={"input": "hi", **QUICK}, headers=good)
        assert speech.status_code == 200


def test_the_web_login_guards_the_api_too(tiny_models, tmp_path):
    engine = make_engine(tiny_models, tmp_path / "prompts")
    with (
        serve(
            create_server(
                Studio(engine, None, allow_paths=False),
                api_key=None,
                login=("me", "pa:ss"),
                cors_origins=[],
                max_queue=2,
            )
        ) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert client.get("/health").status_code == 200
        refused = client.get("/voices")
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
        assert "curl -u USER:PASS" in refused.json()["detail"]
        for wrong in [("me", "nope"), ("you", "pa:ss")]:
            assert client.get("/voices", auth=wrong).status_code == 401
        assert client.get("/voices", auth=("me", "pa:ss")).status_code == 200


def test_either_the_key_or_the_login_will_do(tiny_models, tmp_path):
    engine = make_engine(tiny_models, tmp_path / "prompts")
    with (
        serve(
            create_server(
                Studio(engine, None, allow_paths=False),
                api_key="s3cret",
                login=("me", "pw"),
                cors_origins=[],
                max_queue=2,
            )
        ) as url,
        httpx.Client(base_url=url) as client,
    ):
        refused = client.get("/v1/models")
        challenges = refused.headers.get_list("WWW-Authenticate")
        assert refused.status_code == 401 and challenges[0] == "Bearer" and challenges[1].startswith("Basic")
        assert "Bearer KEY or the login" in refused.json()["detail"]
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/v1/models", auth=("me", "pw")).status_code == 200


def test_api_key_comes_from_the_flag_or_the_environment(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert api_key_from(None) is None and api_key_from("flag") == "flag"
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert api_key_from(None) == "from-env" and api_key_from("flag") == "flag"
    monkeypatch.setenv(API_KEY_ENV, "")
    assert api_key_from(None) is None


def test_cors_allows_only_the_configured_origins(client):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/audio/speech", headers={"Origin": "http://localhost:3000", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = client.options("/v1/audio/speech", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers


def test_bodies_over_the_limit_are_refused_before_reading(client):
    huge = b'{"input": "' + b"a" * (3 * 1024 * 1024) + b'", "voice": "none"}'
    response = client.post("/v1/audio/speech", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunked():
        yield b'{"input": "hi", "voice": "none"}'

    no_length = client.post("/v1/audio/speech", content=chunked(), headers={"Content-Type": "application/json"})
    assert no_length.status_code == 411


def test_pcm16_matches_libsndfile():
    audio = np.linspace(-1.2, 1.2, 1001, dtype=np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1, 1), 24000, format="WAV", subtype="PCM_16")
    buffer.seek(0)
    assert np.array_equal(np.frombuffer(pcm16(audio), "<i2"), sf.read(buffer, dtype="int16")[0])

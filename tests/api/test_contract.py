"""What API clients rely on: one error shape, OpenAI's model ids, Allow on a 405, messages without the
server's folders, a line that forgets clients who left, a Retry-After from measured job times."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.errors import Cancelled
from tests.serving import wait_until
from webui.api.queue import ClientGone, GenerationQueue
from webui.api.stream import SegmentStream
from webui.server import create_server
from webui.studio import Studio

from .conftest import QUICK, make_engine, serve


def assert_error_shape(response: httpx.Response, status: int) -> dict:
    body = response.json()
    assert response.status_code == status
    assert set(body) == {"detail", "error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["detail"] == body["error"]["message"] and body["error"]["code"] == str(status)
    return body


@pytest.mark.parametrize("model", ["bark", "tts-1", "tts-1-hd"])
def test_the_listed_models_and_openais_names_are_accepted(client, model):
    assert client.post("/v1/audio/speech", json={"model": model, "input": "hi", **QUICK}).status_code == 200


def test_any_other_model_is_400_naming_the_valid_ones(client):
    listed = [m["id"] for m in client.get("/v1/models").json()["data"]]
    body = assert_error_shape(
        client.post("/v1/audio/speech", json={"model": "whatever-xyz", "input": "hi", "voice": "none"}), 400
    )
    assert body["error"]["param"] == "model" and all(m in body["detail"] for m in listed)


def test_audio_models_and_voices_keep_the_shapes_front_ends_read(client):
    models = client.get("/v1/audio/models").json()
    assert models == {"models": [{"id": m["id"]} for m in client.get("/v1/models").json()["data"]]}
    voices = client.get("/v1/audio/voices").json()["voices"]
    assert {"id": "v2/en_speaker_6", "name": "English 6 (v2)"} in voices


def test_every_error_has_one_shape(client):
    assert_error_shape(client.post("/v1/audio/speech", json={"voice": "none"}), 422)  # pydantic's
    assert_error_shape(client.post("/v1/audio/speech", json={"input": "hi", "voice": "nobody"}), 404)
    assert_error_shape(client.get("/no/such/route"), 404)
    assert_error_shape(client.delete("/voices/v2/en_speaker_1"), 403)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("OPTIONS", "/voices", "GET, POST"), ("PUT", "/voices", "GET, POST"), ("PATCH", "/voices/x", "DELETE, GET")],
)
def test_a_wrong_method_is_405_allowing_every_method_of_the_path(client, method, path, allow):
    response = client.request(method, path)
    assert_error_shape(response, 405)
    assert response.headers["Allow"] == allow


def test_messages_name_the_servers_folders_without_showing_them(tiny_models, tmp_path):
    (tmp_path / "no-models-here").mkdir()
    engine = make_engine(tmp_path / "no-models-here", tmp_path / "prompts")  # every model file is missing
    with (
        serve(create_server(Studio(engine, None, allow_paths=False), max_queue=2)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        missing = client.post("/v1/audio/speech", json={"input": "hi", **QUICK})
        assert missing.status_code == 503 and "the models folder" in missing.json()["detail"]
        clip = client.post("/voices", files={"file": ("my take 3.wav", b"RIFF not really a wav")}, data={"name": "me"})
        assert clip.status_code == 422 and "my take 3.wav" in clip.json()["detail"]  # the file sent
        for response in (missing, clip):
            assert str(tmp_path) not in response.text and "/tmp" not in response.text, response.text
            assert "clip.wav" not in response.text


def test_a_taken_name_is_said_without_the_library_path(client, api_engine):
    prompt, _ = api_engine.resolve_voice("v2/en_speaker_2")
    data = prompt.to_bytes()
    assert client.post("/voices", files={"file": ("a.npz", data)}, data={"name": "taken"}).status_code == 201
    again = client.post("/voices", files={"file": ("a.npz", data)}, data={"name": "taken"})
    assert again.status_code == 409 and "your voice library" in again.json()["detail"]
    assert str(api_engine.library.root) not in again.text


# The line


@pytest.fixture()
def held_server(tiny_models, tmp_path):
    """A line of one whose generations wait for `release` before they start; `texts`: what they said."""
    engine = make_engine(tiny_models, tmp_path / "prompts")
    release, texts = threading.Event(), []
    engine.before_generate = lambda text: (texts.append(text), release.wait(30))
    with serve(create_server(Studio(engine, None, allow_paths=False), max_queue=1)) as url:
        yield url, release, texts
        release.set()


def test_a_client_that_leaves_while_it_waits_gives_its_place_back(held_server):
    url, release, texts = held_server
    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/v1/audio/speech", json={"input": "one", **QUICK})
        wait_until(lambda: client.get("/health").json()["queue"]["running"] == 1)
        with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=url, timeout=1) as impatient:
            impatient.post("/v1/audio/speech", json={"input": "gone", **QUICK})  # waits, then hangs up
        wait_until(lambda: client.get("/health").json()["queue"]["waiting"] == 0)
        second = pool.submit(client.post, "/v1/audio/speech", json={"input": "two", **QUICK})
        wait_until(lambda: client.get("/health").json()["queue"]["waiting"] == 1)  # admitted, not 503
        release.set()
        assert first.result().status_code == 200 and second.result().status_code == 200
    assert texts == ["one", "two"]  # the one who left was never generated


class GoneRequest:
    """A request whose client has hung up."""

    async def is_disconnected(self) -> bool:
        return True


def test_an_abandoned_stream_leaves_no_unretrieved_error():
    """The job of a stream whose client left ends with Cancelled later, in the worker; nobody awaits
    it, so its error must be taken when it ends, or asyncio reports it when the future is freed."""

    async def scenario() -> list[str]:
        reported: list[str] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context["message"]))
        cancel = threading.Event()

        def job(on_segment):
            cancel.wait(10)  # the engine's next step, once the server has cancelled it
            raise Cancelled("Generation cancelled.")

        stream = SegmentStream(GenerationQueue(max_queue=1).admit(), cancel)
        try:
            await stream.start(job, GoneRequest())
        except ClientGone:
            stream.close()
        future = stream._future
        while not future.done():
            await asyncio.sleep(0.01)
        del stream, future
        gc.collect()
        await asyncio.sleep(0)
        return reported

    assert asyncio.run(scenario()) == []


def test_retry_after_is_the_measured_time_of_the_jobs_ahead(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("webui.api.queue.time.monotonic", lambda: clock[0])

    async def scenario() -> list[int]:
        queue = GenerationQueue(max_queue=3)
        for seconds, finished in ((6.0, True), (8.0, True), (0.5, False)):  # 7 s on average; a failure
            async with queue.job() as ticket:  # does not count
                clock[0] += seconds
                if finished:
                    ticket.finished()
        running = queue.admit()
        await running.wait_turn()
        clock[0] += 2.0  # the running job is 2 s in: about 5 s left
        estimates = [queue.retry_after()]
        waiting = [queue.admit() for _ in range(3)]
        estimates.append(queue.retry_after())
        for ticket in [running, *waiting]:
            ticket.release()
        return estimates

    assert asyncio.run(scenario()) == [5, 5 + 3 * 7]


def test_a_clone_whose_client_leaves_stops_before_it_saves(tiny_models, tmp_path, monkeypatch):
    from cloning import VoiceCloner
    from tests.webui.helpers import voice_clip

    engine = make_engine(tiny_models, tmp_path / "prompts")
    cloner = VoiceCloner(engine)
    inside, release = threading.Event(), threading.Event()
    encode = cloner._prompt

    def held_encode(*args, **kwargs):  # the first variant's encoding waits until the client has gone
        inside.set()
        release.wait(30)
        return encode(*args, **kwargs)

    monkeypatch.setattr(cloner, "_prompt", held_encode)
    clip = voice_clip(tmp_path / "me.wav").read_bytes()
    with (
        serve(create_server(Studio(engine, None, cloner, allow_paths=False), max_queue=2)) as url,
        httpx.Client(base_url=url) as client,
    ):
        with ThreadPoolExecutor(1) as pool:
            form = {"name": "me", "variants": "2"}
            gone = pool.submit(httpx.post, f"{url}/voices", files={"file": ("me.wav", clip)}, data=form, timeout=2)
            assert inside.wait(60)
            with pytest.raises(httpx.ReadTimeout):
                gone.result()
        wait_until(lambda: engine._running and all(cancel.is_set() for cancel in engine._running))  # noticed
        assert engine.cancel_running() == 1  # and it is engine work that a shutdown stops too
        release.set()
        wait_until(lambda: client.get("/health").json()["queue"]["running"] == 0)
    assert engine.library.list() == []  # stopped at its next step, before anything was saved

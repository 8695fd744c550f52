"""The ingress's side of the remote calls, on a stand-in for Serve's handle (no cluster): which calls
are tried again when their replica stops, and what /health says of the replicas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cloning import CloneResult
from core.engine import EngineSettings, GenerationResult, SegmentResult
from core.options import GenerationOptions

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install '.[ray]'): not tested")

from webui.ray_serve import RemoteCalls, RemoteCloner, RemoteEngine, ReplicaLost, Served  # noqa: E402

STATUS = {"device": "cuda:0", "models": ["text"], "models_loaded": True, "loading": None}
DIED = object()  # in a script: the replica dies here


class Response:
    """A streamed call's answer: its items, in order; DIED raises what Serve raises for a dead replica."""

    def __init__(self, items: list):
        self.items = items
        self.cancelled = False

    def __iter__(self):
        for item in self.items:
            if item is DIED:
                raise ray.exceptions.ActorDiedError()
            yield item

    def cancel(self) -> None:
        self.cancelled = True


class Handle:
    """handle.options(stream=True).METHOD.remote(*args): the next script's Response, one per call."""

    def __init__(self, *scripts: list):
        self.scripts = list(scripts)
        self.calls: list[str] = []
        self.responses: list[Response] = []

    def options(self, **_) -> Handle:
        return self

    def __getattr__(self, method: str):
        def remote(*args) -> Response:
            self.calls.append(method)
            self.responses.append(Response(self.scripts.pop(0)))
            return self.responses[-1]

        return type("Method", (), {"remote": staticmethod(remote)})


def served(replica: str = "r1", **status) -> Served:
    return Served(replica, {**STATUS, **status})


def segment(index: int) -> SegmentResult:
    tokens = np.zeros((8, 2), dtype=np.int64)
    return SegmentResult(index, "Hi.", 0, tokens[0], tokens[:2], tokens, np.zeros(640, np.float32), 2)


@pytest.fixture
def remote(tiny_models: Path, tmp_path: Path) -> Callable[..., RemoteEngine]:
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path / "prompts", allow_download=False)
    return lambda *scripts: RemoteEngine(settings, RemoteCalls(Handle(*scripts), max_queued=2))


def test_a_clone_whose_replica_stopped_is_cloned_again_on_another(remote, tmp_path):
    result = CloneResult(voices=(), notes=(), duration_s=1.0)
    engine = remote([served("r1"), ("features", 0.5), DIED], [served("r2"), ("features", 0.5), served("r2"), result])
    clip = tmp_path / "me.wav"
    clip.write_bytes(b"RIFF")
    reports = []
    assert RemoteCloner(engine).clone(clip, "me", progress=lambda *r: reports.append(r)) is result
    assert engine.calls.handle.calls == ["clone", "clone"] and reports == [("features", 0.5)] * 2


def test_a_clone_whose_replica_stopped_while_saving_is_not_cloned_again(remote, tmp_path):
    """The voice may be in the library already: a retry would find its name taken (or write it twice)."""
    engine = remote([served("r1"), ("features", 0.5), ("saving", 0.9), DIED])
    clip = tmp_path / "me.wav"
    clip.write_bytes(b"RIFF")
    with pytest.raises(ReplicaLost, match="see whether 'me' is in the library"):
        RemoteCloner(engine).clone(clip, "me")
    assert engine.calls.handle.calls == ["clone"]


def test_a_finished_call_is_complete_not_cancelled_and_its_time_counts(remote):
    """The caller reads each call to its end: a finished generation is not cancelled afterwards, and
    its time is what Retry-After is measured from (before: a first guess, whatever the calls took)."""
    result = GenerationResult(np.zeros(320, np.float32), 24_000, 0, "Hi.", None, GenerationOptions(), ())
    engine = remote([served("r1"), served("r1"), result])
    in_flight = engine.calls.retry_after()
    assert engine.generate("Hi.", None, GenerationOptions()) is result
    (response,) = engine.calls.handle.responses
    assert not response.cancelled
    assert engine.calls.retry_after() == 1 < in_flight  # measured: a call takes no time here


def test_a_decode_whose_replica_stopped_is_decoded_again(remote):
    audio = np.ones(320, np.float32)
    engine = remote([served("r1"), DIED], [served("r2"), served("r2"), audio])
    assert engine.decode(np.zeros((8, 1), np.int64)) is audio


def test_a_generation_that_sent_a_segment_is_not_made_again(remote):
    """Its caller (a stream) has used that segment: the request ends with the error instead."""
    engine = remote([served("r1"), segment(0), DIED], [served("r2"), segment(0), segment(1)])
    with pytest.raises(ReplicaLost):
        engine.generate("Hi. There.", None, GenerationOptions(), on_segment=lambda s: None)
    assert engine.calls.handle.calls == ["generate"]


def test_health_shows_a_load_under_way_on_a_replica(remote):
    """A replica tells each load as it goes (a first download takes minutes): /health shows it meanwhile."""
    loading = {"what": "the text model", "file": "text_2.pt", "done_bytes": 10, "total_bytes": 100}
    result = GenerationResult(np.zeros(320, np.float32), 24_000, 0, "Hi.", None, GenerationOptions(), ())
    engine = remote([served("r1", models=[]), served("r1", models=[], loading=loading), "a step", served("r1"), result])
    seen = []
    engine.generate("Hi.", None, GenerationOptions(), progress=lambda step: seen.append(engine.status()["loading"]))
    assert seen == [{"replica": "r1", **loading}]
    assert engine.status()["loading"] is None  # done by the time it answered


def test_health_names_the_replicas_that_served_with_their_devices_and_models(remote):
    audio = np.ones(320, np.float32)
    engine = remote(
        [served("r1", models=[]), served("r1", models=["codec"]), audio], [served("r2"), served("r2"), audio]
    )
    assert engine.status()["cluster"]["replicas"] == []
    engine.decode(np.zeros((8, 1), np.int64))
    engine.decode(np.zeros((8, 1), np.int64))
    status = engine.status()
    assert (status["device"], status["models"], status["models_loaded"]) == ("cuda:0", ["codec", "text"], True)
    replicas = status["cluster"]["replicas"]
    assert [(r["replica"], r["models"]) for r in replicas] == [("r1", ["codec"]), ("r2", ["text"])]

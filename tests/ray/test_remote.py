"""The ingress's side of the remote calls, on a stand-in for Serve's handle (no cluster): which calls
are tried again when their replica stops, and what /health says of the replicas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cloning import CloneResult
from core.engine import EngineSettings, SegmentResult
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

    def options(self, **_) -> Handle:
        return self

    def __getattr__(self, method: str):
        def remote(*args) -> Response:
            self.calls.append(method)
            return Response(self.scripts.pop(0))

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

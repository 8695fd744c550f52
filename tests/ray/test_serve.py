"""The REST API as a Ray Serve application, on a local Ray cluster: one cluster for the module, two
generation replicas on the tiny pack (tests.ray.engines.TinyClusterEngine), a line of 2 in front."""

from __future__ import annotations

import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from core.engine import EngineSettings
from tests.ray.engines import PACE_S
from tests.serving import free_port, wait_until

ray = pytest.importorskip(
    "ray", reason="Ray is an optional extra (pip install '.[ray]'): the cluster API is not tested"
)
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install '.[ray]')")

from core.options import GenerationOptions  # noqa: E402
from core.projects import ProjectSettings, ProjectStore, run_project  # noqa: E402
from webui.ray_serve import (  # noqa: E402
    APP_NAME,
    GENERATOR,
    INGRESS,
    REPLICA_HEADER,
    ClusterSettings,
    RemoteCalls,
    RemoteEngine,
    build_app,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "cluster-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
THREE_SENTENCES = "First one here. Then the second. And the third."
ONE_PER_SENTENCE = {"goal_length": 10, "max_length": 20}
QUICK = {"model": "bark", "voice": "none", "response_format": "pcm", "stream": False}


@dataclass
class Cluster:
    url: str
    shared: Path  # the shared folder: prompts/ (the voice library), projects/, and the engines' marks
    engine: EngineSettings

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=timeout)

    def marked(self, kind: str) -> set[str]:
        folder = self.shared / kind
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def holding(self, before: set[str]) -> set[str]:
        """The replicas that started a held generation since `before` (a listing of running/)."""
        return {mark.split(".")[0] for mark in self.marked("running") - before}

    def release(self, tag: str) -> None:
        """Let every generation held as "Hold TAG:" go on (tests/ray/engines.py), now and later."""
        (self.shared / "release").mkdir(exist_ok=True)
        (self.shared / "release" / tag).touch()


@pytest.fixture(scope="module")
def cluster(tiny_models, tmp_path_factory):
    shared = tmp_path_factory.mktemp("cluster-shared")
    engine = EngineSettings(models_dir=tiny_models, prompts_dir=shared / "prompts", device="cpu", allow_download=False)
    settings = ClusterSettings(
        engine=engine,
        replicas=2,
        max_queue=2,
        projects_dir=shared / "projects",
        api_key=KEY,
        engine_class="tests.ray.engines:TinyClusterEngine",
    )
    with pytest.MonkeyPatch.context() as env:
        # Without it Ray turns token mode on for the test process and writes a token into ~/.ray.
        env.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(
            address="local",  # a new cluster, whatever `ray start` left running
            num_cpus=4,
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
        )
        try:
            port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
            yield Cluster(f"http://127.0.0.1:{port}", shared, engine)
        finally:
            serve.shutdown()
            ray.shutdown()


def speech(client: httpx.Client, text: str, **body) -> httpx.Response:
    return client.post("/v1/audio/speech", json={**QUICK, "input": text, "seed": 3, **body})


def speech_until_served(client: httpx.Client, text: str, tries: int = 10, **body) -> httpx.Response:
    """speech(), tried again (after a short wait) while the line answers 503."""
    for _ in range(tries - 1):
        answer = speech(client, text, **body)
        if answer.status_code != 503:
            return answer
        assert answer.headers["Retry-After"]
        time.sleep(0.5)
    return speech(client, text, **body)


def test_auth_is_asked_for_as_on_one_machine(cluster):
    with httpx.Client(base_url=cluster.url, timeout=60) as client:
        assert client.get("/health").status_code == 200
        refused = speech(client, "Hello.")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "401"
    with cluster.client() as client:
        assert client.get("/v1/models").status_code == 200


def test_two_replicas_answer_concurrent_requests(cluster):
    # 3 at once: one on each replica and one waiting. On a loaded machine Serve's count of what the
    # replicas hold lags, so its line may turn one away (503): a client then tries again, as told to.
    before = cluster.marked("running")
    with cluster.client() as client, ThreadPoolExecutor(3) as pool:
        pending = [pool.submit(speech_until_served, client, f"Hold hello: Hello {i}.") for i in range(3)]
        wait_until(lambda: len(cluster.holding(before)) == 2, timeout=60)  # both replicas hold one
        cluster.release("hello")
        answers = [p.result(timeout=120) for p in pending]
    assert [a.status_code for a in answers] == [200] * 3, [a.text[:200] for a in answers]
    assert len({a.headers[REPLICA_HEADER] for a in answers}) == 2
    assert all(a.headers["X-Seed"] == "3" and a.content for a in answers)


def test_a_stream_arrives_segment_by_segment_in_order(cluster):
    body = {"seed": 4, "split": ONE_PER_SENTENCE}
    text = f"Paced: {THREE_SENTENCES}"
    with cluster.client() as client:
        arrivals, chunks = [], []
        with client.stream(
            "POST", "/v1/audio/speech", json={**QUICK, "input": text, **body, "stream": True}
        ) as response:
            assert response.status_code == 200 and response.headers[REPLICA_HEADER]
            for chunk in response.iter_raw():
                arrivals.append(time.monotonic())
                chunks.append(chunk)
        whole = speech(client, text, **body)
    assert whole.status_code == 200
    assert b"".join(chunks) == whole.content  # the same samples, segment after segment in order
    assert arrivals[-1] - arrivals[0] > 1.5 * PACE_S  # the first segment came while the others were made


def test_a_voice_cloned_through_one_replica_is_used_through_the_other(cluster, tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(4 * 16_000) / 16_000
    clip = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * rng.standard_normal(t.size))).astype(np.float32)
    data = io.BytesIO()
    sf.write(data, clip, 16_000, format="WAV")
    with cluster.client() as client:
        cloned = client.post("/voices", files={"file": ("me.wav", data.getvalue())}, data={"name": "shared-me"})
        assert cloned.status_code == 201, cloned.text
        cloner = cloned.headers[REPLICA_HEADER]
        assert "shared-me" in {v["name"] for v in client.get("/voices").json()["voices"]}  # the ingress reads it
        before = cluster.marked("running")
        with ThreadPoolExecutor(2) as pool:  # two at once: one of them goes to the other replica
            pending = [pool.submit(speech, client, f"Hold mine: Mine {i}.", voice="shared-me") for i in range(2)]
            wait_until(lambda: len(cluster.holding(before)) == 2, timeout=60)
            cluster.release("mine")
            answers = [p.result(timeout=120) for p in pending]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert cloner in {a.headers[REPLICA_HEADER] for a in answers}
    assert len({a.headers[REPLICA_HEADER] for a in answers}) == 2


def test_a_projects_segments_are_generated_on_the_replicas_and_kept_by_the_caller(cluster):
    """What the ingress's project runs do: each batch of segments goes to a replica, each take is
    written here (on the shared folder) as it arrives."""
    handle = serve.get_deployment_handle(GENERATOR, app_name=APP_NAME)
    engine = RemoteEngine(cluster.engine, RemoteCalls(handle, 2))
    store = ProjectStore(cluster.shared / "projects")
    options = GenerationOptions(max_duration_s=0.1, seed=1)
    text = " ".join(f"Sentence number {i} of the project goes on for a while, as a long text does." for i in range(8))
    project = store.create(text, ProjectSettings(options=options))
    report = run_project(engine, project, allow_paths=False)
    states = project.states()
    assert len(states) >= 2 and len(report.takes) == len(states)
    assert all(state.segment.takes for state in states)
    assert engine.calls.stats()["replicas_seen"]


def test_the_project_routes_work_on_the_cluster_as_on_one_machine(cluster):
    """A client creates a project (202), polls it until its run ends, and exports it with subtitles."""
    body = {"text": THREE_SENTENCES, "voice": "none", "max_duration_s": 0.1, "seed": 1, "split": ONE_PER_SENTENCE}
    with cluster.client() as client:
        made = client.post("/projects", json=body)
        assert made.status_code == 202, made.text
        url, deadline = made.json()["url"], time.monotonic() + 120
        while (view := client.get(url).json())["run"]["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, view["run"]
            time.sleep(0.1)
        assert view["run"]["state"] == "finished" and view["counts"]["done"] == 3, view["run"]
        export = client.post(f"{url}/export", json={"format": "wav", "subtitles": ["srt"]})
        assert export.status_code == 200, export.text
        srt = next(f for f in export.json()["files"] if f["kind"] == "subtitles")
        assert client.get(srt["url"]).text.count(" --> ") == 3


def test_a_full_line_answers_503_with_a_measured_retry_after(cluster):
    """Two replicas run one each and the line holds 2: of 8 at once, some are turned away at once."""
    with cluster.client() as client, ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        pending = [pool.submit(speech, client, f"Hold busy: Busy {i}.") for i in range(8)]
        wait_until(lambda: any(p.done() and p.result().status_code == 503 for p in pending), timeout=60)
        cluster.release("busy")  # the line was full while these were held: now they may end
        answers = [p.result(timeout=120) for p in pending]
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses  # some served, some turned away
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.json()["error"]["code"] == "503"
    assert 1 <= int(busy.headers["Retry-After"]) <= 600
    assert time.monotonic() - started < 60


def test_a_client_that_leaves_cancels_the_replicas_generation(cluster):
    before = cluster.marked("cancelled")
    with cluster.client(timeout=1.5) as client, pytest.raises(httpx.ReadTimeout):
        speech(client, "Hold never: Nobody waits for this.")
    wait_until(lambda: cluster.marked("cancelled") - before, timeout=15)


def test_health_reports_the_generation_replicas(cluster):
    """Serve's count of the generation replicas, and each replica that served: its device and models."""
    with cluster.client() as client:
        assert speech_until_served(client, "Health first.").status_code == 200

        def both_running() -> bool:
            generation = client.get("/health").json()["cluster"]["generation"]
            return generation is not None and generation["replicas"].get("RUNNING") == 2

        wait_until(both_running, timeout=30)
        health = client.get("/health").json()
    assert health["status"] == "ok" and health["device"] == "cpu" and health["models_loaded"]
    assert health["cluster"]["generation"]["status"] == "HEALTHY"
    replicas = health["cluster"]["replicas"]
    assert replicas and all(r["device"] == "cpu" and "codec" in r["models"] for r in replicas), replicas
    assert {r["replica"] for r in replicas} <= set(replica_ids(GENERATOR))  # the replicas Serve runs


def replica_ids(deployment: str) -> list[str]:
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
    return [name.rsplit("#", 1)[1] for name in names if f"#{deployment}#" in name]


def replica_actor(name: str):
    return ray.get_actor(f"SERVE_REPLICA::{APP_NAME}#{name}", namespace="serve")


def running_replicas(deployment: str) -> int:
    return serve.status().applications[APP_NAME].deployments[deployment].replica_states.get("RUNNING", 0)


def test_a_replica_killed_mid_stream_cuts_that_stream_short_and_the_rest_serve_on(cluster):
    """The replica sends its first segment, then stalls (tests/ray/engines.py) until it is killed."""
    before, first_arrived = cluster.marked("running"), threading.Event()
    body = {**QUICK, "input": f"Hold cut: Stall: {THREE_SENTENCES}", "seed": 4, "split": ONE_PER_SENTENCE}

    def stream() -> tuple[int, list[bytes], Exception | None]:
        chunks: list[bytes] = []
        with cluster.client() as client, client.stream("POST", "/v1/audio/speech", json={**body, "stream": True}) as r:
            try:
                for chunk in r.iter_raw():
                    chunks.append(chunk)
                    first_arrived.set()
            except httpx.HTTPError as e:
                return r.status_code, chunks, e
        return r.status_code, chunks, None

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(stream)
        wait_until(lambda: cluster.marked("running") - before, timeout=30)
        (mark,) = cluster.marked("running") - before
        cluster.release("cut")
        wait_until(lambda: first_arrived.is_set() or pending.done(), timeout=60)
        assert first_arrived.is_set(), pending.result()  # a segment was sent: it cannot be made again elsewhere
        ray.kill(replica_actor(f"{GENERATOR}#{mark.split('.')[0]}"), no_restart=True)
        status, chunks, error = pending.result(timeout=60)  # never hangs
    assert status == 200 and chunks
    assert isinstance(error, httpx.RemoteProtocolError), error  # cut short: the client sees it
    with cluster.client() as client:
        assert speech_until_served(client, "Still here.").status_code == 200
    wait_until(lambda: running_replicas(GENERATOR) == 2, timeout=90)


def test_killing_a_replica_mid_request_retries_it_and_serve_restarts_the_replica(cluster):
    before = cluster.marked("running")
    with cluster.client() as client, ThreadPoolExecutor(1) as pool:
        pending = pool.submit(speech, client, "Hold victim: A long one.")
        wait_until(lambda: cluster.marked("running") - before, timeout=30)
        (mark,) = cluster.marked("running") - before
        victim = mark.split(".")[0]
        ray.kill(replica_actor(f"{GENERATOR}#{victim}"), no_restart=True)
        cluster.release("victim")  # the request, tried again on the other replica, may end there
        answer = pending.result(timeout=60)  # never hangs
        assert answer.status_code == 200, answer.text
        assert answer.headers[REPLICA_HEADER] != victim  # tried again on the other replica
        assert speech(client, "Still here.").status_code == 200

    wait_until(lambda: running_replicas(GENERATOR) == 2, timeout=90)


def test_a_restarted_ingress_resumes_the_projects_left_unfinished(cluster):
    """The project runs live in the ingress: killed during a run, Serve starts another, which goes on
    with every project still wanted when it starts (the app's lifespan)."""
    before = cluster.marked("running")
    body = {"text": f"Hold resume: {THREE_SENTENCES}", "voice": "none", "max_duration_s": 0.1, "seed": 2}
    with cluster.client() as client:
        made = client.post("/projects", json={**body, "split": ONE_PER_SENTENCE})
        assert made.status_code == 202, made.text
        wait_until(lambda: cluster.marked("running") - before, timeout=60)  # its first batch is held
        (ingress,) = replica_ids(INGRESS)
        ray.kill(replica_actor(f"{INGRESS}#{ingress}"), no_restart=True)
        cluster.release("resume")
        url, deadline = made.json()["url"], time.monotonic() + 120
        while (view := _project_view(client, url)) is None or view["run"]["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, view
            time.sleep(0.2)
    assert view["run"]["state"] == "finished" and view["counts"]["done"] >= 3, view
    assert view["counts"].get("pending", 0) == 0, view["counts"]


def _project_view(client: httpx.Client, url: str) -> dict | None:
    """The project's view, or None while the ingress restarts (the proxy has no replica to send to)."""
    try:
        answer = client.get(url, timeout=10)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None

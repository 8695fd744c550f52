"""Long-form projects over REST on a live server: created (202) and polled by a client that never holds
a connection, exported with subtitles, re-rolled, dialogues, resumed after a restart or a kill -9, cancel,
hostile ids and delete."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from core.constants import SAMPLE_RATE
from tests.serving import free_port, wait_until
from webui.server import create_server
from webui.studio import Studio

from .conftest import make_engine, serve
from .test_contract import assert_error_shape

ROOT = Path(__file__).resolve().parents[2]
TINY = {"max_duration_s": 0.3, "seed": 7, "split": {"goal_length": 20, "max_length": 40}}  # a segment a sentence
TEXT = "The first line is here. A second one follows it. And the third ends the story."
VOICE = "v2/en_speaker_3"
SCRIPT = "Alice: Hello there, Bob.\nBob: Hi Alice!\nAlice: How are you today?"


@pytest.fixture()
def folders(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "prompts", tmp_path / "projects"


@contextlib.contextmanager
def server(tiny_models, folders, engine=None) -> Iterator[httpx.Client]:
    """A server with projects (its lifespan runs: it resumes at the start, stops runs at the end)."""
    prompts, projects = folders
    engine = engine or make_engine(tiny_models, prompts)
    app = create_server(Studio(engine, None, allow_paths=False, projects_dir=projects), max_queue=4)
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def held_engine(tiny_models, folders, after: int):
    """An engine whose project batches after the first `after` wait (for `release`, or their cancel)."""
    engine = make_engine(tiny_models, folders[0])
    release, calls = threading.Event(), []

    def hold(texts, cancel):
        calls.append(texts)
        if len(calls) > after:
            while not release.is_set() and not (cancel is not None and cancel.is_set()):
                release.wait(0.02)

    engine.before_segments = hold
    return engine, release, calls


def create(client: httpx.Client, text: str = TEXT, **body) -> dict:
    response = client.post("/projects", json={"text": text, "voice": VOICE, **TINY, **body})
    assert response.status_code == 202, response.text
    return response.json()


def finished(client: httpx.Client, url: str, timeout: float = 120) -> dict:
    """Poll the project's state, one short request at a time, until its run has ended."""
    views = []

    def ended() -> bool:
        views.append(client.get(url).json())
        return views[-1]["run"]["state"] not in ("queued", "running")

    wait_until(ended, timeout)
    return views[-1]


def take_files(projects: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in projects.glob("*/seg-*-*.*")}


def srt_times(srt: str) -> list[tuple[float, float]]:
    def seconds(h, m, s, ms) -> float:
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    found = re.findall(r"(\d+):(\d+):(\d+),(\d+) --> (\d+):(\d+):(\d+),(\d+)", srt)
    return [(seconds(*t[:4]), seconds(*t[4:])) for t in found]


def test_a_project_runs_while_the_client_polls_and_exports_audio_with_matching_subtitles(tiny_models, folders):
    with server(tiny_models, folders) as client:
        accepted = create(client)
        assert accepted["url"] == f"/projects/{accepted['id']}"
        assert accepted["project"]["counts"]["segments"] == 3
        view = finished(client, accepted["url"])
        assert view["run"]["state"] == "finished" and view["run"]["fraction"] == 1.0, view["run"]
        assert view["counts"]["done"] == 3 and not view["wanted"]
        assert [s["takes"][0]["number"] for s in view["segments"]] == [1, 1, 1]
        assert client.get("/health").json()["queue"]["projects"] == {"running": 0, "waiting": 0}
        assert [p["id"] for p in client.get("/projects").json()["projects"]] == [accepted["id"]]

        export = client.post(f"{accepted['url']}/export", json={"format": "wav", "subtitles": ["srt", "vtt"]})
        assert export.status_code == 200, export.text
        files = {f["kind"] + "." + f["name"].rsplit(".", 1)[1]: f for f in export.json()["files"]}
        assert set(files) == {"audio.wav", "subtitles.srt", "subtitles.vtt", "timeline.json"}
        fetched = {kind: client.get(f["url"]) for kind, f in files.items()}
        assert all(r.status_code == 200 for r in fetched.values())
        assert fetched["audio.wav"].headers["content-type"] == "audio/wav"
        timeline = fetched["timeline.json"].json()
        segments = timeline["chapters"][0]["segments"]
        cues = srt_times(fetched["subtitles.srt"].text)
        assert len(cues) == 3
        for (start, end), segment in zip(cues, segments, strict=True):
            assert abs(start - segment["start_s"]) <= 0.001 and abs(end - segment["end_s"]) <= 0.001
        audio, rate = sf.read(io.BytesIO(fetched["audio.wav"].content))
        assert rate == SAMPLE_RATE
        assert abs(len(audio) / SAMPLE_RATE - timeline["duration_s"]) < 0.001
        assert abs(export.json()["duration_s"] - timeline["duration_s"]) < 0.001
        assert fetched["subtitles.vtt"].text.startswith("WEBVTT")


def test_a_reroll_makes_a_second_take_and_the_first_can_be_chosen_back(tiny_models, folders):
    with server(tiny_models, folders) as client:
        url = create(client)["url"]
        first = finished(client, url)["segments"][1]
        reroll = client.post(f"{url}/segments/{first['id']}/reroll")
        assert reroll.status_code == 202 and reroll.json()["project"]["run"]["state"] in ("queued", "running")
        segment = finished(client, url)["segments"][1]
        assert [t["number"] for t in segment["takes"]] == [1, 2] and segment["chosen"] == 2
        assert segment["takes"][1]["seed"] != segment["takes"][0]["seed"]
        for n in (1, 2):
            audio = client.get(f"{url}/segments/{first['id']}/takes/{n}")
            assert audio.headers["content-type"] == "audio/wav"
            assert audio.content == next(folders[1].glob(f"*/seg-{first['id']}-{n}.wav")).read_bytes()
        chosen = client.put(f"{url}/segments/{first['id']}/take", json={"take": 1})
        assert chosen.status_code == 200
        back = chosen.json()["segments"][1]
        assert back["chosen"] == 1 and back["picked"] and back["status"] == "done"
        missing = client.put(f"{url}/segments/{first['id']}/take", json={"take": 9})
        assert assert_error_shape(missing, 422)["error"]["param"] == "take"
        assert client.get(f"{url}/segments/{first['id']}/takes/9").status_code == 404
        edited = client.post(f"{url}/segments/{first['id']}/reroll", json={"text": "Something else now."})
        assert edited.status_code == 202
        segment = finished(client, url)["segments"][1]
        assert segment["text"] == "Something else now." and len(segment["takes"]) == 3


def test_a_dialogue_speaks_in_each_speakers_voice_and_unknown_speakers_are_listed(tiny_models, folders):
    with server(tiny_models, folders) as client:
        refused = client.post("/projects", json={"text": SCRIPT, "speakers": {"alice": VOICE}, **TINY})
        body = assert_error_shape(refused, 422)
        assert body["error"]["param"] == "speakers" and "Bob" in body["detail"]
        assert client.get("/projects").json()["projects"] == []  # nothing left behind
        a_path = client.post("/projects", json={"text": SCRIPT, "speakers": {"Alice": "/etc/hosts"}, **TINY})
        assert assert_error_shape(a_path, 404)["error"]["param"] == "speakers.Alice"

        planned = create(client, SCRIPT, voice=None, speakers={"alice": VOICE}, start=False)["project"]
        assert planned["unknown_speakers"] == ["Bob"] and planned["run"]["state"] == "idle"
        run = client.post(f"/projects/{planned['id']}/run")
        assert assert_error_shape(run, 422)["error"]["param"] == "speakers"
        pending = client.post(f"/projects/{planned['id']}/export", json={"format": "wav"})
        body = assert_error_shape(pending, 409)
        assert body["error"]["param"] == "segments" and "(1, 2, 3)" in body["detail"]
        url = f"/projects/{planned['id']}"
        a_path = client.patch(url, json={"speakers": {"alice": VOICE, "bob": "../x.npz"}})
        assert assert_error_shape(a_path, 404)["error"]["param"] == "speakers.bob"
        fixed = client.patch(url, json={"speakers": {"alice": VOICE, "bob": "none"}, "best_of": 2})
        assert fixed.status_code == 200 and fixed.json()["unknown_speakers"] == []
        assert fixed.json()["settings"]["speakers"] == {"alice": VOICE, "bob": None}
        assert client.post(f"{url}/run").status_code == 202
        assert finished(client, url)["counts"]["done"] == 3

        speakers = {"Alice": VOICE, "Bob": "v2/en_speaker_1"}
        view = finished(client, create(client, SCRIPT, voice=None, speakers=speakers)["url"])
        assert [(s["speaker"], s["voice"]) for s in view["segments"]] == [
            ("Alice", VOICE),
            ("Bob", "v2/en_speaker_1"),
            ("Alice", VOICE),
        ]
        assert view["counts"]["done"] == 3


def test_segment_edits_check_voices_by_name(tiny_models, folders):
    with server(tiny_models, folders) as client:
        view = create(client, start=False)["project"]
        url, segment = f"/projects/{view['id']}", view["segments"][0]["id"]
        changed = client.patch(f"{url}/segments/{segment}", json={"voice": "v2/en_speaker_9", "section": "One"})
        assert changed.status_code == 200
        assert changed.json()["segments"][0]["voice"] == "v2/en_speaker_9"
        assert changed.json()["segments"][0]["section"] == "One"
        for voice in ("../../etc/passwd", "nobody"):
            refused = client.patch(f"{url}/segments/{segment}", json={"voice": voice})
            assert assert_error_shape(refused, 404)["error"]["param"] == "voice"
        empty = client.patch(f"{url}/segments/{segment}", json={"text": "  "})
        assert assert_error_shape(empty, 422)["error"]["param"] == "text"


def test_a_run_stopped_by_a_server_shutdown_resumes_at_the_next_start(tiny_models, folders):
    text = " ".join(f"Line number {n} is spoken." for n in range(4))
    engine, _, calls = held_engine(tiny_models, folders, after=1)
    with server(tiny_models, folders, engine) as client:
        url = create(client, text, continuity="continuous")["url"]  # one segment a batch
        wait_until(lambda: len(calls) == 2)  # the first take is made; the second batch is held
        view = client.get(url).json()
        assert view["counts"]["done"] == 1 and view["run"]["state"] == "running"
        assert client.get("/health").json()["queue"]["projects"] == {"running": 1, "waiting": 0}
    # the server stopped as a shutdown stops it (its lifespan cancelled the run)
    kept = take_files(folders[1])
    assert len([n for n in kept if n.endswith(".wav")]) == 1
    record = json.loads(next(folders[1].glob("*/project.json")).read_text())
    assert record["wanted"]
    with server(tiny_models, folders) as client:  # a new Studio and app on the same folders
        view = finished(client, url)
        assert view["run"]["state"] == "finished" and view["counts"]["done"] == 4
        assert all(len(s["takes"]) == 1 for s in view["segments"])  # none redone
    for name, data in kept.items():
        assert (next(folders[1].glob(f"*/{name}"))).read_bytes() == data


def test_a_users_cancel_is_kept_and_not_resumed(tiny_models, folders):
    engine, _, calls = held_engine(tiny_models, folders, after=0)
    with server(tiny_models, folders, engine) as client:
        running = create(client, name="running")["url"]
        wait_until(lambda: len(calls) == 1)
        queued = create(client, name="queued")["url"]
        again = client.post(f"{running}/segments/{client.get(running).json()['segments'][0]['id']}/reroll")
        assert again.status_code == 202  # a second run of the running project waits behind it
        assert client.get("/health").json()["queue"]["projects"] == {"running": 1, "waiting": 2}
        cancelled = client.post(f"{queued}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["run"]["state"] == "cancelled"
        assert not cancelled.json()["wanted"]
        stopped = client.post(f"{running}/cancel").json()
        wait_until(lambda: client.get(running).json()["run"]["state"] == "cancelled")
        assert client.get("/health").json()["queue"]["projects"] == {"running": 0, "waiting": 0}
        assert stopped["counts"]["pending"] == 3
    with server(tiny_models, folders) as client:
        for url in (running, queued):
            view = client.get(url).json()
            assert view["run"]["state"] == "idle" and not view["wanted"] and view["counts"]["pending"] == 3


def test_a_project_of_a_killed_server_is_resumed_by_the_next_one(tiny_models, tmp_path):
    text = " ".join(f"Sentence number {n} is here." for n in range(10))
    start = [sys.executable, str(ROOT / "bark_webui.py"), "--api-only", "--models-dir", str(tiny_models)]
    start += ["--offline", "--device", "cpu", "--prompts-dir", str(tmp_path / "prompts")]
    start += ["--projects-dir", str(tmp_path / "projects")]
    body = {"text": text, "voice": VOICE, "continuity": "continuous", **TINY}
    with real_server(start, tmp_path) as (process, client):
        url = client.post("/projects", json=body).json()["url"]
        wait_until(lambda: client.get(url).json()["counts"]["done"] >= 2, timeout=120)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    kept = take_files(tmp_path / "projects")
    assert 2 <= len([n for n in kept if n.endswith(".wav")]) < 10  # killed mid-run
    with real_server(start, tmp_path) as (_, client):
        view = finished(client, url)
        assert view["run"]["state"] == "finished" and view["counts"]["done"] == 10
        assert all(len(s["takes"]) == 1 for s in view["segments"])
    for name, data in kept.items():
        assert next((tmp_path / "projects").glob(f"*/{name}")).read_bytes() == data


@contextlib.contextmanager
def real_server(start: list[str], cwd: Path) -> Iterator[tuple[subprocess.Popen, httpx.Client]]:
    port = free_port()
    process = subprocess.Popen(
        [*start, "--port", str(port)], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until(lambda: _answers(client) or process.poll() is not None, timeout=120)
            assert process.poll() is None, process.stderr.read().decode()
            yield process, client
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/projects/%2e%2e", "project"),
        ("/projects/.deleted-1234", "project"),
        ("/projects/%2e%2e%5c%2e%2e", "project"),
        ("/projects/" + "a" * 300, "project"),
        ("/projects/{id}/segments/..%5cproject.json/takes/1", "segment"),
        ("/projects/{id}/segments/{segment}/takes/-1", "take"),
        ("/projects/{id}/exports/..%5c..%5c/project.json", "file"),
        ("/projects/{id}/exports/.export-1/x.wav", "file"),
        ("/projects/{id}/exports/x/%2e%2e", "file"),
    ],
)
def test_hostile_ids_are_404_without_leaving_the_projects_folder(tiny_models, folders, path, param):
    with server(tiny_models, folders) as client:
        view = create(client, start=False)["project"]
        (folders[1] / ".deleted-1234").mkdir()
        (folders[1] / ".deleted-1234" / "project.json").write_text(json.dumps({"order": []}))
        response = client.get(path.format(id=view["id"], segment=view["segments"][0]["id"]))
        body = assert_error_shape(response, 404)
        assert body["error"]["param"] == param and str(folders[1]) not in response.text


def test_delete_stops_the_run_and_removes_the_project(tiny_models, folders):
    engine, _, calls = held_engine(tiny_models, folders, after=0)
    with server(tiny_models, folders, engine) as client:
        accepted = create(client)
        wait_until(lambda: calls)  # its run holds the project
        assert client.delete(accepted["url"]).status_code == 204
        assert not (folders[1] / accepted["id"]).exists()
        assert assert_error_shape(client.get(accepted["url"]), 404)["error"]["param"] == "project"
        assert assert_error_shape(client.delete(accepted["url"]), 404)["error"]["param"] == "project"
        assert client.get("/projects").json()["projects"] == []
        assert client.get("/health").json()["queue"]["projects"] == {"running": 0, "waiting": 0}

"""Every named endpoint of the web app, called with gradio_client on 127.0.0.1 (tiny models)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from core.outputs import list_outputs
from webui.form import advanced_controls, simple_controls

from .conftest import Served
from .helpers import voice_clip

FAST = {"max_duration_s": 0.2, "random_seed": False, "seed": 5}  # tiny models never stop on their own
ENGINE_ENDPOINTS = {"generate", "clone", "apply_settings", "prepare_models", "unload_models"}
GENERATION_ENDPOINTS = {"generate", "cancel", "plan", "save_voice"}
VOICE_ENDPOINTS = {"preview_voice", "export_voice", "rename_voice", "delete_voice", "import_voice"}
HISTORY_ENDPOINTS = {"history", "history_entry", "reuse_settings", "delete_generation"}
SETTINGS_ENDPOINTS = {"apply_settings", "prepare_models", "unload_models", "status"}
CLONE_ENDPOINTS = {"clone", "drop_variants"}


@pytest.fixture()
def client(served: Served, tmp_path) -> Client:
    """A client of its own: a browser tab of its own (its own session state)."""
    return Client(served.url, verbose=False, download_files=str(tmp_path / "downloads"))


def test_the_endpoints_are_named_and_share_one_engine_slot(served, client):
    names = {name.lstrip("/") for name in client.view_api(return_format="dict", print_info=False)["named_endpoints"]}
    expected = GENERATION_ENDPOINTS | VOICE_ENDPOINTS | HISTORY_ENDPOINTS | SETTINGS_ENDPOINTS
    assert names == expected | CLONE_ENDPOINTS
    limits = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in served.app.fns.values()}
    engine_slots = {limits[name] for name in ENGINE_ENDPOINTS & names}
    assert len(engine_slots) == 1 and next(iter(engine_slots))[1] == 1


def test_generate_streams_segments_then_saves_the_whole(served, client):
    text = "Hello world. This is the second sentence."
    job = client.submit(text=text, voice="v2/en_speaker_1", split_goal_length=20, split_max_length=30, **FAST,
                        api_name="/generate")  # fmt: skip
    status, _, audio, download, seed = job.result(timeout=120)
    assert status.startswith("Done") and "2 segment(s)" in status and "made in" in status and seed == 5
    segments = [out[1] for out in job.outputs() if isinstance(out[1], str)]
    assert len(segments) == 2  # each segment's audio came before the whole
    data, rate = sf.read(audio)
    assert rate == 24_000 and len(data) > 0 and Path(download).suffix == ".wav"
    (entry,) = [e for e in list_outputs(served.output_dir) if e.text == text]
    assert entry.seed == 5 and entry.voice is not None and entry.record["source"] == "webui"

    saved = client.predict(name="from the web", api_name="/save_voice")
    assert "from the web" in saved and served.engine.library.exists("from the web")
    assert served.engine.library.info("from the web").metadata["seed"] == 5


def test_plan_shows_segments_without_generating(served, client):
    before = len(list_outputs(served.output_dir))
    table = client.predict(text="One sentence here. " * 20, split_goal_length=60, api_name="/plan")
    rows = table["value"]["data"]
    assert len(rows) > 1 and rows[0][0] == 1 and rows[0][1].startswith("One sentence here.") and rows[0][2] > 0
    assert len(list_outputs(served.output_dir)) == before


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ({"text": "   "}, "The text is empty"),
        ({"text": "hi", "voice": "../../etc/passwd"}, "paths are not accepted"),
        ({"text": "hi", "voice": "/etc/passwd.npz"}, "paths are not accepted"),
        ({"text": "hi", "voice": "nobody"}, "No voice named 'nobody'"),
        ({"text": "hi", "split_mode": "regex", "split_pattern": "("}, "not a valid regular expression"),
        ({"text": "hi", "coarse_window": 2.5}, "whole number"),
    ],
)
def test_user_errors_are_messages(client, inputs, words):
    with pytest.raises(AppError, match=words) as error:
        client.predict(**{**FAST, **inputs}, api_name="/generate")
    assert "Traceback" not in str(error.value)
    assert " --" not in str(error.value)  # points to the page, not to command-line flags (--list-voices once)


def test_a_bad_voice_upload_is_refused(client, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(AppError, match=r"uploaded voice 'bad\.npz'"):
        client.predict(text="hi", voice_file=handle_file(bad), **FAST, api_name="/generate")


def test_save_voice_needs_a_generation_first(client):
    with pytest.raises(AppError, match="Generate something first"):
        client.predict(name="x", api_name="/save_voice")


def test_cancel_stops_a_running_generation(client):
    text = "This is one of many sentences, each a segment of its own. " * 30
    job = client.submit(text=text, max_duration_s=0, api_name="/generate")  # Bark's maximum: about 2 s a segment
    deadline = time.monotonic() + 60
    while not (job.status().progress_data or job.status().code.name == "FINISHED"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.predict(api_name="/cancel")
    assert job.result(timeout=60)[0] == "Cancelled."


def test_voice_library_endpoints(served, client, tmp_path):
    prompt, _ = served.engine.resolve_voice("v2/de_speaker_3")
    upload = prompt.save(tmp_path / "Greta.npz")
    message, _ = client.predict(path=handle_file(upload), name="", overwrite=False, api_name="/import_voice")
    assert "Imported **Greta**" in message and served.engine.library.exists("Greta")
    with pytest.raises(AppError, match="already exists"):
        client.predict(path=handle_file(upload), name="Greta", overwrite=False, api_name="/import_voice")
    with pytest.raises(AppError, match="must not contain"):
        client.predict(path=handle_file(upload), name="../evil", overwrite=False, api_name="/import_voice")

    preview = client.predict(name="Greta", api_name="/preview_voice")
    assert sf.info(preview).samplerate == 24_000 and sf.info(preview).frames == prompt.fine.shape[1] * 320
    exported = client.predict(name="Greta", api_name="/export_voice")
    assert Path(exported["value"]).name == "Greta.npz"

    client.predict(old="Greta", new="Greta 2", api_name="/rename_voice")
    assert served.engine.library.exists("Greta 2") and not served.engine.library.exists("Greta")
    client.predict(name="Greta 2", api_name="/delete_voice")
    assert not served.engine.library.exists("Greta 2")
    with pytest.raises(AppError, match="no voice named"):
        client.predict(name="Greta 2", api_name="/preview_voice")


def test_history_endpoints(served, client):
    client.predict(text="Remember me.", voice="v2/en_speaker_2", **FAST, crossfade_s=0.05, api_name="/generate")
    entry = next(e for e in list_outputs(served.output_dir) if e.text == "Remember me.")
    table, picker = client.predict(api_name="/history")
    assert any(row[1] == "Remember me." for row in table["data"])
    assert entry.id in [value for _, value in picker["choices"]]

    audio, files, record = client.predict(entry_id=entry.id, api_name="/history_entry")
    assert sf.info(audio).samplerate == 24_000 and len(files) == 3 and record["seed"] == 5

    reused = client.predict(entry_id=entry.id, api_name="/reuse_settings")
    assert list(reused[:3]) == ["Remember me.", "v2/en_speaker_2", "wav"]
    assert _named(reused) == {"crossfade": 0.05, "seed": 5, "random": False}

    with pytest.raises(AppError, match="not the name of an output"):
        client.predict(entry_id="../outputs", api_name="/history_entry")
    client.predict(entry_id=entry.id, api_name="/delete_generation")
    assert not entry.audio.exists() and not entry.sidecar.exists()


def _named(reused: list) -> dict:
    """The few /reuse_settings values the test checks, by a short name: after the text, the voice and the
    format come the controls, in the form's order."""
    with gr.Blocks():
        at = {name: 3 + i for i, name in enumerate([*simple_controls(), *advanced_controls()])}
    return {"random": reused[at["random_seed"]], "seed": reused[at["seed"]], "crossfade": reused[at["crossfade_s"]]}


def test_settings_endpoints(served, client, tmp_path):
    assert "Device" in client.predict(api_name="/status")
    ready = client.predict(api_name="/prepare_models")
    assert "text (small)" not in ready and "coarse" in ready and "codec" in ready
    assert "none" in client.predict(api_name="/unload_models")
    settings = served.engine.settings
    try:
        client.predict(small_text=True, max_batch=2, cuda_graphs=True, api_name="/apply_settings")
        assert served.engine.settings.small_text and served.engine.settings.max_batch == 2
        assert served.engine.settings.cuda_graphs is True
        with pytest.raises(AppError, match="is not a folder"):
            client.predict(models_dir=str(tmp_path / "nowhere"), api_name="/apply_settings")
        with pytest.raises(AppError, match="tpu"):
            client.predict(device="tpu", api_name="/apply_settings")
    finally:
        served.engine.update_settings(settings)


def test_clone_endpoints(served, client, tmp_path):
    clip = voice_clip(tmp_path / "speaker.wav")
    outputs = client.predict(audio=handle_file(clip), name="Cloned", sample_seconds=0.2, variants=2, api_name="/clone")
    assert "Saved **Cloned**, **Cloned-2**" in outputs[0]
    assert outputs[1]["label"] == "Cloned" and sf.info(outputs[1]["value"]).samplerate == 24_000
    library = served.engine.library
    assert library.info("Cloned").source == "clone" and library.exists("Cloned-2")
    assert "Dropped Cloned-2" in client.predict(kept=["Cloned"], api_name="/drop_variants")[0]
    assert library.exists("Cloned") and not library.exists("Cloned-2")
    with pytest.raises(AppError, match="already"):
        client.predict(audio=handle_file(clip), name="Cloned", sample_seconds=0.2, api_name="/clone")
    json.dumps(library.info("Cloned").metadata)  # the sidecar is plain JSON

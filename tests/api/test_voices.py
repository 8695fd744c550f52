"""The voice routes: list, upload (.npz import or clip -> clone), download, delete, OpenAI's list."""

from __future__ import annotations

import io
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import soundfile as sf

from core.voice import VoicePrompt
from webui.server import create_server
from webui.studio import Studio

from .conftest import make_engine, serve


def preset_bytes(client, name="v2/en_speaker_2") -> bytes:
    response = client.get(f"/voices/{name}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    return response.content


def test_list_voices_has_presets_and_the_library(client):
    voices = client.get("/voices").json()["voices"]
    assert {"name": "v2/en_speaker_6", "kind": "preset", "language": "en"} in voices
    openai = client.get("/v1/audio/voices").json()["voices"]
    assert {"id": "v2/de_speaker_3", "name": "German 3 (v2)"} in openai
    assert all(set(v) == {"id", "name"} for v in openai)


def test_upload_download_use_and_delete_a_voice(client):
    data = preset_bytes(client)
    added = client.post("/voices", files={"file": ("mine.npz", data)}, data={"name": " Narrator (calm) "})
    assert added.status_code == 201, added.text
    assert added.json()["voices"][0]["name"] == "Narrator (calm)"
    assert "Narrator (calm)" in [v["name"] for v in client.get("/voices").json()["voices"]]
    assert {"id": "Narrator (calm)", "name": "Narrator (calm)"} in client.get("/v1/audio/voices").json()["voices"]
    downloaded = client.get("/voices/Narrator (calm)")
    assert VoicePrompt.from_bytes(downloaded.content).equals(VoicePrompt.from_bytes(data))
    assert "Narrator%20%28calm%29.npz" in downloaded.headers["content-disposition"]
    speech = client.post("/v1/audio/speech", json={"input": "hi", "voice": "Narrator (calm)", "response_format": "wav"})
    assert speech.status_code == 200
    again = client.post("/voices", files={"file": ("mine.npz", data)}, data={"name": "Narrator (calm)"})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    replaced = client.post(
        "/voices", files={"file": ("x.npz", data)}, data={"name": "Narrator (calm)", "overwrite": "true"}
    )
    assert replaced.status_code == 201
    assert client.delete("/voices/Narrator (calm)").status_code == 204
    assert client.get("/voices/Narrator (calm)").status_code == 404
    assert client.delete("/voices/Narrator (calm)").status_code == 404


def test_voice_route_errors(client):
    assert client.delete("/voices/v2/en_speaker_1").status_code == 403
    assert client.get("/voices/../../etc/passwd").status_code == 404
    assert client.get("/voices/nobody").status_code == 404
    bad_name = client.post("/voices", files={"file": ("v.npz", preset_bytes(client))}, data={"name": "../evil"})
    assert bad_name.status_code == 422 and bad_name.json()["error"]["param"] == "name"
    no_name = client.post("/voices", files={"file": ("v.npz", b"PK\x03\x04")})
    assert no_name.status_code == 422 and no_name.json()["error"]["param"] == "name"
    broken = client.post("/voices", files={"file": ("v.npz", b"PK\x03\x04broken")}, data={"name": "broken"})
    assert broken.status_code == 422


def wav_clip(seconds=2.0) -> bytes:
    rng = np.random.default_rng(0)
    t = np.arange(int(24000 * seconds)) / 24000
    audio = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(
        len(t)
    )
    buffer = io.BytesIO()
    sf.write(buffer, audio.astype(np.float32), 24000, format="WAV")
    return buffer.getvalue()


@dataclass
class FakeResult:
    voices: tuple
    notes: tuple
    duration_s: float


class FakeCloner:
    """Stands in for cloning.VoiceCloner (whose HuBERT is not in the tiny pack): saves a preset."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = []

    def clone(self, audio, name, options, *, overwrite=False, source_name=None, progress=None):
        progress("saving", 0.9)
        self.calls.append((audio.read_bytes(), name, options, overwrite, source_name))
        prompt, _ = self.engine.resolve_voice("v2/en_speaker_0")
        info = self.engine.library.save(name, prompt, {"source": "clone", "language": options.language})
        return FakeResult((info,), ("trimmed 0.1 s of silence",), 1.5)


@pytest.fixture()
def clone_server(tiny_models, tmp_path):
    engine = make_engine(tiny_models, tmp_path / "prompts")
    cloner = FakeCloner(engine)
    app = create_server(
        Studio(engine, None, cloner, allow_paths=False),
        api_key=None,
        cors_origins=[],
        max_queue=2,
        max_upload_bytes=200_000,
    )
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, cloner


def test_a_clip_upload_is_cloned_through_the_cloner(clone_server):
    client, cloner = clone_server
    clip = wav_clip()
    response = client.post("/voices", files={"file": ("me.wav", clip)}, data={"name": "me", "language": "de"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["voices"][0] == {
        "name": "me",
        "kind": "library",
        "language": "de",
        "created": body["voices"][0]["created"],
        "source": "clone",
    }
    assert body["notes"] == ["trimmed 0.1 s of silence"] and body["duration_s"] == 1.5
    data, name, options, overwrite, source = cloner.calls[0]
    assert data == clip and name == "me" and options.language == "de" and source == "me.wav" and not overwrite
    bad = client.post("/voices", files={"file": ("me.wav", clip)}, data={"name": "me2", "language": "xx"})
    assert bad.status_code == 422 and "language" in bad.json()["detail"]
    too_big = client.post("/voices", files={"file": ("big.wav", b"0" * 300_000)}, data={"name": "big"})
    assert too_big.status_code == 413


def test_a_real_clone_on_the_tiny_pack_is_usable_at_once(client):
    response = client.post("/voices", files={"file": ("me.wav", wav_clip())}, data={"name": "cloned"})
    assert response.status_code == 201, response.text
    assert response.json()["voices"][0]["name"] == "cloned" and response.json()["duration_s"] > 0
    speech = client.post("/v1/audio/speech", json={"input": "hi", "voice": "cloned", "response_format": "pcm"})
    assert speech.status_code == 200 and len(speech.content) > 0
    assert client.delete("/voices/cloned").status_code == 204

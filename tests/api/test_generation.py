"""POST /generate-audio/ and POST /v1/audio/speech on a live server: formats, seeds, streaming."""

from __future__ import annotations

import io
import struct
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from core.constants import SAMPLE_RATE
from core.options import GenerationOptions
from webui.api.audio import encode_response, pcm16

THREE_SENTENCES = "First one here. Then the second. And the third."
ONE_PER_SENTENCE = {"goal_length": 10, "max_length": 20}  # three segments


def reference(engine, text, voice, **options) -> np.ndarray:
    """What the engine itself makes for these settings (the server must send exactly this)."""
    return engine.generate(text, voice, GenerationOptions(**options)).audio


def as_int16(audio: np.ndarray) -> np.ndarray:
    return np.frombuffer(pcm16(audio), dtype="<i2")


def test_generate_audio_keeps_the_original_contract(client, api_engine):
    body = {"text": "Hello there.", "voice_preset": "v2/ru_speaker_6", "fine_temperature": 0.5}
    body["coarse_temperature"] = 0.7
    response = client.post("/generate-audio/", json=body)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    seed = int(response.headers["X-Seed"])
    audio, rate = sf.read(io.BytesIO(response.content), dtype="int16")
    expected = reference(api_engine, "Hello there.", "v2/ru_speaker_6", seed=seed, fine_temp=0.5, waveform_temp=0.7)
    assert rate == SAMPLE_RATE and np.array_equal(audio, as_int16(expected))
    again = client.post("/generate-audio/", json={**body, "seed": seed})
    assert again.content == response.content and again.headers["X-Seed"] == str(seed)


def test_generate_audio_takes_every_generation_option(client, api_engine):
    body = {"text": "Hello. There.", "seed": 5, "text_temp": 0.6, "silence_s": 0.5, "split": {"mode": "sentence"}}
    response = client.post("/generate-audio/", json=body)
    assert response.status_code == 200, response.text
    audio, _ = sf.read(io.BytesIO(response.content), dtype="int16")
    options = {k: v for k, v in body.items() if k not in ("text", "split")}
    assert np.array_equal(audio, as_int16(reference(api_engine, body["text"], None, **options)))


def test_a_retired_option_is_accepted_and_ignored(client):
    """use_kv_cache (the cache is now always used: it is exact) still validates from older clients."""
    body = {"text": "Hello.", "seed": 5}
    response = client.post("/generate-audio/", json={**body, "use_kv_cache": False})
    assert response.status_code == 200, response.text
    assert response.content == client.post("/generate-audio/", json=body).content


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2"), SAMPLE_RATE
    return sf.read(io.BytesIO(data), dtype="int16")


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "pcm"])
def test_every_response_format_decodes_at_24khz_with_the_right_length(client, api_engine, fmt):
    body = {"model": "tts-1", "input": "Hello there.", "voice": "v2/en_speaker_1", "response_format": fmt, "seed": 3}
    response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    expected = reference(api_engine, "Hello there.", "v2/en_speaker_1", seed=3)
    audio, rate = decode(response.content, fmt)
    assert rate == SAMPLE_RATE and len(audio) == len(expected)
    if fmt in ("wav", "flac", "pcm"):  # lossless (libsndfile's flac writer rounds, its wav writer floors)
        assert np.abs(audio.astype(np.int32) - as_int16(expected)).max() <= (1 if fmt == "flac" else 0)
    assert response.headers["content-type"].startswith({"opus": "audio/ogg", "mp3": "audio/mpeg"}.get(fmt, "audio/"))


def test_pcm_is_streamed_in_chunks_and_equals_the_whole_file(client):
    body = {"input": THREE_SENTENCES, "voice": "none", "response_format": "pcm", "seed": 11, "split": ONE_PER_SENTENCE}
    streamed = client.post("/v1/audio/speech", json=body)
    assert streamed.headers.get("transfer-encoding") == "chunked"
    whole = client.post("/v1/audio/speech", json={**body, "stream": False})
    assert "transfer-encoding" not in whole.headers
    assert streamed.content == whole.content and len(whole.content) > 0


def test_wav_stream_has_an_unknown_length_header_and_the_same_samples(client):
    body = {"input": THREE_SENTENCES, "voice": "v2/en_speaker_3", "response_format": "wav", "seed": 2}
    body["split"] = ONE_PER_SENTENCE
    streamed = client.post("/v1/audio/speech", json={**body, "stream": True})
    assert streamed.headers.get("transfer-encoding") == "chunked"
    header, samples = streamed.content[:44], streamed.content[44:]
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt " and header[36:40] == b"data"
    assert struct.unpack("<I", header[40:44])[0] == 0xFFFFFFFF
    assert struct.unpack("<I", header[24:28])[0] == SAMPLE_RATE
    whole, _ = sf.read(io.BytesIO(client.post("/v1/audio/speech", json=body).content), dtype="int16")
    assert np.array_equal(np.frombuffer(samples, dtype="<i2"), whole)


def test_streaming_sends_the_first_segment_before_the_last_is_generated(api_url, api_engine):
    """The last segment's generation waits (up to 10 s) until the client has audio in hand."""
    got_audio = threading.Event()
    waited = []

    def hold(progress):
        covers_last = progress.segment + progress.count >= progress.segments
        if covers_last and progress.segments > 1 and not waited:
            waited.append(got_audio.wait(10))

    api_engine.on_progress = hold
    body = {"input": THREE_SENTENCES, "voice": "none", "response_format": "pcm", "seed": 4, "split": ONE_PER_SENTENCE}
    try:
        with (
            httpx.Client(base_url=api_url, timeout=60) as client,
            client.stream("POST", "/v1/audio/speech", json=body) as r,
        ):
            chunks = r.iter_raw()
            first = next(chunks)
            first_at = time.monotonic()
            got_audio.set()
            rest = b"".join(chunks)
    finally:
        api_engine.on_progress = None
    last_decoded = max(t for t, p in api_engine.progress_log if p.stage == "decode" and p.segment == p.segments - 1)
    assert waited == [True] and first and rest
    assert first_at < last_decoded


def test_speed_changes_the_length_and_keeps_the_pitch(client):
    body = {"input": "Hello there.", "voice": "none", "response_format": "pcm", "seed": 8, "stream": False}
    normal = np.frombuffer(client.post("/v1/audio/speech", json=body).content, dtype="<i2")
    fast = np.frombuffer(client.post("/v1/audio/speech", json={**body, "speed": 2.0}).content, dtype="<i2")
    assert abs(len(fast) - len(normal) / 2) <= 1
    streamed = client.post("/v1/audio/speech", json={**body, "speed": 0.5, "stream": True}).content
    assert abs(len(streamed) // 2 - len(normal) * 2) <= 2


def test_opus_encoding_is_ogg_opus():
    data = encode_response(np.zeros(4800, dtype=np.float32), "opus")
    assert data[:4] == b"OggS" and b"OpusHead" in data[:100]

"""Suno's bark Python API (bark_studio.suno), run as its README and its long-form notebook use it, on the
tiny models; and its tokens against the engine's for the same seed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
import torch

from bark_studio import suno
from core import engine as engine_module
from core.engine import Engine, EngineSettings
from core.flags import add_engine_flags, engine_settings
from core.options import GenerationOptions
from core.semantic import max_semantic_tokens

SPEAKER = "v2/en_speaker_6"
MAX_TOKENS = 20  # the tiny random models never end their speech: the tests end it here


@pytest.fixture(autouse=True)
def suno_on_tiny_models(tiny_models, monkeypatch):
    """A fresh module-level engine per test, reading the tiny pack (BARK_MODELS_DIR), offline, small models
    as SUNO_USE_SMALL_MODELS asks; every semantic stage capped at MAX_TOKENS, the engine's too."""
    monkeypatch.setenv("BARK_MODELS_DIR", str(tiny_models))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SUNO_USE_SMALL_MODELS", "True")
    monkeypatch.delenv("SUNO_OFFLOAD_CPU", raising=False)
    monkeypatch.setattr(suno, "_shared", suno._Shared())
    real = engine_module.max_semantic_tokens
    monkeypatch.setattr(engine_module, "max_semantic_tokens", lambda seconds: min(real(seconds), MAX_TOKENS))


def test_the_readme_example(tmp_path):
    from bark_studio.suno import SAMPLE_RATE, generate_audio, preload_models

    # download and load all models
    preload_models()

    # generate audio from text
    text_prompt = """
         Hello, my name is Suno. And, uh — and I like pizza. [laughs]
         But I also have other interests such as playing tic tac toe.
    """
    audio_array = generate_audio(text_prompt)

    # save audio to disk (the README uses scipy's write_wav; soundfile is what this project has)
    sf.write(tmp_path / "bark_generation.wav", audio_array, SAMPLE_RATE)

    assert SAMPLE_RATE == 24_000 and audio_array.dtype == np.float32 and audio_array.ndim == 1
    assert len(audio_array) > 0 and len(audio_array) % 320 == 0
    assert suno._shared.engine.settings.small_text  # SUNO_USE_SMALL_MODELS, read when the engine was made
    assert sf.info(tmp_path / "bark_generation.wav").samplerate == 24_000


def test_a_preset_a_voice_file_and_a_full_generation_as_history_prompt(tmp_path):
    full, audio = suno.generate_audio("Hello there.", history_prompt=SPEAKER, output_full=True, silent=True)
    assert set(full) == {"semantic_prompt", "coarse_prompt", "fine_prompt"}
    assert full["coarse_prompt"].shape[0] == 2 and full["fine_prompt"].shape[0] == 8
    assert len(audio) == full["fine_prompt"].shape[1] * 320
    suno.save_as_prompt(str(tmp_path / "mine.npz"), full)
    for history in (str(tmp_path / "mine.npz"), full, dict(np.load(tmp_path / "mine.npz"))):
        assert len(suno.generate_audio("Again.", history_prompt=history, silent=True)) > 0
    with pytest.raises(ValueError, match=r"\.npz"):
        suno.save_as_prompt(str(tmp_path / "mine.wav"), full)


def test_the_long_form_notebook_loop():
    script = "Hey, have you heard about this new text-to-audio model called Bark? It's amazing. Try it."
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", script) if s]  # the notebook uses nltk.sent_tokenize
    silence = np.zeros(int(0.25 * suno.SAMPLE_RATE))  # quarter second of silence
    pieces = []
    for sentence in sentences:
        audio_array = suno.generate_audio(sentence, history_prompt=SPEAKER)
        pieces += [audio_array, silence.copy()]
    joined = np.concatenate(pieces)
    assert len(sentences) == 3 and len(joined) == sum(len(p) for p in pieces)

    # its second part: the stages one by one, with a lower end-of-speech threshold
    semantic = suno.generate_text_semantic(sentences[0], history_prompt=SPEAKER, temp=0.6, min_eos_p=0.05)
    audio_array = suno.semantic_to_waveform(semantic, history_prompt=SPEAKER)
    assert semantic.dtype == np.int64 and semantic.max() < 10_000 and len(audio_array) > 0


def test_generate_audio_gives_the_engines_tokens_for_the_same_seed():
    """Suno's code draws from torch's global generator; seeded S, it is the engine's generator for seed S."""
    torch.manual_seed(7)
    full, audio = suno.generate_audio("Hello there.", history_prompt=SPEAKER, output_full=True, silent=True)
    engine = Engine(suno._shared.engine.settings)  # another engine, same settings
    result = engine.generate("Hello there.", SPEAKER, GenerationOptions(seed=7))
    segment = result.segments[0]
    assert np.array_equal(segment.semantic, full["semantic_prompt"])
    assert np.array_equal(segment.coarse, full["coarse_prompt"]) and np.array_equal(segment.fine, full["fine_prompt"])
    assert np.array_equal(result.audio, audio)


def test_the_lower_level_functions_take_suno_keywords():
    semantic = suno.generate_text_semantic(
        "Hi.",
        history_prompt=SPEAKER,
        temp=0.7,
        top_k=50,
        top_p=0.9,
        silent=True,
        max_gen_duration_s=0.2,
        allow_early_stop=False,
        use_kv_caching=True,
    )
    assert len(semantic) == max_semantic_tokens(0.2) == 10  # 0.2 s at 49.9 tokens a second, summed as Bark does
    coarse = suno.generate_coarse(
        semantic,
        history_prompt=SPEAKER,
        temp=0.7,
        top_k=None,
        top_p=None,
        silent=True,
        max_coarse_history=500,
        sliding_window_len=40,
        use_kv_caching=True,
    )
    fine = suno.generate_fine(coarse, history_prompt=SPEAKER, temp=None)  # None: argmax
    assert coarse.shape == (2, fine.shape[1]) and np.array_equal(fine[:2], coarse)
    assert suno.codec_decode(fine).shape == (fine.shape[1] * 320,)


def test_suno_environment_variables_are_read_by_the_whole_app_when_settings_are_made(monkeypatch):
    import argparse

    parser = argparse.ArgumentParser()
    add_engine_flags(parser)
    monkeypatch.setenv("SUNO_OFFLOAD_CPU", "1")
    settings = engine_settings(parser.parse_args([]))  # the launchers' settings: small and offload from the env
    assert settings.small_text and settings.small_coarse and settings.small_fine and settings.offload_cpu
    monkeypatch.setenv("SUNO_USE_SMALL_MODELS", "false")
    monkeypatch.setenv("SUNO_OFFLOAD_CPU", "0")
    assert engine_settings(parser.parse_args([])) == EngineSettings()
    assert engine_settings(parser.parse_args(["--small-text"])).small_text

"""Suno's bark Python API, on Bark Studio's engine: scripts and notebooks written for suno-ai/bark run
with only the import line changed.

    from bark_studio.suno import SAMPLE_RATE, generate_audio, preload_models

    preload_models()
    audio_array = generate_audio("Hello, my name is Suno.", history_prompt="v2/en_speaker_6")

The functions and keyword arguments are Suno's (REFERENCE.md section 4) and so are the results: numpy
arrays, and with `output_full=True` the dict of semantic, coarse and fine tokens that `save_as_prompt`
writes. As in Suno's code, sampling draws from torch's global generator, so `torch.manual_seed(S)`
before `generate_audio` gives exactly what the engine gives for seed S. `history_prompt` is a preset
name, an .npz path, a name in the voice library, or a dict of the three arrays. The models come from
BARK_MODELS_DIR (or ./models) and the Hugging Face cache; SUNO_USE_SMALL_MODELS, SUNO_OFFLOAD_CPU and
SUNO_ENABLE_MPS are read when the engine is made (the first call, or preload_models), not at import.

Differences: the KV cache is always used (`use_kv_caching` is accepted; the tokens are the same), and
the GPU choice is one for all models (any `*_use_gpu` true: the best device; all false: the CPU).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.constants import SAMPLE_RATE
from core.engine import Engine, EngineSettings, environment_settings
from core.options import GenerationOptions
from core.voice import VoicePrompt

__all__ = [
    "SAMPLE_RATE",
    "codec_decode",
    "generate_audio",
    "generate_coarse",
    "generate_fine",
    "generate_text_semantic",
    "preload_models",
    "save_as_prompt",
    "semantic_to_waveform",
    "text_to_semantic",
]

HistoryPrompt = str | Path | dict | VoicePrompt | None


class _Shared:
    """The one engine of Suno's module-level API (Suno keeps its models in a module global too)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engine: Engine | None = None

    def get(self, settings: EngineSettings | None = None) -> Engine:
        with self.lock:
            if self.engine is None or (settings is not None and settings != self.engine.settings):
                self.engine = Engine(settings or EngineSettings(**environment_settings()))
            return self.engine


_shared = _Shared()


def preload_models(
    text_use_gpu: bool = True,
    text_use_small: bool = False,
    coarse_use_gpu: bool = True,
    coarse_use_small: bool = False,
    fine_use_gpu: bool = True,
    fine_use_small: bool = False,
    codec_use_gpu: bool = True,
    force_reload: bool = False,
) -> None:
    """Load every model now (they load on first use otherwise)."""
    environment = environment_settings()
    gpu = text_use_gpu or coarse_use_gpu or fine_use_gpu or codec_use_gpu
    settings = EngineSettings(
        device=environment.get("device", "auto") if gpu else "cpu",
        small_text=text_use_small or bool(environment.get("small_text")),
        small_coarse=coarse_use_small or bool(environment.get("small_coarse")),
        small_fine=fine_use_small or bool(environment.get("small_fine")),
        offload_cpu=bool(environment.get("offload_cpu")),
    )
    engine = _shared.get(settings)
    if force_reload:
        engine.unload()
    engine.preload()


def generate_audio(
    text: str,
    history_prompt: HistoryPrompt = None,
    text_temp: float = 0.7,
    waveform_temp: float = 0.7,
    silent: bool = False,
    output_full: bool = False,
):
    """Text -> float32 audio at SAMPLE_RATE; with output_full, (full generation dict, audio)."""
    semantic = text_to_semantic(text, history_prompt=history_prompt, temp=text_temp, silent=silent)
    return semantic_to_waveform(
        semantic, history_prompt=history_prompt, temp=waveform_temp, silent=silent, output_full=output_full
    )


def text_to_semantic(text: str, history_prompt: HistoryPrompt = None, temp: float = 0.7, silent: bool = False):
    """Text -> semantic tokens (the first stage), as generate_text_semantic with Suno's api defaults."""
    return generate_text_semantic(text, history_prompt=history_prompt, temp=temp, silent=silent, use_kv_caching=True)


def semantic_to_waveform(
    semantic_tokens: np.ndarray,
    history_prompt: HistoryPrompt = None,
    temp: float = 0.7,
    silent: bool = False,
    output_full: bool = False,
):
    """Semantic tokens -> audio (coarse at `temp`, fine at 0.5, decode); with output_full, (dict, audio)."""
    coarse = generate_coarse(semantic_tokens, history_prompt=history_prompt, temp=temp, silent=silent)
    fine = generate_fine(coarse, history_prompt=history_prompt, temp=0.5)
    audio = codec_decode(fine)
    if output_full:
        return {"semantic_prompt": semantic_tokens, "coarse_prompt": coarse, "fine_prompt": fine}, audio
    return audio


def save_as_prompt(filepath: str | Path, full_generation: dict) -> None:
    """Write a full generation (output_full=True) as a voice .npz, usable as history_prompt."""
    if not str(filepath).endswith(".npz"):
        raise ValueError(f"a voice file's name ends in .npz, got {filepath!r}")
    _prompt(full_generation).save(Path(filepath))


def generate_text_semantic(
    text: str,
    history_prompt: HistoryPrompt = None,
    temp: float = 0.7,
    top_k: int | None = None,
    top_p: float | None = None,
    silent: bool = False,
    min_eos_p: float = 0.2,
    max_gen_duration_s: float | None = None,
    allow_early_stop: bool = True,
    use_kv_caching: bool = False,
) -> np.ndarray:
    """Text -> (S,) int64 semantic tokens 0..9999."""
    options = GenerationOptions(
        text_temp=temp,
        text_top_k=top_k,
        text_top_p=top_p,
        min_eos_p=min_eos_p,
        max_duration_s=max_gen_duration_s,
        allow_early_stop=allow_early_stop,
    )
    engine = _shared.get()
    with _bar(silent, "text") as step:
        return engine.text_to_semantic(text, _prompt(history_prompt), options, on_step=step)


def generate_coarse(
    x_semantic: np.ndarray,
    history_prompt: HistoryPrompt = None,
    temp: float = 0.7,
    top_k: int | None = None,
    top_p: float | None = None,
    silent: bool = False,
    max_coarse_history: int = 630,
    sliding_window_len: int = 60,
    use_kv_caching: bool = False,
) -> np.ndarray:
    """(S,) semantic tokens -> (2, T) int64 coarse codes 0..1023."""
    options = GenerationOptions(
        waveform_temp=temp,
        coarse_top_k=top_k,
        coarse_top_p=top_p,
        coarse_history=max_coarse_history,
        coarse_window=sliding_window_len,
    )
    engine = _shared.get()
    with _bar(silent, "coarse") as step:
        return engine.semantic_to_coarse(x_semantic, _prompt(history_prompt), options, on_step=step)


def generate_fine(
    x_coarse_gen: np.ndarray, history_prompt: HistoryPrompt = None, temp: float | None = 0.5, silent: bool = True
) -> np.ndarray:
    """(2, T) coarse codes -> (8, T) int64 fine codes 0..1023; temp None: argmax."""
    engine = _shared.get()
    with _bar(silent, "fine") as step:
        return engine.coarse_to_fine(
            x_coarse_gen, _prompt(history_prompt), GenerationOptions(fine_temp=temp), on_step=step
        )


def codec_decode(fine_tokens: np.ndarray) -> np.ndarray:
    """(8, T) codes -> float32 audio at SAMPLE_RATE, 320 samples per frame."""
    return _shared.get().decode(fine_tokens)


def _prompt(history_prompt: HistoryPrompt) -> VoicePrompt | str | Path | None:
    """A dict of the three arrays (Suno's full generation, or np.load of an .npz) as a voice; the rest
    as the engine takes them."""
    if isinstance(history_prompt, dict):
        keys = ("semantic_prompt", "coarse_prompt", "fine_prompt")
        return VoicePrompt.from_arrays(*(history_prompt[k] for k in keys), source="history_prompt")
    return history_prompt


@contextlib.contextmanager
def _bar(silent: bool, stage: str) -> Iterator[Callable[[int, int], None] | None]:
    """A tqdm bar for one stage's steps (none when silent), as Suno shows them."""
    if silent:
        yield None
        return
    with tqdm(desc=stage, unit="step") as bar:

        def step(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield step

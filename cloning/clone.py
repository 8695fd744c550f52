"""Clip of someone speaking -> voice prompt(s) in the library, usable like any preset.

    cloner = VoiceCloner(engine)
    result = cloner.clone("me.wav", "me", CloneOptions(variants=3))
    result.voices[0].name  # "me"; then engine.generate(text, voice="me")

Steps: read -> prepare (mono, 16 + 24 kHz, trim, level, length) -> choose where to cut -> per cut:
HuBERT layer-9 features -> quantizer -> semantic tokens, and EnCodec -> fine/coarse codes ->
align the two lengths -> validate every prompt -> save all (or nothing).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from core.codec import Codec
from core.constants import N_COARSE_CODEBOOKS
from core.engine import Engine
from core.errors import InputError, ModelFileError
from core.library import VoiceInfo
from core.model_cache import CODEC
from core.voice import VoicePrompt

from .audio import (
    BLOCK_S,
    CODEC_RATE,
    HUBERT_RATE,
    MAX_FILE_BYTES,
    PreparedClip,
    SourceAudio,
    Window,
    choose_windows,
    prepare,
    read_audio,
)
from .hubert import HubertFeatures, load_hubert
from .options import CloneOptions
from .quantizer import QUANTIZERS, Quantizer, load_quantizer
from .saving import PendingVoice, check_free, save_all, variant_names

ProgressCallback = Callable[[str, float], None]  # (what is happening, fraction done 0..1)
COARSE_PER_SEMANTIC = 1.5  # 75 coarse frames per 50 HuBERT frames


@dataclass(frozen=True, eq=False)
class _Models:
    hubert: HubertFeatures
    quantizer: Quantizer
    quantizer_source: str  # hub file or file name


@dataclass(frozen=True)
class CloneResult:
    voices: tuple[VoiceInfo, ...]  # saved, best first (the one ending at the clip's end)
    notes: tuple[str, ...]  # what preparation did, e.g. "trimmed 0.4 s of silence"
    duration_s: float  # seconds of audio in the first voice


SAVING = "saving"  # the progress stage from which the voices are being written into the library


class VoiceCloner:
    """Clones voices into `engine.library`, with `engine`'s models, device and model locator.

    HuBERT and the quantizers load on first use and stay cached (per language and device) until
    `unload`. One clone runs at a time per cloner.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        hubert_path: str | Path | None = None,
        quantizer_path: str | Path | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ):
        """hubert_path / quantizer_path: local files to use instead of the published ones (the
        quantizer then serves every language). Server settings, never per-request input."""
        self.engine = engine
        self.hubert_path = hubert_path
        self.quantizer_path = quantizer_path
        self.max_file_bytes = max_file_bytes
        self._hubert: tuple[tuple, HubertFeatures] | None = None  # (where from, device) -> model
        self._quantizers: dict[tuple, tuple[Quantizer, str]] = {}  # (language, where from, device) -> (model, source)
        self._lock = threading.Lock()

    def clone(
        self,
        audio: str | Path | tuple[np.ndarray, int],
        name: str,
        options: CloneOptions = CloneOptions(),  # noqa: B008  (frozen: a shared default is safe)
        *,
        overwrite: bool = False,
        source_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> CloneResult:
        """Clone the voice in `audio` (a file path, or (samples, rate)) and save it as `name`.

        With options.variants > 1 the other candidates are saved as `name-2`, `name-3`, ...
        InputError for a bad clip, name or option (nothing is written); ModelFileError for model files.
        """
        if not isinstance(options, CloneOptions):
            raise InputError(f"options must be CloneOptions, got {type(options).__name__}")
        report = progress or (lambda stage, fraction: None)
        names = variant_names(name, options.variants)
        check_free(self.engine.library, names, overwrite)  # fail before the slow part
        report("reading the clip", 0.0)
        source = read_audio(audio, name=source_name, max_bytes=self.max_file_bytes)
        clip = prepare(source, trim=options.trim_silence, normalize=options.normalize)
        windows, cut_notes = choose_windows(clip, options.max_seconds, options.variants)
        with self._lock:
            report("loading HuBERT and the quantizer", 0.1)
            models = self._models(options.language)
            prompts = []
            for i, window in enumerate(windows):
                report(f"encoding voice {i + 1} of {len(windows)}", 0.2 + 0.7 * i / len(windows))
                prompts.append(self._prompt(clip, window, models, source.name))
        report(SAVING, 0.9)
        notes = clip.notes + tuple(cut_notes)
        common = _common_metadata(source, options, notes, models, len(windows))
        pending = [
            PendingVoice(voice_name, prompt, {**common, **_window_metadata(clip, window, i)})
            for i, (voice_name, prompt, window) in enumerate(zip(names, prompts, windows, strict=False))
        ]
        saved = save_all(self.engine.library, pending, overwrite)
        report("done", 1.0)
        return CloneResult(voices=tuple(saved), notes=notes, duration_s=round(windows[0].seconds, 2))

    def unload(self) -> None:
        """Free HuBERT and the quantizers; they load again on the next clone."""
        with self._lock:
            self._hubert = None
            self._quantizers.clear()
        gc.collect()
        if self.engine.device.type == "cuda":
            torch.cuda.empty_cache()

    # Steps

    def _models(self, language: str) -> _Models:
        # The engine's settings may change between clones (another models dir or device).
        where = (str(self.engine.locator.models_dir), self.engine.locator.allow_download, str(self.engine.device))
        if self._hubert is None or self._hubert[0] != where:
            self._hubert = None  # free the old one before loading another
            self._hubert = (where, load_hubert(self.engine.locator, self.hubert_path).to(self.engine.device))
        hubert = self._hubert[1]
        key = (language if self.quantizer_path is None else "file", *where)
        if key not in self._quantizers:
            self._quantizers.clear()  # one at a time: a v1 quantizer is ~250 MB
            quantizer, source = load_quantizer(self.engine.locator, language, self.quantizer_path)
            self._check_fits(hubert, quantizer, source)
            self._quantizers[key] = (quantizer.to(self.engine.device), source)
        return _Models(hubert, *self._quantizers[key])

    @staticmethod
    def _check_fits(hubert: HubertFeatures, quantizer: Quantizer, source: str) -> None:
        if quantizer.config.input_size != hubert.width:
            raise ModelFileError(
                f"the quantizer {source} reads {quantizer.config.input_size}-wide features but HuBERT "
                f"({hubert.source}) gives {hubert.width}; use HuBERT Base with a HuBERT Base quantizer"
            )

    def _prompt(self, clip: PreparedClip, window: Window, models: _Models, source: str) -> VoicePrompt:
        """Semantic tokens (HuBERT + quantizer) and EnCodec codes of one stretch, lengths aligned."""
        semantic = models.quantizer.tokens(models.hubert(window.cut(clip, HUBERT_RATE))).cpu().numpy()
        with self.engine.models.use(CODEC, False) as model:
            fine = Codec(model).encode(window.cut(clip, CODEC_RATE))
        semantic, fine = align_lengths(semantic, fine)
        return VoicePrompt.from_arrays(semantic, fine[:N_COARSE_CODEBOOKS], fine, source=f"clone of {source}")


def align_lengths(semantic: np.ndarray, fine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim the start of the longer side so that frames / tokens is 1.5 (both end at the clip's end)."""
    n_semantic, n_frames = len(semantic), fine.shape[1]
    if n_frames > round(n_semantic * COARSE_PER_SEMANTIC):
        fine = fine[:, n_frames - round(n_semantic * COARSE_PER_SEMANTIC) :]
    elif n_semantic > round(n_frames / COARSE_PER_SEMANTIC):
        semantic = semantic[n_semantic - round(n_frames / COARSE_PER_SEMANTIC) :]
    return semantic, fine


def _common_metadata(source: SourceAudio, options: CloneOptions, notes, models: _Models, count: int) -> dict:
    """The sidecar fields all voices of one clone share: where they came from and how they were made."""
    return {
        "source": "clone",
        "source_file": source.name,
        "source_sha256": source.sha256,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "language": options.language,
        "language_name": QUANTIZERS[options.language].display_name,
        "quantizer": models.quantizer_source,
        "quantizer_version": models.quantizer.config.version,
        "hubert": models.hubert.source,
        "preparation": {
            "trim_silence": options.trim_silence,
            "normalize": options.normalize,
            "max_seconds": options.max_seconds,
            "notes": list(notes),
        },
        "variants": count,
    }


def _window_metadata(clip: PreparedClip, window: Window, index: int) -> dict:
    """The fields of one variant: which stretch of the source it is."""
    start_s = (clip.offset + window.start) * BLOCK_S
    return {
        "variant": index + 1,
        "duration_s": round(window.seconds, 2),
        "clip_start_s": round(start_s, 2),
        "clip_end_s": round(start_s + window.seconds, 2),
    }

"""The loaded models of one engine: lazy loading, a cache keyed by what matters, CPU offload.

The cache key is (stage, size, device, dtype, fast mode and its weights), so switching to the small models,
another device or another precision really loads other weights; at most one model per stage is kept.
With offload, models live on the CPU and visit the GPU only while their stage runs.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .activity import LoadingWatch
from .cpu_linear import BatchLinear, can_pack, drop_batch_copies, packed_is_faster_for_one_row, swap_linears
from .fast import make_fast
from .hub import ModelLocator
from .loading import load_codec_model, load_stage_model, load_tokenizer
from .model import GPT, FineGPT

CODEC = "codec"
QUANTIZED_STAGES = ("text", "coarse")  # their GPTs' one-row steps run on quantised weights in fast mode


@dataclass(frozen=True)
class ModelKey:
    stage: str  # text | coarse | fine | codec
    small: bool
    device: str
    dtype: str
    fast: bool
    quantize: str  # of fast mode's GPTs on the CPU: int8 or int4 (core.fast); else ""


class ModelCache:
    def __init__(
        self,
        locator: ModelLocator,
        device: torch.device,
        dtype: torch.dtype,
        offload: bool,
        fast: bool = False,
        quantize: str = "int8",
        watch: LoadingWatch | None = None,
    ):
        """quantize: the weights of fast mode's one-row steps on the CPU (core.fast.one_row_weights).
        watch: told what is loading (core.activity; by default the locator's, which downloads report to)."""
        self.locator = locator
        self.watch = watch or locator.watch or LoadingWatch()
        self.device = device
        self.dtype = dtype
        self.offload = offload and device.type != "cpu"
        self.fast = fast
        self.quantize = quantize
        self._models: dict[ModelKey, nn.Module] = {}
        self._tokenizer = None
        self._loading = threading.RLock()  # held while a model loads (minutes, with a download)
        self._lock = threading.Lock()  # held only to read or change _models: never waits for a load

    def key(self, stage: str, small: bool) -> ModelKey:
        dtype = str(self.dtype).removeprefix("torch.")
        quantized = self.fast and self.device.type == "cpu" and stage in QUANTIZED_STAGES
        fast, quantize = self.fast and stage != CODEC, self.quantize if quantized else ""
        return ModelKey(stage, small and stage != CODEC, str(self.device), dtype, fast, quantize)

    def get(self, stage: str, small: bool) -> nn.Module:
        """The model of a stage, loaded on first use; on the CPU when offloading, else on the device."""
        key = self.key(stage, small)
        with self._loading:
            with self._lock:
                model = self._models.get(key)
                if model is None:
                    for other in [k for k in self._models if k.stage == stage]:
                        del self._models[other]  # one model per stage: switching sizes frees the old one
            if model is None:
                with self.watch.loading("the codec" if stage == CODEC else f"the {stage} model"):
                    model = self._load(stage, small)
                with self._lock:
                    self._models[key] = model
            return model

    def _load(self, stage: str, small: bool) -> nn.Module:
        if stage == CODEC:
            model = load_codec_model(self.locator)
        else:
            model = load_stage_model(self.locator, stage, small)
            if self.fast:
                model = make_fast(model, self.device, self.dtype, self.quantize)
            elif self.device.type == "cpu" and isinstance(model, GPT) and can_pack(torch.float32):
                # batched decode rows on packed weights, or all rows; under autocast (--dtype) F.linear, so none kept
                keep = self.dtype == torch.float32 and packed_is_faster_for_one_row()
                swap_linears(model, lambda linear: BatchLinear(linear, keep_packed=keep))
            elif self.device.type == "cuda" and self.dtype != torch.float32:
                store_linears_in(model, self.dtype)  # what autocast computes in anyway
        return model.to("cpu" if self.offload else self.device)

    @contextlib.contextmanager
    def use(self, stage: str, small: bool) -> Iterator[nn.Module]:
        """The model on the compute device for one stage; with offload it goes back to the CPU after.
        Copies of weights packed for a batch during the stage are dropped after it (memory stays flat)."""
        model = self.get(stage, small)
        if not self.offload:
            try:
                yield model
            finally:
                drop_batch_copies(model)
            return
        model.to(self.device)
        try:
            yield model
        finally:
            model.to("cpu")
            _free_device_memory(self.device)

    def tokenizer(self):
        with self._loading:
            if self._tokenizer is None:
                with self.watch.loading("the tokenizer"):
                    self._tokenizer = load_tokenizer(self.locator)
            return self._tokenizer

    def loaded(self) -> list[ModelKey]:
        """The models loaded now (at once, even while another loads: /health asks)."""
        with self._lock:
            return list(self._models)

    def unload(self) -> None:
        with self._loading, self._lock:  # after a load under way
            self._models.clear()
            self._tokenizer = None
        gc.collect()
        _free_device_memory(self.device)


def store_linears_in(model: GPT | FineGPT, dtype: torch.dtype) -> None:
    """Under autocast every Linear of the blocks (and the GPT's output head) computes in `dtype`
    anyway; storing those weights in it gives the same results with half their memory, and a
    decode step (or a CUDA graph replay, which cannot keep autocast's cast cache) reads half the
    bytes. Embeddings (the fine model's heads share them) and LayerNorms stay fp32."""
    parts = [model.transformer.h] + ([model.lm_head] if isinstance(model, GPT) else [])
    for part in parts:
        for module in part.modules():
            if isinstance(module, nn.Linear):
                module.to(dtype)


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()

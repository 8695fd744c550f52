"""Decode steps of the causal GPTs: eager, or fixed-shape and replayed as CUDA graphs.

A decode step of a small Bark model on a GPU is a few hundred tiny kernels; launching them takes
longer than running them. With fixed shapes (the whole preallocated cache read under a mask, the
position a tensor: `GPT.step`) one step per head variant is captured once as a CUDA graph and
replayed for every later token. On the CPU the eager step is faster: it reads only the filled part
of the cache, and there is no launch overhead to save.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

from .model import GPT, KVCache

STEP_MODES = ("eager", "static", "graph")  # static: GPT.step without capture (tests, any device)


class DecodeSteps:
    """The decode of one sequence per row in a KV cache: `prefill` starts it, each call adds a position.

    steps.prefill(ids (B, T)) -> logits (B, V) of the last position, the cache filled from position 0;
    steps(ids (B, 1), head_rows) -> logits (B, V) of the next position. Both advance cache.length.
    """

    def __init__(self, model: GPT, cache: KVCache, mode: str = "eager"):
        if mode not in STEP_MODES:
            raise ValueError(f"mode must be one of {STEP_MODES}, got {mode!r}")
        self.model, self.cache, self.mode = model, cache, mode
        device = model.device
        self.ids = torch.zeros(cache.k.shape[1], 1, dtype=torch.long, device=device)
        self.pos = torch.zeros(1, dtype=torch.long, device=device)
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.pool = None
        self.stream = None

    def prefill(self, ids: torch.Tensor, merge_context: bool = False, head_rows: slice | None = None) -> torch.Tensor:
        """Start a new sequence (whatever the cache held before): one eager pass over ids (B, T)."""
        self.cache.length = 0
        return self.model(ids, cache=self.cache, merge_context=merge_context, head_rows=head_rows)

    def __call__(self, ids: torch.Tensor, head_rows: slice | None = None) -> torch.Tensor:
        if self.mode == "eager":
            return self.model(ids, cache=self.cache, head_rows=head_rows)
        if self.cache.length >= self.cache.max_len:
            raise ValueError(f"the cache holds {self.cache.max_len} positions; all are filled")
        self.ids.copy_(ids)
        self.pos.fill_(self.cache.length)
        if self.mode == "static":
            logits = self.model.step(self.ids, self.cache, self.pos, head_rows)
        else:
            key = (None,) if head_rows is None else (head_rows.start, head_rows.stop)
            if key not in self.graphs:
                try:
                    self.graphs[key] = self._capture(head_rows)
                except RuntimeError as error:  # a driver or an op that cannot be captured: carry on eagerly
                    warnings.warn(f"CUDA graph capture failed, decoding eagerly: {error}", RuntimeWarning, stacklevel=2)
                    self.mode = "eager"
                    return self.model(ids, cache=self.cache, head_rows=head_rows)
            graph, logits = self.graphs[key]
            graph.replay()
            logits = logits.clone()  # the graph's output buffer is overwritten by the next replay
        self.cache.length += 1
        return logits

    def _capture(self, head_rows: slice | None) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Warm up on the capture stream (the step writes the same keys and values each time), then record."""
        if self.stream is None:
            self.stream = torch.cuda.Stream(device=self.model.device)
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream), _no_autocast_cache():
            for _ in range(2):
                self.model.step(self.ids, self.cache, self.pos, head_rows)
        torch.cuda.current_stream().wait_stream(self.stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool, stream=self.stream), _no_autocast_cache():
            logits = self.model.step(self.ids, self.cache, self.pos, head_rows)
        self.pool = graph.pool()  # later graphs (the other coarse codebook) share its memory
        return graph, logits


@contextlib.contextmanager
def _no_autocast_cache():
    """Autocast as it is, without its weight-cast cache (whose tensors a graph must not capture)."""
    if not torch.is_autocast_enabled("cuda"):
        yield
        return
    with torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False):
        yield

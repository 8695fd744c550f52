"""Bark's three GPTs in nanoGPT style: parameter names match Suno's checkpoints key for key.

`GPT` is the causal model of the text (semantic) and coarse stages; `FineGPT` is the
non-causal model that fills in codebooks 2..7. Both are inference-only (no dropout).
Shapes in comments: B batch, T time, C n_embd, nh heads, hs head size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .constants import TEXT_CONTEXT


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int = 1024
    input_vocab_size: int = 10_048
    output_vocab_size: int = 10_048
    bias: bool = False
    n_codes_total: int = 8  # fine model only
    n_codes_given: int = 1  # fine model only

    @classmethod
    def from_model_args(cls, args: dict) -> GPTConfig:
        """Read a checkpoint's `model_args` (either `vocab_size` or input/output sizes)."""
        vocab = args.get("vocab_size")
        fields = {
            "n_layer": int(args["n_layer"]),
            "n_head": int(args["n_head"]),
            "n_embd": int(args["n_embd"]),
            "block_size": int(args["block_size"]),
            "input_vocab_size": int(args.get("input_vocab_size", vocab)),
            "output_vocab_size": int(args.get("output_vocab_size", vocab)),
            "bias": bool(args.get("bias", False)),
        }
        for key in ("n_codes_total", "n_codes_given"):
            if key in args:
                fields[key] = int(args[key])
        return cls(**fields)

    def to_model_args(self) -> dict:
        return {**asdict(self), "dropout": 0.0}


class KVCache:
    """Keys and values of every layer, allocated once and written by position.

    Buffers are (n_layer, B, nh, max_len, hs). `length` is the number of positions filled;
    setting it back to 0 reuses the memory for a new sequence (the coarse stage does so per window).
    """

    def __init__(self, config: GPTConfig, batch: int, max_len: int, device, dtype: torch.dtype):
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch, config.n_head, max_len, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.layers = [(self.k[i], self.v[i]) for i in range(config.n_layer)]  # per-layer views, made once
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (B, nh, T, hs) written at positions length.. of a layer -> that layer's keys and
        values up to length + T. `length` is the model's to advance, once every layer is written."""
        keys, values = self.layers[layer]
        end = self.length + k.shape[2]
        keys.narrow(2, self.length, k.shape[2]).copy_(k)
        values.narrow(2, self.length, v.shape[2]).copy_(v)
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)


@dataclass(frozen=True)
class StaticPosition:
    """Where a fixed-shape decode step writes (pos, a (1,) tensor) and what it sees (visible, (1, max_len) bool)."""

    pos: torch.Tensor
    visible: torch.Tensor


class SelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, causal: bool):
        super().__init__()
        self.n_head = config.n_head
        self.causal = causal
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, at: StaticPosition | None = None
    ) -> torch.Tensor:
        """(B, T, C) -> (B, T, C) on one of three paths: a prefill (no cache, or an empty one that keeps its
        keys and values), a cached step (T = 1, after cache.length), a fixed-shape step (`at`)."""
        B, T, C = x.shape
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, nh, T, hs) each
        if at is not None:  # a fixed-shape step: write at the position, read the whole cache under a mask
            keys, values = cache.layers[layer]
            keys.index_copy_(2, at.pos, k)
            values.index_copy_(2, at.pos, v)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=at.visible)
        elif cache is not None and cache.length > 0:  # a step: the new position sees everything before it
            y = step_attention(q, *cache.write(layer, k, v), cache.layers[layer])
        else:  # a prefill: causal in the GPT (flash kernels skip the masked half), full in the fine model
            if cache is not None:
                k, v = cache.write(layer, k, v)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


def step_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, buffers) -> torch.Tensor:
    """One new position q (B, nh, 1, hs) attending to the cached keys and values (B, nh, S, hs), which are
    the first S positions of a layer's cache buffers (B, nh, max_len, hs) -> (B, nh, 1, hs).

    In bf16 on the CPU (--dtype bfloat16; fast mode keeps an fp32 cache for this reason): two matrix
    products over the whole buffers, the positions from S on masked, then an fp32 softmax. PyTorch's CPU
    kernel (flash attention) converts bf16 blocks to fp32 and takes 5-7x as long for one query; products
    over the first S positions only would copy them (their batch stride is the buffer's), reading all
    max_len does not. At 900 positions one row 1.0 -> 0.14 ms a layer, five rows 5.3 -> 0.85 ms.
    Elsewhere (fp32: exact and fast mode; GPUs) the library's kernel.
    """
    if q.device.type != "cpu" or q.dtype != torch.bfloat16:
        return F.scaled_dot_product_attention(q, keys, values)
    all_keys, all_values = buffers
    scores = (q * q.shape[-1] ** -0.5) @ all_keys.transpose(-1, -2)  # (B, nh, 1, max_len); hs 64: an exact scale
    scores[..., keys.shape[2] :] = float("-inf")
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ all_values


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forward_gelu = getattr(self.c_fc, "forward_gelu", None)  # fast mode's layers: the GELU in their kernel
        hidden = F.gelu(self.c_fc(x)) if forward_gelu is None else forward_gelu(x)
        return self.c_proj(hidden)


class Block(nn.Module):
    """Pre-LayerNorm transformer block. The fine model's LayerNorms always carry a bias."""

    def __init__(self, config: GPTConfig, causal: bool):
        super().__init__()
        ln_bias = config.bias if causal else True
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=ln_bias)
        self.attn = SelfAttention(config, causal)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=ln_bias)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, at: StaticPosition | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, at)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Causal GPT of the text and coarse stages."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.input_vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "h": nn.ModuleList(Block(config, causal=True) for _ in range(config.n_layer)),
                "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.output_vocab_size, bias=False)

    @property
    def device(self) -> torch.device:
        return self.transformer.wpe.weight.device

    def new_cache(self, batch: int = 1, max_len: int | None = None, dtype: torch.dtype | None = None) -> KVCache:
        """A cache in the model's activation dtype: the autocast dtype under autocast, else the embeddings'."""
        weight = self.transformer.wpe.weight
        if dtype is None:
            device_type = weight.device.type
            autocast = torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)
            dtype = torch.get_autocast_dtype(device_type) if autocast else weight.dtype
        return KVCache(self.config, batch, max_len or self.config.block_size, weight.device, dtype)

    def embed(self, idx: torch.Tensor, merge_context: bool) -> torch.Tensor:
        """(B, T) ids -> (B, T', C) token embeddings.

        With `merge_context` (text model, first pass) the 256 text and 256 history embeddings are
        added position-wise, so T' = T - 256.
        """
        wte = self.transformer.wte
        if not merge_context:
            return wte(idx)
        n = TEXT_CONTEXT
        merged = wte(idx[:, :n]) + wte(idx[:, n : 2 * n])
        return torch.cat([merged, wte(idx[:, 2 * n :])], dim=1)

    def forward(
        self,
        idx: torch.Tensor,
        cache: KVCache | None = None,
        merge_context: bool = False,
        last_only: bool = True,
        head_rows: slice | None = None,
    ) -> torch.Tensor:
        """(B, T) ids -> logits (B, V) of the last position, or (B, T', V) with `last_only=False`.

        With a cache: a prefill when it is empty (`cache.length` 0), else one new position after
        `cache.length`; either way `cache.length` then advances.
        `head_rows` computes only those logits (the coarse stage needs 1024 of 12 096).
        """
        x = self.embed(idx, merge_context)
        start = cache.length if cache is not None else 0
        T = x.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} positions exceeds the context of {self.config.block_size}")
        if start > 0 and T > 1:
            raise ValueError(f"a cache holding {start} positions takes one more at a time, got {T}")
        pos = torch.arange(start, start + T, device=idx.device)
        x = x + self.transformer.wpe(pos)
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i)
        if cache is not None:
            cache.length = start + T
        return self.head(x[:, -1] if last_only else x, head_rows)

    def step(self, idx: torch.Tensor, cache: KVCache, pos: torch.Tensor, head_rows: slice | None = None):
        """One decode step whose shapes never change, for CUDA graphs: (B, 1) ids at position pos
        (a (1,) tensor) -> logits (B, V). Attends to the whole cache under a mask; `cache.length` is the
        caller's to advance."""
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        at = StaticPosition(pos, (torch.arange(cache.max_len, device=pos.device) <= pos)[None])
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i, at)
        return self.head(x[:, -1], head_rows)

    def head(self, x: torch.Tensor, head_rows: slice | None) -> torch.Tensor:
        x = self.transformer.ln_f(x)
        return self.lm_head(x) if head_rows is None else linear_rows(self.lm_head, x, head_rows)


def linear_rows(layer: nn.Module, x: torch.Tensor, rows: slice) -> torch.Tensor:
    """Only the outputs `rows` of a Linear (or a layer with `forward_rows`); the rest are not computed."""
    forward_rows = getattr(layer, "forward_rows", None)
    if forward_rows is not None:
        return forward_rows(x, rows)
    return F.linear(x, layer.weight[rows], None if layer.bias is None else layer.bias[rows])


class FineGPT(nn.Module):
    """Non-causal GPT that predicts codebook k from the sum of the embeddings of codebooks 0..k-1."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        n_heads = config.n_codes_total - config.n_codes_given
        self.transformer = nn.ModuleDict(
            {
                "wtes": nn.ModuleList(
                    nn.Embedding(config.input_vocab_size, config.n_embd) for _ in range(config.n_codes_total)
                ),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "h": nn.ModuleList(Block(config, causal=False) for _ in range(config.n_layer)),
                "ln_f": nn.LayerNorm(config.n_embd),
            }
        )
        self.lm_heads = nn.ModuleList(
            nn.Linear(config.n_embd, config.output_vocab_size, bias=False) for _ in range(n_heads)
        )
        self.tie_weights()

    @property
    def device(self) -> torch.device:
        return self.transformer.wpe.weight.device

    def tie_weights(self) -> None:
        """Embedding table i+1 is the same tensor as output head i (as in the checkpoint)."""
        for i, head in enumerate(self.lm_heads):
            self.transformer.wtes[i + 1].weight = head.weight

    def forward(self, pred_idx: int, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for codebook `pred_idx` given codes idx (B, T, n_codes_total)."""
        if not self.config.n_codes_given <= pred_idx < self.config.n_codes_total:
            raise ValueError(f"pred_idx must be in [{self.config.n_codes_given}, {self.config.n_codes_total})")
        T = idx.shape[1]
        x = self.transformer.wtes[0](idx[:, :, 0])
        for i in range(1, pred_idx + 1):
            x = x + self.transformer.wtes[i](idx[:, :, i])
        x = x + self.transformer.wpe(torch.arange(T, device=idx.device))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_heads[pred_idx - self.config.n_codes_given](self.transformer.ln_f(x))

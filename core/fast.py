"""Fast mode: lower-precision weights, traded for a small, measured change in the logits.

On the CPU each Linear of the text and coarse GPTs becomes a `FastLinear`: a single decode row
multiplies int8 weights with per-output-channel scales (memory-bound: fewer bytes, less time; a
whole text-model step 11.1 ms against 13.9 with packed bf16), or with `quantize="int4"` int4 weights
in groups of 128 inputs (half the bytes again: 48 block matrices 6.6 -> 3.4 ms on one thread),
anything larger uses bf16 weights packed for oneDNN (core.cpu_linear; a batch of 5 decode rows
23.8 -> 19.6 ms a step against int8). Around those layers the GPTs compute in fp32, as in exact mode:
the CPU attention kernel with one query on bf16 keys and values (a bf16 KV cache) took 3-8x as long
as on fp32 ones (527 against 64 us a layer at 900 positions), so with a bf16 cache a one-thread
coarse step took 20.9 ms, with an fp32 one 13.0. The fine GPT runs on packed bf16 weights and bf16
activations (six passes over 1024 positions 1.62 -> 1.42 s). On GPUs the weights are simply cast to
the autocast dtype.

The trade-off: logits move by 0.8% (prefills and batched steps on bf16 weights; the fine stage 1.1%)
to 1.9-2.2% (a one-row step on int8 weights), relative L2 at the real sizes (python -m
bench.bench_core; tests/core/test_fast.py holds them under 3%), so a seed gives different, equally
plausible audio than in exact mode. int4 weights move a one-row step's logits by 22-24%: a rougher
approximation of the model, offered as its own setting (EngineSettings.quantize).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_linear import PackedLinear, can_pack, pack, packed_linear, rows_of, swap_linears
from .model import GPT, FineGPT

QUANTIZE = ("int8", "int4")  # the weights of one-row steps (EngineSettings.quantize)
# Inputs per int4 scale and zero. Groups of 64 or 32 move a step's logits a little less (20.5% or 17.9%
# against 22%) for about the same kernel time on one thread, but 6% or 18% more bytes to read.
INT4_GROUP = 128
INT4_GROUPS = (32, 64, 128, 256)  # the group sizes the kernel takes
# The int4 kernel packs outputs in blocks of 64 (AVX-512) or 32: rows from a multiple of 64 on are a
# packed matrix of their own.
INT4_BLOCK = 64


def int4_available() -> bool:
    """Whether this PyTorch has the CPU kernels of int4 weights (PyTorch 2.5 and later)."""
    ops = torch.ops.aten
    return hasattr(ops, "_weight_int4pack_mm_for_cpu") and hasattr(ops, "_convert_weight_to_int4pack_for_cpu")


def one_row_weights(quantize: str) -> str:
    """The weights fast mode's one-row steps get for `quantize` (one of QUANTIZE): int4 only where this
    PyTorch can run them; elsewhere int8, with a warning."""
    if quantize == "int4" and not int4_available():
        warnings.warn(
            "This PyTorch has no int4 CPU kernel (_weight_int4pack_mm_for_cpu): fast mode uses int8 weights",
            RuntimeWarning,
            stacklevel=2,
        )
        return "int8"
    return quantize


class Int8Matmul:
    """x (M, in) bf16 -> x W^T (M, out) on int8 W with a scale per output channel."""

    def __init__(self, weight: torch.Tensor):
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.weight = torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8)
        self.scales = scales.to(torch.bfloat16)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x, self.weight, self.scales)

    def rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """Only the outputs `rows`."""
        return torch.ops.aten._weight_int8pack_mm(x, self.weight[rows], self.scales[rows])


class Int4Matmul:
    """x (M, in) bf16 -> x W^T (M, out) on int4 W: each run of `group` inputs of an output channel
    spans its min..max in 16 steps (a scale and a zero), half the bytes of int8."""

    def __init__(self, weight: torch.Tensor, group: int = INT4_GROUP):
        n, k = weight.shape
        self.group = min(group, k)
        if self.group not in INT4_GROUPS or k % self.group:
            raise ValueError(f"int4 weights in groups of {group} need a multiple of it or one of {INT4_GROUPS} inputs")
        groups = weight.reshape(n, k // self.group, self.group)
        low, high = groups.amin(dim=2), groups.amax(dim=2)
        scales = ((high - low) / 15).clamp(min=1e-12)
        q = torch.round((groups - low[..., None]) / scales[..., None]).clamp(0, 15).to(torch.int32)
        self.weight = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.reshape(n, k), 1)  # (out, in / 2)
        # (in / group, out, 2): the kernel computes (q - 8) * scale + zero
        self.scales_and_zeros = torch.stack([scales, low + 8 * scales], dim=2).transpose(0, 1).contiguous()
        self.scales_and_zeros = self.scales_and_zeros.to(torch.bfloat16)
        self.slices: dict[tuple[int, int], tuple[slice, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.weight, self.group, self.scales_and_zeros)

    def rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """Only the outputs `rows`: those of the packed blocks around them, then the slice."""
        within, weight, scales_and_zeros = self._blocks(rows)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x, weight, self.group, scales_and_zeros)
        return y[:, within]

    def _blocks(self, rows: slice) -> tuple[slice, torch.Tensor, torch.Tensor]:
        """(rows within the blocks, the blocks' packed weights, their scales and zeros), made once per slice."""
        start, stop, _ = rows.indices(self.weight.shape[0])
        found = self.slices.get((start, stop))
        if found is None:
            first, last = start - start % INT4_BLOCK, min(-(-stop // INT4_BLOCK) * INT4_BLOCK, self.weight.shape[0])
            scales_and_zeros = self.scales_and_zeros[:, first:last].contiguous()
            found = slice(start - first, stop - first), self.weight[first:last], scales_and_zeros
            self.slices[(start, stop)] = found
        return found


class FastLinear(nn.Module):
    """y = x W^T (+ b): int8 or int4 W for one row or a slice of the outputs, bf16 W otherwise.

    x and y stay fp32, so the activations around the layer do too: PyTorch's CPU attention for one
    query takes 3-8x as long on bf16 keys and values as on fp32 ones (module docstring). The bf16
    weights are packed for oneDNN where it runs bf16 (`packed=None`), else kept plain. The quantised
    weights are plain attributes, like the packed ones: CPU-only, outside state_dict and `.to()`.
    """

    def __init__(self, linear: nn.Linear, packed: bool | None = None, quantize: str = "int8"):
        super().__init__()
        if packed is None:
            packed = can_pack(torch.bfloat16)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float()
        self.matmul = Int4Matmul(weight) if quantize == "int4" else Int8Matmul(weight)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        if packed:
            self.packed, self.weight_bf16 = pack(weight.to(torch.bfloat16)), None
        else:
            self.packed, self.weight_bf16 = None, weight.to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x16 = x.to(torch.bfloat16)
        if rows_of(x) == 1:  # one row: the hot path of every decode step, kept lean
            y = self.matmul(x16.reshape(1, -1)).view(*x.shape[:-1], -1)
        elif self.packed is not None:
            y = packed_linear(x16, self.packed, None)
        else:
            y = F.linear(x16, self.weight_bf16)
        return y.float() if self.bias is None else y + self.bias  # bf16 + fp32 bias: fp32

    def forward_gelu(self, x: torch.Tensor) -> torch.Tensor:
        """F.gelu(self(x)) (see core.model.MLP): for more than one row on packed weights from one kernel,
        left in bf16 for the next FastLinear, which takes bf16 as it is (a small coarse model's prefill of
        5 rows of 887 positions 2.16 -> 1.74 s; a fine pass of 5 rows 2.34 -> 2.18 s)."""
        if rows_of(x) == 1 or self.packed is None or self.bias is not None:
            return F.gelu(self(x))
        return packed_linear(x.to(torch.bfloat16), self.packed, None, gelu=True)

    def forward_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """Only the outputs `rows` (see core.model.linear_rows): a head slice for a few rows, quantised."""
        flat = x.reshape(rows_of(x), x.shape[-1]).to(torch.bfloat16).contiguous()
        y = self.matmul.rows(flat, rows).view(*x.shape[:-1], -1)
        return y.float() if self.bias is None else y + self.bias[rows]


def make_fast(model: nn.Module, device: torch.device, gpu_dtype: torch.dtype, quantize: str = "int8") -> nn.Module:
    """The model converted for fast mode on `device` (in place; returns it); on the CPU the GPTs' one-row
    steps run on `quantize` weights (one of QUANTIZE; see one_row_weights)."""
    if device.type != "cpu":
        return model.to(gpu_dtype)
    if isinstance(model, GPT):  # the rest stays fp32: embeddings, LayerNorms, attention, the KV cache
        swap_linears(model, lambda linear: FastLinear(linear, quantize=quantize))
        return model
    if isinstance(model, FineGPT):  # 1024 rows a pass; the output heads stay tied to the embeddings
        if can_pack(torch.bfloat16):
            swap_linears(model.transformer.h, lambda linear: PackedLinear(linear, torch.bfloat16))
        return model.to(torch.bfloat16)
    return model  # the codec stays as it is

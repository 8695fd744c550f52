"""Fast mode: lower-precision weights, traded for a small, measured change in the logits.

On the CPU each Linear of the text and coarse GPTs becomes a `FastLinear`: a single decode row
multiplies int8 weights with per-output-channel scales (memory-bound: fewer bytes, less time; a
whole text-model step 11.1 ms against 13.9 with packed bf16), anything larger uses bf16 weights packed
for oneDNN (core.cpu_linear; a batch of 5 decode rows 23.8 -> 19.6 ms a step against int8). The
fine GPT runs on packed bf16 weights too (six passes over 1024 positions 1.62 -> 1.42 s), everything
else in bf16. On GPUs the weights are simply cast to the autocast dtype.

The trade-off: logits move by 1.1% (bf16) to 2.3% (a one-row step on int8 weights), relative L2 at
the real sizes (python -m bench.bench_core; tests/core/test_fast.py holds them under 3%), so a seed
gives different, equally plausible audio than in exact mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_linear import PackedLinear, can_pack, pack, packed_linear, rows_of, swap_linears
from .model import GPT, FineGPT


class FastLinear(nn.Module):
    """y = x W^T (+ b): int8 W for one row or a slice of the outputs, bf16 W otherwise.

    The bf16 weights are packed for oneDNN where it runs bf16 (`packed=None`), else kept plain.
    """

    def __init__(self, linear: nn.Linear, packed: bool | None = None):
        super().__init__()
        if packed is None:
            packed = can_pack(torch.bfloat16)
        weight = linear.weight.detach().float()
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.register_buffer("weight_int8", torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales.to(torch.bfloat16))
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))
        if packed:
            self.packed, self.weight_bf16 = pack(weight.to(torch.bfloat16)), None
        else:
            self.packed, self.weight_bf16 = None, weight.to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.bfloat16)
        if rows_of(x) == 1:  # one row: the hot path of every decode step, kept lean
            y = torch.ops.aten._weight_int8pack_mm(x.reshape(1, -1), self.weight_int8, self.scales)
            y = y.view(*x.shape[:-1], -1)
            return y if self.bias is None else y + self.bias
        if self.packed is not None:
            return packed_linear(x, self.packed, self.bias)
        return F.linear(x, self.weight_bf16, self.bias)

    def forward_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """Only the outputs `rows` (see core.model.linear_rows): a head slice for a few rows, in int8."""
        x = x.to(torch.bfloat16)
        flat = x.reshape(rows_of(x), x.shape[-1]).contiguous()
        y = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8[rows], self.scales[rows])
        y = y.view(*x.shape[:-1], -1)
        return y if self.bias is None else y + self.bias[rows]


def make_fast(model: nn.Module, device: torch.device, gpu_dtype: torch.dtype) -> nn.Module:
    """The model converted for fast mode on `device` (in place; returns it)."""
    if device.type != "cpu":
        return model.to(gpu_dtype)
    if isinstance(model, GPT):
        swap_linears(model, FastLinear)
    elif isinstance(model, FineGPT):  # 1024 rows a pass; the output heads stay tied to the embeddings
        if can_pack(torch.bfloat16):
            swap_linears(model.transformer.h, lambda linear: PackedLinear(linear, torch.bfloat16))
    else:  # the codec stays as it is
        return model
    return model.to(torch.bfloat16)

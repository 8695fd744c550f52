"""Fast mode: lower-precision weights, traded for a small, measured change in the logits.

On the CPU each Linear becomes a `FastLinear` holding int8 weights with per-output-channel
scales, used for decode steps (a few rows: memory-bound, so a quarter of the bytes is nearly a
quarter of the time), and bf16 weights for prefill (compute-bound: bf16 matrix units); everything
else runs in bf16. On GPUs the weights are simply cast to the autocast dtype.

The trade-off: logits move by about 1% (relative L2, measured by tests/core/test_fast.py), so a
seed gives different, equally plausible audio than in exact mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .model import GPT, FineGPT

DECODE_ROWS = 4  # up to this many rows (batch x new positions) int8 is faster than bf16 weights


class FastLinear(nn.Module):
    """y = x W^T (+ b) with int8 W for a few rows and bf16 W for many."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.register_buffer("weight_int8", torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales.to(torch.bfloat16))
        self.register_buffer("weight_bf16", weight.to(torch.bfloat16))
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_rows(x, slice(None))

    def forward_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """Only the outputs `rows` (see core.model.linear_rows)."""
        x = x.to(torch.bfloat16)
        bias = None if self.bias is None else self.bias[rows]
        n_rows = x.numel() // x.shape[-1]
        if n_rows > DECODE_ROWS:
            return F.linear(x, self.weight_bf16[rows], bias)
        flat = x.reshape(n_rows, x.shape[-1]).contiguous()
        y = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8[rows], self.scales[rows])
        y = y.view(*x.shape[:-1], y.shape[-1])
        return y if bias is None else y + bias


def _swap_linears(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, FastLinear(child))
        else:
            _swap_linears(child)


def make_fast(model: nn.Module, device: torch.device, gpu_dtype: torch.dtype) -> nn.Module:
    """The model converted for fast mode on `device` (in place; returns it)."""
    if device.type != "cpu":
        return model.to(gpu_dtype)
    if isinstance(model, GPT):
        _swap_linears(model)
    elif not isinstance(model, FineGPT):  # the codec stays as it is
        return model
    return model.to(torch.bfloat16)

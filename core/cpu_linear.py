"""Linear layers tuned for the CPU, picked by how many rows (batch x new positions) a call has.

Measured on a 2-core Xeon with AMX, over the 48 block matrices of a small Bark model:
PyTorch's default fp32 kernel (MKL) is best for one row and for long prefills, but a batch of 2-8
decode rows takes almost twice one row's time, while oneDNN with weights packed once into its own
blocked layout reads them at about the one-row cost (5 rows: 22.5 -> 15.6 ms). In bf16 the packed
weights are faster at every row count than F.linear. On a 2-core AMD EPYC, MKL's one-row kernel is
the slow one (17.5 GB/s of weights against oneDNN's 39.5 with packed fp32 weights: the 48 matrices
19.5 -> 8.6 ms), so there exact mode's layers keep a packed copy for every row count
(`packed_is_faster_for_one_row`). Packed weights are opaque oneDNN tensors: they stay on the CPU,
outside the module's parameters and buffers, so `.to()` and state_dict ignore them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

PACK_BATCH_HINT = 8  # the row count oneDNN tunes the packed layout for (decode batches)
BATCH_ROWS = range(2, 65)  # exact mode: row counts for which the packed fp32 copy is used
# The one-row probe: 8 matrices of a small model's MLP (75 MB, more than a CPU's caches, as a step's weights).
PROBE_MATRICES, PROBE_SHAPE = 8, (3072, 768)
# Packed must take under this share of F.linear's time: a clear lead (0.44 on the EPYC), so that a busy
# machine's noise does not flip the choice between processes (the kernels' rounding differs by ~1e-7).
PROBE_MARGIN = 0.75


def can_pack(dtype: torch.dtype) -> bool:
    """Whether this PyTorch build and CPU can run oneDNN linear layers with packed `dtype` weights."""
    ops = torch.ops.mkldnn
    if not (torch.backends.mkldnn.is_available() and hasattr(ops, "_linear_pointwise")):
        return False
    return dtype == torch.float32 or (dtype == torch.bfloat16 and ops._is_mkldnn_bf16_supported())


def pack(weight: torch.Tensor) -> torch.Tensor:
    """(out, in) weight -> oneDNN's packed copy of it."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), PACK_BATCH_HINT)


def packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None, gelu: bool = False) -> torch.Tensor:
    """F.linear with a packed weight, for x of any leading shape; with `gelu`, F.gelu (erf) of it in the
    same kernel, which spares a pass over the (rows, 4C) result and, in fast mode, its casts."""
    attr, algorithm = ("gelu", "none") if gelu else ("none", "")
    y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), packed, bias, attr, [], algorithm)
    return y.view(*x.shape[:-1], y.shape[-1])


def rows_of(x: torch.Tensor) -> int:
    return x.numel() // x.shape[-1]


@functools.cache
def packed_is_faster_for_one_row() -> bool:
    """Whether one row (an exact-mode decode step) multiplies faster on packed fp32 weights than with
    F.linear on this CPU by a clear margin (PROBE_MARGIN): timed once per process (under a second) on
    matrices larger than the caches."""
    if not can_pack(torch.float32):
        return False
    weights = [torch.empty(PROBE_SHAPE).normal_(std=0.02) for _ in range(PROBE_MATRICES)]
    packed = [pack(weight) for weight in weights]
    x = torch.randn(1, PROBE_SHAPE[1])

    def seconds(run: Callable[[torch.Tensor], torch.Tensor], matrices: list[torch.Tensor]) -> float:
        rounds = []
        for _ in range(4):  # the first round warms up; the fastest of the rest (other work slows some)
            start = time.perf_counter()
            for matrix in matrices:
                run(matrix)
            rounds.append(time.perf_counter() - start)
        return min(rounds[1:])

    with torch.inference_mode():
        on_packed = seconds(lambda matrix: packed_linear(x, matrix, None), packed)
        on_plain = seconds(lambda matrix: F.linear(x, matrix), weights)
    return on_packed < PROBE_MARGIN * on_plain


class BatchLinear(nn.Module):
    """Exact mode: F.linear, except for a batch of a few decode rows, where a packed fp32 copy is
    faster. The copy is made on first such call (0.1 s for a small model) and dropped when the
    stage ends (`drop_batch_copies`), so single segments cost no memory and batches only theirs.

    With `keep_packed` (where packed_is_faster_for_one_row) the copy is made at once and kept, and
    every call runs on it: one-row steps then need it each time, and packing takes about 1 s for a
    small model's weights. It costs their size again in memory (a large text or coarse GPT 1.3 GB).
    """

    def __init__(self, linear: nn.Linear, keep_packed: bool = False):
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias
        self.kept = keep_packed
        self.packed = pack(self.weight) if keep_packed else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.kept or rows_of(x) in BATCH_ROWS) or torch.is_autocast_enabled("cpu"):  # autocast: its own
            return F.linear(x, self.weight, self.bias)
        if self.packed is None:
            self.packed = pack(self.weight)
        return packed_linear(x, self.packed, self.bias)

    def forward_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """Only the outputs `rows` (see core.model.linear_rows): a small slice, plain F.linear."""
        return F.linear(x, self.weight[rows], None if self.bias is None else self.bias[rows])


def drop_batch_copies(model: nn.Module) -> None:
    """Free the packed copies BatchLinear layers made for a batch (not the kept ones)."""
    for module in model.modules():
        if isinstance(module, BatchLinear) and not module.kept:
            module.packed = None


class PackedLinear(nn.Module):
    """F.linear with only a packed copy of the weight in `dtype` (for layers that never see one row)."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype):
        super().__init__()
        self.packed = pack(linear.weight.to(dtype))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return packed_linear(x, self.packed, self.bias)

    def forward_gelu(self, x: torch.Tensor) -> torch.Tensor:
        """F.gelu(self(x)) from one kernel (see core.model.MLP)."""
        return packed_linear(x, self.packed, self.bias, gelu=True)


def swap_linears(module: nn.Module, make: Callable[[nn.Linear], nn.Module]) -> None:
    """Replace every nn.Linear below `module` by make(linear)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, make(child))
        else:
            swap_linears(child, make)

"""The CPU Linear kernels behind exact and fast mode, over the 48 block matrices of a Bark model.

    python -m bench.bench_kernels                   # small model's sizes, 1 and 5 rows
    python -m bench.bench_kernels --size large --rows 1

Prints the time of one pass over every block matrix (what a decode step reads) and the read rate
it implies, for each kernel, row count, and for all threads and one:
fp32 F.linear (MKL: exact mode's one row), fp32 and bf16 weights packed for oneDNN
(core.cpu_linear: exact mode's batches, fast mode's batches), int8 weights with
`_weight_int8pack_mm` (core.fast: fast mode's one row), int4 weights in groups of 32, 64 and 128
inputs with `_weight_int4pack_mm_for_cpu` (fast mode's one row with --quantize int4), and oneDNN's
int8 x int8 kernel on prepacked weights with activations already in int8 - a bound for an int8
path, since quantising each activation in PyTorch takes several more small operations per layer.
A kernel that reads its weights well below the rate fp32 F.linear reaches (the memory's speed with
all threads) is bound by its arithmetic, not by memory.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from bench.bench_core import SIZES
from core.cpu_linear import can_pack, pack, packed_linear
from core.fast import Int4Matmul, int4_available

ROUNDS = 5  # each kernel's figure is the median of this many rounds, the kernels taking turns
INT4_SIZES = (32, 64, 128)  # inputs per scale and zero: smaller groups move the results less (core.fast)


def block_shapes(size: str) -> list[tuple[int, int]]:
    """(out, in) of every Linear in the blocks: qkv, attention projection, MLP up and down."""
    n_layer, _, c = SIZES[size]
    return [(3 * c, c), (c, c), (4 * c, c), (c, 4 * c)] * n_layer


Calls = list[tuple[Callable[..., torch.Tensor], tuple]]


def kernels(shapes: list[tuple[int, int]], rows: int) -> dict[str, tuple[float, Calls]]:
    """name -> (bytes per weight, the calls of one pass over all matrices)."""
    gen = torch.Generator().manual_seed(0)
    weights = [torch.randn(n, k, generator=gen) * 0.02 for n, k in shapes]
    x32 = {k: torch.randn(rows, k, generator=gen) for k in {k for _, k in shapes}}
    x16 = {k: x.bfloat16() for k, x in x32.items()}
    result = {"fp32 F.linear": (4.0, [(F.linear, (x32[w.shape[1]], w)) for w in weights])}
    for label, dtype, x, bytes_per_weight in (("fp32", torch.float32, x32, 4.0), ("bf16", torch.bfloat16, x16, 2.0)):
        if can_pack(dtype):
            calls = [(packed_linear, (x[w.shape[1]], pack(w.to(dtype)), None)) for w in weights]
            result[f"{label} packed"] = (bytes_per_weight, calls)
    int8 = []
    for w in weights:
        scales = w.abs().amax(dim=1) / 127
        int8.append((torch.round(w / scales[:, None]).to(torch.int8), scales))
    int8pack = torch.ops.aten._weight_int8pack_mm
    result["int8 int8pack_mm"] = (1.0, [(int8pack, (x16[q.shape[1]], q, s.bfloat16())) for q, s in int8])
    if int4_available():
        for group in INT4_SIZES:
            calls = [(Int4Matmul(w, group), (x16[w.shape[1]],)) for w in weights]
            result[f"int4 int4pack_mm g{group}"] = (0.5 + 4 / group, calls)  # a bf16 scale and zero per group
    qlinear = onednn_int8(int8, rows)
    if qlinear is not None:
        result["int8 oneDNN, int8 input"] = (1.0, qlinear)
    return result


def onednn_int8(int8: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> Calls | None:
    """A pass of oneDNN's int8 x int8 -> bf16 kernel on prepacked weights, or None where it cannot run."""
    ops = torch.ops.onednn
    if not (hasattr(ops, "qlinear_prepack") and hasattr(ops, "qlinear_pointwise")):
        return None
    calls = []
    try:
        for q, scales in int8:
            n, k = q.shape
            x = torch.randint(-127, 128, (rows, k), dtype=torch.int8)
            packed = ops.qlinear_prepack(q, [rows, k])
            zeros = torch.zeros(n, dtype=torch.long)
            calls.append(
                (
                    ops.qlinear_pointwise,
                    (x, 0.01, 0, packed, scales, zeros, None, 1.0, 0, torch.bfloat16, "none", [], ""),
                )
            )
        run(calls)
    except RuntimeError:  # no int8 support in this build or on this CPU
        return None
    return calls


def run(calls: Calls) -> None:
    for function, args in calls:
        function(*args)


def timed_ms(calls: Calls, repeats: int = 10) -> float:
    run(calls)
    start = time.perf_counter()
    for _ in range(repeats):
        run(calls)
    return (time.perf_counter() - start) / repeats * 1e3


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 5], help="rows per call (batch x positions)")
    args = parser.parse_args()
    shapes = block_shapes(args.size)
    n_weights = sum(n * k for n, k in shapes)
    all_threads = torch.get_num_threads()
    print(f"{len(shapes)} block matrices of a {args.size} model, {n_weights / 1e6:.0f}M weights")
    for rows in args.rows:
        found = kernels(shapes, rows)
        for threads in sorted({all_threads, 1}, reverse=True):
            torch.set_num_threads(threads)
            times: dict[str, list[float]] = {name: [] for name in found}
            for _ in range(ROUNDS):
                for name, (_, calls) in found.items():
                    times[name].append(timed_ms(calls))
            for name, (bytes_per_weight, _) in found.items():
                ms = statistics.median(times[name])
                rate = n_weights * bytes_per_weight / ms / 1e6
                print(f"{rows} row(s), {threads} thread(s)  {name:<24} {ms:6.2f} ms  {rate:5.1f} GB/s of weights")
        torch.set_num_threads(all_threads)


if __name__ == "__main__":
    main()

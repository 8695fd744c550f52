"""One decode step of a GPT as one onnxruntime graph against the engine's torch steps, with random weights.

    python -m bench.bench_onnx                          # small models, text and coarse
    python -m bench.bench_onnx --size large --stages coarse --threads 1

Does a whole decode step in one onnxruntime graph beat the torch route by a clear margin? Per stage, at
its typical cache length (bench_core.DECODE_LENGTHS), one row's step of torch in exact mode and in fast
mode with int8 and int4 weights (the engine's models), and of an onnxruntime graph in fp32, int8 and int4
(MatMulNBits: every MatMul, the head's too, in blocks of 128 inputs with a scale and a zero each, as
torch's int4; int8 activations: accuracy_level 4): ms per step (the best of a few rounds of 10,
bench_core.round_ms) and the relative L2 error of its logits against exact mode's, every route stepping
on one cache that exact mode prefilled, with the same token.

The graph is built from the exact model's state_dict: Gather embeddings, LayerNormalization, MatMul,
com.microsoft Gelu (erf), and com.microsoft GroupQueryAttention, whose past and present keys and values
are one buffer per layer: the torch KVCache's own memory (zero-copy numpy views bound through IOBinding),
so torch's prefill fills it and each graph step writes its position there. The coarse step computes only
the 1024 logits of one codebook (bench_core.prefilled's head rows), the text step all of them. An fp32
graph whose logits are more than 1e-3 off exact mode's stops the bench before any timing.

One run, small coarse model, 2 threads, with another job on the machine (--size small --stages coarse):
ort fp32 10.1 ms against torch exact 25.3 (2.51x), int8 4.6 against 7.5 (1.62x), int4 3.4 against 5.9
(1.72x), with the logits errors of torch's routes (int8 2.4% against 2.1%, int4 24% against 26%; fp32
1.3e-06). The build time of the first graph includes protobuf's first serialisation of a few hundred MB
(the same fp32 graph built again: 5.1 -> 1.7 s).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

from bench.bench_core import (
    DECODE_LENGTHS,
    MODEL_STAGES,
    MODES,
    SIZES,
    prefilled,
    relative_error,
    round_ms,
    write_bench_pack,
)
from core.decode_steps import DecodeSteps
from core.engine import Engine, EngineSettings
from core.fast import INT4_GROUP
from core.model import GPT, KVCache

TORCH_MODES = {"exact": MODES["exact"], "int8": MODES["fast"], "int4": MODES["int4"]}  # fast mode's default: int8
GRAPH_BITS = {"fp32": None, "int8": 8, "int4": 4}  # MatMulNBits weights, None: the fp32 graph
ACCURACY_LEVEL = 4  # MatMulNBits multiplies int8 activations
FP32_LIMIT = 1e-3  # the fp32 graph's largest relative logits error before the bench stops
CONTRIB = "com.microsoft"  # onnxruntime's operators: Gelu, GroupQueryAttention
ROUNDS = 5  # a step's time is the best of this many rounds of 10 steps
# The quantizer's module sets the root logger to INFO on import, and logs each MatMul it passes at INFO.
logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)


def step_graph(model: GPT, head_rows: slice | None) -> onnx.ModelProto:
    """One decode step of one row of `model`, from its state_dict (Linear and LayerNorm biases where it has them).

    Inputs: ids (1, 1) int64; seqlens_k (1,) int32, the positions in the cache before this one (the new one's
    position); total_len () int32, seqlens_k + 1; past_key_i, past_value_i (1, nh, max_len, hs) of each layer i,
    to be bound to the same memory as the outputs present_key_i, present_value_i. Output: logits (1, 1, V) of
    head_rows (all rows: None)."""
    config = model.config
    C, nh, head = config.n_embd, config.n_head, head_rows or slice(None)
    state = {name: tensor.detach().float() for name, tensor in model.state_dict().items()}
    weights, nodes = [], []

    def const(name: str, tensor: torch.Tensor) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(tensor.numpy()), name))
        return name

    def node(op: str, inputs: list[str], *outputs: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, list(outputs), **attrs))
        return outputs[0]

    def linear(x: str, key: str, rows: slice = slice(None), out: str = "") -> str:  # (1, 1, in) -> (1, 1, out)
        weight, bias = const(f"{key}.weight", state[f"{key}.weight"][rows].T), state.get(f"{key}.bias")  # (in, out)
        if bias is None:
            return node("MatMul", [x, weight], out or key)
        return node("Add", [node("MatMul", [x, weight], f"{key}.mm"), const(f"{key}.bias", bias[rows])], out or key)

    def layer_norm(x: str, key: str) -> str:  # (1, 1, C) -> (1, 1, C)
        params = [const(f"{key}.{p}", state[f"{key}.{p}"]) for p in ("weight", "bias") if f"{key}.{p}" in state]
        return node("LayerNormalization", [x, *params], key, axis=-1, epsilon=1e-5)

    value_info = helper.make_tensor_value_info
    inputs = [
        value_info("ids", TensorProto.INT64, [1, 1]),
        value_info("seqlens_k", TensorProto.INT32, [1]),
        value_info("total_len", TensorProto.INT32, []),
    ]
    outputs = [value_info("logits", TensorProto.FLOAT, [1, 1, len(range(config.output_vocab_size)[head])])]
    tokens = node("Gather", [const("wte", state["transformer.wte.weight"]), "ids"], "tokens")  # (1, 1, C)
    positions = node("Gather", [const("wpe", state["transformer.wpe.weight"]), "seqlens_k"], "positions")  # (1, C)
    x = node("Add", [tokens, positions], "x")  # (1, 1, C)
    split = const("qkv_split", torch.tensor([C, C, C]))
    kv = [1, nh, config.block_size, C // nh]  # a layer's keys or values: past and present are one buffer
    for i in range(config.n_layer):
        p = f"transformer.h.{i}"
        past, present = ([f"{io}_{kind}_{i}" for kind in ("key", "value")] for io in ("past", "present"))
        inputs += [value_info(name, TensorProto.FLOAT, kv) for name in past]
        outputs += [value_info(name, TensorProto.FLOAT, kv) for name in present]
        q, k, v = (f"{p}.{name}" for name in "qkv")  # (1, 1, C) each
        node("Split", [linear(layer_norm(x, f"{p}.ln_1"), f"{p}.attn.c_attn"), split], q, k, v, axis=-1)
        attention = [q, k, v, *past, "seqlens_k", "total_len"]
        y = node("GroupQueryAttention", attention, f"{p}.attn", *present, domain=CONTRIB, num_heads=nh, kv_num_heads=nh)
        x = node("Add", [x, linear(y, f"{p}.attn.c_proj")], f"{p}.attn_out")  # (1, 1, C)
        hidden = node("Gelu", [linear(layer_norm(x, f"{p}.ln_2"), f"{p}.mlp.c_fc")], f"{p}.gelu", domain=CONTRIB)
        x = node("Add", [x, linear(hidden, f"{p}.mlp.c_proj")], f"{p}.out")  # hidden (1, 1, 4C) -> x (1, 1, C)
    linear(layer_norm(x, "transformer.ln_f"), "lm_head", head, "logits")  # (1, 1, V)
    graph = helper.make_graph(nodes, "decode_step", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(CONTRIB, 1)])


def graph_bytes(model: GPT, head_rows: slice | None, bits: int | None) -> tuple[bytes, float]:
    """The step graph of `model` with MatMulNBits weights of `bits` (None: fp32 MatMuls), serialised, and the
    seconds it took to build, quantise and serialise."""
    start = time.perf_counter()
    graph = step_graph(model, head_rows)
    if bits is not None:
        quantizer = MatMulNBitsQuantizer(
            graph, bits=bits, block_size=INT4_GROUP, is_symmetric=False, accuracy_level=ACCURACY_LEVEL
        )
        quantizer.process()
        graph = quantizer.model.model
    return graph.SerializeToString(), time.perf_counter() - start


def ort_session(graph: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class OrtSteps:
    """A step_graph session stepping one row in `cache` (fp32, on the CPU) as DecodeSteps does, so that round_ms
    times it: steps(ids (1, 1), head_rows) -> logits (1, V), cache.length advanced. The graph's keys and values
    are the cache's own memory: it reads what torch wrote there (a prefill) and writes its position there."""

    def __init__(self, session: ort.InferenceSession, cache: KVCache, head_rows: slice | None):
        self.session, self.cache, self.head_rows = session, cache, head_rows
        self.ids = np.zeros((1, 1), np.int64)
        self.seqlens_k = np.zeros(1, np.int32)
        self.total_len = np.zeros((), np.int32)
        self.logits = np.zeros(session.get_outputs()[0].shape, np.float32)
        self.binding = session.io_binding()
        self.values = []  # the bound OrtValues (each wraps an array's memory, written in place)
        for name, array in (("ids", self.ids), ("seqlens_k", self.seqlens_k), ("total_len", self.total_len)):
            self.binding.bind_ortvalue_input(name, self._value(array))
        self.binding.bind_ortvalue_output("logits", self._value(self.logits))
        for i, layer in enumerate(cache.layers):
            for kind, buffer in zip(("key", "value"), layer, strict=True):  # (1, nh, max_len, hs) views of cache.k, v
                value = self._value(buffer.numpy())
                self.binding.bind_ortvalue_input(f"past_{kind}_{i}", value)
                self.binding.bind_ortvalue_output(f"present_{kind}_{i}", value)

    def _value(self, array: np.ndarray) -> ort.OrtValue:
        self.values.append(ort.OrtValue.ortvalue_from_numpy(array))
        return self.values[-1]

    def __call__(self, ids: torch.Tensor, head_rows: slice | None = None) -> torch.Tensor:
        if head_rows != self.head_rows:
            raise ValueError(f"the graph computes the head rows {self.head_rows}, not {head_rows}")
        length = self.cache.length
        if length >= self.cache.max_len:
            raise ValueError(f"the cache holds {self.cache.max_len} positions; all are filled")
        self.ids[...] = ids.numpy()
        self.seqlens_k[0], self.total_len[...] = length, length + 1  # GroupQueryAttention: seqlens_k = total - 1
        self.session.run_with_iobinding(self.binding)
        self.cache.length = length + 1
        return torch.from_numpy(self.logits[0].copy())  # the bound buffer is the next step's


def row(stage: str, route: str, ms: dict[str, float], error: float, extra: str = "") -> None:
    print(f"{stage:<6} {route:<11} step {ms[route]:6.2f} ms  logits error {error:.3g}{extra}")


def step_in_place(steps: DecodeSteps | OrtSteps, token: torch.Tensor, head: slice | None) -> torch.Tensor:
    """The logits of one step, the cache's length put back: every route steps at the same position."""
    logits = steps(token, head)
    steps.cache.length -= 1
    return logits.float()


def best_ms(steps: DecodeSteps | OrtSteps, token: torch.Tensor, head: slice | None) -> float:
    round_ms(steps, token, head, 3)  # warm-up
    return min(round_ms(steps, token, head, 10) for _ in range(ROUNDS))


@torch.inference_mode()
def bench_stage(engines: dict[str, Engine], stage: str, small: bool, threads: int) -> str:
    """One row's decode step of every route at the stage's typical cache length, printed -> the summary's figure.

    Every route steps on the cache that exact mode prefilled, with the same token, so the logits errors are
    the steps' own. The fp32 graph is checked before anything is timed."""
    length = DECODE_LENGTHS[stage]
    ms = {}
    with contextlib.ExitStack() as models:
        exact = models.enter_context(engines["exact"].models.use(stage, small))
        steps, token, head = prefilled(exact, stage, 1, length)
        reference = step_in_place(steps, token, head)
        for variant, bits in GRAPH_BITS.items():
            graph, seconds = graph_bytes(exact, head, bits)
            route = OrtSteps(ort_session(graph, threads), steps.cache, head)
            error = relative_error(reference, step_in_place(route, token, head))
            if bits is None and error > FP32_LIMIT:
                raise SystemExit(f"{stage}: the fp32 graph's logits are {error:.3g} off torch exact's: a broken graph")
            ms[f"ort {variant}"] = best_ms(route, token, head)
            made = "built" if bits is None else "built and quantised"
            row(stage, f"ort {variant}", ms, error, f"  (graph {made} in {seconds:.1f} s, {len(graph) / 2**20:.0f} MB)")
            del route  # its session, before the next one's
        routes = {"exact": steps}
        for mode in ("int8", "int4"):
            model = models.enter_context(engines[mode].models.use(stage, small))
            routes[mode] = DecodeSteps(model, steps.cache)
        for mode, route in routes.items():
            error = relative_error(reference, step_in_place(route, token, head))
            ms[f"torch {mode}"] = best_ms(route, token, head)
            row(stage, f"torch {mode}", ms, error)
    pairs = [(f"ort {variant}", f"torch {mode}") for variant, mode in zip(GRAPH_BITS, TORCH_MODES, strict=True)]
    fastest = [min((route for route in ms if route.startswith(kind)), key=ms.get) for kind in ("ort", "torch")]
    figures = [f"{a} {ms[a]:.1f} ms vs {b} {ms[b]:.1f} ms ({ms[b] / ms[a]:.2f}x)" for a, b in [*pairs, fastest]]
    return f"{stage}: {', '.join(figures[:-1])}; fastest {figures[-1]}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="small", help="the models of every stage")
    parser.add_argument("--stages", nargs="+", choices=list(DECODE_LENGTHS), default=list(DECODE_LENGTHS))
    parser.add_argument("--pack", type=Path, default=Path("/tmp/bark-bench-pack"), help="random models directory")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch's and onnxruntime's")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    small = args.size == "small"
    sizes = {f"small_{stage}": small for stage in MODEL_STAGES}
    # Written in a child process, as bench_core.main does: the writer's memory is not this process's.
    writer = multiprocessing.get_context("spawn").Process(
        target=write_bench_pack, args=(args.pack, dict.fromkeys(MODEL_STAGES, small))
    )
    writer.start()
    writer.join()
    engines = {
        mode: Engine(EngineSettings(models_dir=args.pack, device="cpu", **settings, **sizes))
        for mode, settings in TORCH_MODES.items()
    }
    described = f"{args.size} models, cpu, {args.threads} threads, onnxruntime {ort.__version__}"
    print(f"== {described} ==")
    figures = [bench_stage(engines, stage, small, args.threads) for stage in args.stages]
    print(f"summary | {described} | {' | '.join(figures)}")


if __name__ == "__main__":
    main()

"""Speed and memory of the engine at Bark's real model sizes, with random weights.

    python -m bench.bench_core                      # small models, exact, fast and int4 mode
    python -m bench.bench_core --modes exact int4 --no-long-form --plain-tokens 0
    python -m bench.bench_core --size large --modes exact
    python -m bench.bench_core --size large --small-stages coarse fine   # large text model, small others
    python -m bench.bench_core --modes fast --long-form-only             # only the long-form comparison
    python -m bench.bench_core --plain-tokens 0     # without the plain-path (no KV cache) comparison
    python -m bench.bench_core --device cuda --dtype bfloat16 --cuda-graphs   # on a GPU (bench/gpu_check.sh)

Writes (once) a models directory with random weights at the real sizes in Suno's file formats,
then runs the real engine on it: loading (mmap) and peak RSS, one 5-s generation stage by stage,
a ~60-s text of five 12-s segments against one 12-s segment, each mode against exact mode (speed,
decode steps timed in turns, and how far the logits move; int4 is fast mode with --quantize int4),
and the semantic stage against the plain path without the KV cache.
Lengths are fixed (early stop off) so runs compare; the audio is noise.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import resource
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from bench.plain_decode import plain_semantic
from core.constants import CODEBOOK_SIZE, SAMPLE_RATE, SEMANTIC_VOCAB_SIZE
from core.cpu_linear import BatchLinear
from core.decode_steps import DecodeSteps
from core.devices import DTYPES, autocast
from core.engine import Engine, EngineSettings, Progress
from core.fast import INT4_GROUP, FastLinear, Int4Matmul
from core.loading import BARK_REPO, CODEC_REPO, STAGE_VOCAB, TOKENIZER_FILE, checkpoint_file
from core.model import GPTConfig
from core.options import GenerationOptions
from core.sampling import Sampling
from core.semantic import encode_text, generate_semantic
from core.textsplit import SplitOptions
from core.tiny import write_checkpoint, write_presets, write_vocab

SIZES = {"small": (12, 12, 768), "large": (24, 16, 1024)}  # layers, heads, width
BANDWIDTH_GBS = 23.0  # this machine's measured memory bandwidth (issue 6)
STAGES = ("text", "coarse", "fine", "decode")
MODEL_STAGES = ("text", "coarse", "fine")
MODES = {"exact": {}, "fast": {"fast": True}, "int4": {"fast": True, "quantize": "int4"}}  # EngineSettings fields
INT4_BYTES = 0.5 + 4 / INT4_GROUP  # an int4 weight, and a bf16 scale and zero per group
DECODE_LENGTHS = {"text": 380, "coarse": 900}  # typical cache lengths of a decode step
LONG_FORM_VOICE = "v2/en_speaker_6"


def write_bench_pack(root: Path, small: dict[str, bool]) -> None:
    """Random weights at the real sizes (small[stage]: the small model) in Suno's format, a real-size
    EnCodec, the tiny vocabulary, presets. Files already there are kept (a tiny pack stays tiny)."""
    from transformers import EncodecConfig, EncodecModel

    for i, stage in enumerate(MODEL_STAGES):
        path = root / BARK_REPO / checkpoint_file(stage, small[stage]).filename
        if not path.exists():
            n_layer, n_head, n_embd = SIZES["small" if small[stage] else "large"]
            n_in, n_out = STAGE_VOCAB[stage]
            print(f"writing {path} ...", flush=True)
            write_checkpoint(path, stage, GPTConfig(n_layer, n_head, n_embd, 1024, n_in, n_out), seed=i)
    if not (root / CODEC_REPO / "config.json").exists():
        torch.manual_seed(0)
        EncodecModel(EncodecConfig()).save_pretrained(root / CODEC_REPO)  # the 24 kHz model's shape
        write_vocab(root / TOKENIZER_FILE.repo_id / TOKENIZER_FILE.filename)
    if not (root / BARK_REPO / "speaker_embeddings_path.json").exists():
        write_presets(root / BARK_REPO, seed=0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageClock:
    """Seconds per stage and steps per stage, from the engine's progress events (the time until a load
    event, such as a voice's first load, counts for no stage)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.last = self.start
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.steps = dict.fromkeys(STAGES, 0)

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        if p.stage in self.seconds:
            self.seconds[p.stage] += now - self.last
            self.steps[p.stage] += 1
        self.last = now


def decode_floor_ms(model: nn.Module, stage: str, gbs: float, cache_length: int = 0, cache_bytes: int = 4) -> float:
    """Time to read every weight a decode step of `stage` reads, in the dtype they are stored in (int8 in
    fast mode on the CPU), and a cache of `cache_length` positions of cache_bytes a value (keys and
    values of every layer) once at `gbs` GB/s. The coarse model reads 1024 head rows."""
    n, weight_bytes = linear_weights(model)
    if stage == "coarse":
        n -= (model.config.output_vocab_size - CODEBOOK_SIZE) * model.config.n_embd
    kv_bytes = 2 * model.config.n_layer * cache_length * model.config.n_embd * cache_bytes
    return (n * weight_bytes + kv_bytes) / (gbs * 1e9) * 1e3


def linear_weights(model: nn.Module) -> tuple[int, float]:
    """(weights of the model's Linear layers, bytes each as a one-row step reads them): fast mode's
    FastLinear its int8 or int4 copy, other layers the dtype they are stored in."""
    fast = [m for m in model.modules() if isinstance(m, FastLinear)]
    if fast:
        int4 = isinstance(fast[0].matmul, Int4Matmul)
        return sum(m.in_features * m.out_features for m in fast), INT4_BYTES if int4 else 1.0
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear | BatchLinear)]
    return sum(w.numel() for w in weights), weights[0].element_size()


def bandwidth_gbs(device: torch.device) -> float:
    """The memory bandwidth the floors assume: this CPU's measured figure, or a GPU's, measured now
    (a copy of 1 GiB reads and writes it)."""
    if device.type != "cuda":
        return BANDWIDTH_GBS
    source = torch.empty(2**30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(5):
        target.copy_(source)
    torch.cuda.synchronize(device)
    return 5 * 2 * 2**30 / (time.perf_counter() - start) / 1e9


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that wall time measures it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def decode_steps(engine: Engine, gbs: float) -> list[str]:
    """One decode step of each GPT at a typical cache length, alone and for a batch of 5 rows, as the engine
    runs it (its autocast; on CUDA with cuda_graphs, graph replays). Returns the one-row figures, short."""
    figures = []
    mode = "graph" if engine.device.type == "cuda" and engine.settings.cuda_graphs else "eager"
    for stage, length in DECODE_LENGTHS.items():
        times = {}
        with engine.models.use(stage, engine.settings.small(stage)) as model, autocast(engine.device, engine.dtype):
            for rows in (1, 5):
                steps, token, head = prefilled(model, stage, rows, length, mode)
                times[rows] = min(round_ms(steps, token, head, 10) for _ in range(3))  # the slow rounds: other jobs
            cache_bytes = steps.cache.k.element_size()
        floor = decode_floor_ms(model, stage, gbs, length, cache_bytes)
        print(
            f"{stage:<6} decode step at {length} positions {times[1]:5.1f} ms = {times[1] / floor:.2f}x the floor "
            f"({floor:4.1f} ms: weights and cache once); 5 rows {times[5]:5.1f} ms ({times[5] / times[1]:.2f}x)"
        )
        figures.append(f"{stage} step {times[1]:.1f} ms = {times[1] / floor:.2f}x floor")
    return figures


@torch.inference_mode()
def steps_in_turns(engines: dict[str, Engine], rounds: int = 7) -> None:
    """One-row decode steps of every mode timed in turns (the median of `rounds` rounds of 10 steps),
    so that other work on the machine slows them alike; each against exact mode's."""
    for stage, length in DECODE_LENGTHS.items():
        with contextlib.ExitStack() as models:
            clocks = {}
            for mode, engine in engines.items():
                model = models.enter_context(engine.models.use(stage, engine.settings.small(stage)))
                with autocast(engine.device, engine.dtype):
                    clocks[mode] = engine, prefilled(model, stage, 1, length)
            times: dict[str, list[float]] = {mode: [] for mode in clocks}
            for _ in range(rounds):
                for mode, (engine, (steps, token, head)) in clocks.items():
                    with autocast(engine.device, engine.dtype):
                        times[mode].append(round_ms(steps, token, head, 10))
        ms = {mode: statistics.median(t) for mode, t in times.items()}
        base = ms.get("exact", next(iter(ms.values())))
        line = ", ".join(f"{mode} {m:.1f} ms ({base / m:.2f}x)" for mode, m in ms.items())
        print(f"{stage:<6} one-row decode step at {length} positions, in turns: {line}")


def prefilled(model: nn.Module, stage: str, rows: int, length: int, mode: str = "eager"):
    """Decode steps of `model` after a prefill of `length` random positions for `rows` rows, warmed up
    (and captured, for graphs) -> (the steps, the token to step with, the coarse model's 1024 head rows)."""
    head = slice(SEMANTIC_VOCAB_SIZE, SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE) if stage == "coarse" else None
    steps = DecodeSteps(model, model.new_cache(rows), mode)
    steps.prefill(torch.randint(0, 10_000, (rows, length), device=model.device), head_rows=head)
    token = torch.zeros(rows, 1, dtype=torch.long, device=model.device)
    round_ms(steps, token, head, 3)
    return steps, token, head


def round_ms(steps: DecodeSteps, token: torch.Tensor, head: slice | None, n: int) -> float:
    """Milliseconds per decode step over n steps, each taken again at the position after the prefill."""
    length = steps.cache.length
    synchronize(token.device)
    start = time.perf_counter()
    for _ in range(n):
        steps(token, head)
        steps.cache.length = length
    synchronize(token.device)
    return (time.perf_counter() - start) / n * 1e3


def generate(engine: Engine, text: str, seconds: float, split: str = "none", progress=None, voice=None):
    options = GenerationOptions(
        seed=0, allow_early_stop=False, max_duration_s=seconds, split=SplitOptions(mode=split), silence_s=0.0
    )
    start = time.perf_counter()
    result = engine.generate(text, voice, options, progress=progress)
    return result, time.perf_counter() - start


def engine_settings(args: argparse.Namespace, mode: str) -> EngineSettings:
    """The engine of one mode (MODES) with the command line's models, device and precision."""
    small = stage_sizes(args)
    return EngineSettings(
        models_dir=args.pack,
        device=args.device,
        dtype=args.dtype,
        cuda_graphs=args.cuda_graphs,
        offload_cpu=args.offload,
        **MODES[mode],
        **{f"small_{stage}": small[stage] for stage in MODEL_STAGES},
    )


def stage_sizes(args: argparse.Namespace) -> dict[str, bool]:
    """Per stage, whether it runs the small model: --size, except the --small-stages."""
    return {stage: args.size == "small" or stage in args.small_stages for stage in MODEL_STAGES}


def describe(engine: Engine, mode: str) -> str:
    """'large text, small coarse, small fine models, exact mode, cuda bfloat16, CUDA graphs, 2 threads'."""
    settings = engine.settings
    sizes = {"small" if settings.small(stage) else "large" for stage in MODEL_STAGES}
    models = sizes.pop() if len(sizes) == 1 else ", ".join(size_of(settings, stage) for stage in MODEL_STAGES)
    extras = [name for name, on in (("CUDA graphs", settings.cuda_graphs), ("offload", settings.offload_cpu)) if on]
    device = f"{engine.device} {str(engine.dtype).removeprefix('torch.')}"
    return ", ".join([f"{models} models", f"{mode} mode", device, *extras, f"{torch.get_num_threads()} threads"])


def size_of(settings: EngineSettings, stage: str) -> str:
    return f"{'small' if settings.small(stage) else 'large'} {stage}"


def memory(engine: Engine) -> str:
    """Peak RSS, and on a GPU the peak of allocated GPU memory since the last reset."""
    text = f"peak RSS {peak_rss_mb():7.0f} MB"
    if engine.device.type == "cuda":
        text += f", peak GPU memory {torch.cuda.max_memory_allocated(engine.device) / 2**20:7.0f} MB"
    return text


def bench_mode(settings: EngineSettings, mode: str, seconds: float, parts: set[str]) -> tuple[Engine, float | None]:
    """The engine of this mode (for the comparisons after) and its real-time factor (None: not measured).
    parts: 'stages' (one generation stage by stage, and single decode steps), 'long form'."""
    engine = Engine(settings)
    start = time.perf_counter()
    engine.preload()
    print(f"\n== {describe(engine, mode)} ==")
    print(f"load all models        {time.perf_counter() - start:6.2f} s   {memory(engine)}")
    generate(engine, "hello world", 0.2)  # warm-up
    rtf, figures = stage_by_stage(engine, seconds) if "stages" in parts else (None, [])
    if "long form" in parts:
        figures.append(long_form(engine))
    print(f"summary | {describe(engine, mode)} | {' | '.join(figures)} | {memory(engine)}")
    return engine, rtf


def stage_by_stage(engine: Engine, seconds: float) -> tuple[float, list[str]]:
    """One generation of `seconds`, timed per stage, then single decode steps -> its real-time factor and
    the summary's figures."""
    gbs = bandwidth_gbs(engine.device)
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    clock = StageClock()
    result, total = generate(engine, "hello world", seconds, progress=clock)
    audio_s = result.duration_s
    n_sem, n_coarse = len(result.segments[0].semantic), result.segments[0].coarse.size
    for stage, n in (("text", n_sem), ("coarse", n_coarse)):
        step_ms = clock.seconds[stage] / n * 1e3
        floor = decode_floor_ms(engine.models.get(stage, engine.settings.small(stage)), stage, gbs)
        print(
            f"{stage:<8} {clock.seconds[stage]:6.2f} s  {n / clock.seconds[stage]:6.1f} tok/s  "
            f"{step_ms:5.1f} ms/token, prefills included (weight-read floor {floor:4.1f} ms)"
        )
    print(f"fine     {clock.seconds['fine']:6.2f} s\ndecode   {clock.seconds['decode']:6.2f} s")
    print(f"total    {total:6.2f} s for {audio_s:.2f} s of audio: RTF {total / audio_s:.2f}")
    print(f"after a generation: {memory(engine)}")
    return total / audio_s, [f"RTF {total / audio_s:.2f}", *decode_steps(engine, gbs)]


def long_form(engine: Engine) -> str:
    """Stable continuity with a voice (every segment independent of the others): a ~60-s text of five
    12-s segments in one batch against one 12-s segment, in total and stage by stage -> the summary's figure."""
    one_clock = StageClock()
    _, one = generate(engine, "hello world", 12.0, voice=LONG_FORM_VOICE, progress=one_clock)
    lines = "\n".join(["hello world"] * 5)
    five_clock = StageClock()  # started now: its first stage's time begins at this run
    result, five = generate(engine, lines, 12.0, split="line", voice=LONG_FORM_VOICE, progress=five_clock)
    print(
        f"long form ({LONG_FORM_VOICE}): one 12-s segment {one:.1f} s; {result.duration_s:.0f} s in 5 segments "
        f"{five:.1f} s ({five / one:.2f}x; batch of {engine.settings.max_batch}); {memory(engine)}"
    )
    ratios = ", ".join(
        f"{stage} {five_clock.seconds[stage]:.1f} / {one_clock.seconds[stage]:.1f} s "
        f"({five_clock.seconds[stage] / max(one_clock.seconds[stage], 1e-9):.2f}x)"
        for stage in STAGES
    )
    print(f"long form by stage, 5 segments / one: {ratios}")
    return f"long form {five / one:.2f}x one segment"


@torch.inference_mode()
def logit_error(exact: Engine, other: Engine, mode: str) -> None:
    """Relative L2 distance of `mode`'s logits from exact ones, per stage, on the same input: a
    600-position prefill (bf16 weights), then one decode step for one row (int8 or int4 weights) and
    for 5 rows (bf16)."""
    gen = torch.Generator().manual_seed(0)
    for stage in ("text", "coarse"):
        ids = torch.randint(0, 10_000, (5, 601), generator=gen)
        pairs = zip(stage_logits(exact, stage, ids), stage_logits(other, stage, ids), strict=True)
        errors = [relative_error(a, b) for a, b in pairs]
        print(
            f"{mode} vs exact logits, {stage:<6} relative error: prefill {errors[0]:.4f}, step {errors[1]:.4f}, "
            f"5-row step {errors[2]:.4f}"
        )
    codes = torch.randint(0, 1024, (1, 1024, 8), generator=gen)
    a, b = (fine_logits(e, codes) for e in (exact, other))
    print(f"{mode} vs exact logits, fine   relative error {relative_error(a, b):.4f}")


def stage_logits(engine: Engine, stage: str, ids: torch.Tensor) -> list[torch.Tensor]:
    """A GPT's logits at the engine's precision (a GPU's bf16 weights need its autocast): a 600-position
    prefill of one row, then one decode step after 600 positions for one row and for 5 rows."""
    model = engine.models.get(stage, engine.settings.small(stage))
    ids = ids.to(model.device)
    with autocast(engine.device, engine.dtype):
        logits = [model(ids[:1, :600], last_only=False)]
        for rows in (1, 5):
            cache = model.new_cache(rows)
            model(ids[:rows, :600], cache=cache)
            logits.append(model(ids[:rows, 600:], cache=cache))
    return [x.float() for x in logits]


def fine_logits(engine: Engine, codes: torch.Tensor) -> torch.Tensor:
    fine = engine.models.get("fine", engine.settings.small("fine"))
    with autocast(engine.device, engine.dtype):
        return fine(4, codes.to(fine.device)).float()


def relative_error(exact: torch.Tensor, other: torch.Tensor) -> float:
    return ((exact.float() - other.float()).norm() / exact.float().norm()).item()


def plain_path(engine: Engine, n_tokens: int) -> None:
    """The semantic stage with the KV cache against the plain reference (bench.plain_decode: every step
    recomputes the whole sequence), n_tokens each, one row without a voice."""
    ids, _ = encode_text(engine.models.tokenizer(), "hello world")
    with engine.models.use("text", engine.settings.small("text")) as model, autocast(engine.device, engine.dtype):
        ids = ids.to(model.device)
        start = time.perf_counter()
        generate_semantic(model, ids[None], None, Sampling(), allow_early_stop=False, max_tokens=n_tokens)
        middle = time.perf_counter()
        plain_semantic(model, ids, None, Sampling(), max_tokens=n_tokens)
        end = time.perf_counter()
    cached, plain = n_tokens / (middle - start), n_tokens / (end - middle)
    print(
        f"semantic, {n_tokens} tokens: {cached:.1f} tok/s with the KV cache, {plain:.1f} tok/s on the plain path "
        f"({cached / plain:.1f}x)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="small", help="the models of every stage")
    parser.add_argument(
        "--small-stages", nargs="+", choices=MODEL_STAGES, default=[], help="stages on the small model whatever --size"
    )
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (EngineSettings.device)")
    parser.add_argument("--dtype", choices=DTYPES, default="auto", help="compute precision (EngineSettings.dtype)")
    parser.add_argument("--cuda-graphs", action="store_true", help="replay decode steps as CUDA graphs (on CUDA)")
    parser.add_argument("--offload", action="store_true", help="keep models on the CPU between stages (on a GPU)")
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length of the stage-by-stage run")
    parser.add_argument("--pack", type=Path, default=Path("/tmp/bark-bench-pack"), help="random models directory")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    long_form_runs = parser.add_mutually_exclusive_group()
    long_form_runs.add_argument("--no-long-form", action="store_true", help="skip the 60-s long-form run")
    long_form_runs.add_argument(
        "--long-form-only", action="store_true", help="only the 60-s long-form run (no stage-by-stage run)"
    )
    parser.add_argument("--plain-tokens", type=int, default=30, help="semantic tokens on the plain path (0: skip)")
    args = parser.parse_args(argv)
    args.parts = {"long form"} if args.long_form_only else {"stages"} | (set() if args.no_long_form else {"long form"})
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = {mode: engine_settings(args, mode) for mode in args.modes}  # invalid settings fail before the writing
    # Written in a child process, so that this process's peak RSS is the engine's alone.
    writer = multiprocessing.get_context("spawn").Process(target=write_bench_pack, args=(args.pack, stage_sizes(args)))
    writer.start()
    writer.join()
    runs = {mode: bench_mode(settings[mode], mode, args.seconds, args.parts) for mode in args.modes}
    engines = {mode: engine for mode, (engine, _) in runs.items()}
    if len(runs) > 1 and "stages" in args.parts:
        print()
        steps_in_turns(engines)
    if "exact" in runs and "stages" in args.parts:
        exact = runs["exact"][1]
        for mode, (engine, rtf) in runs.items():
            if mode != "exact":
                print(f"\n{mode} mode: RTF {rtf:.2f} against exact mode's {exact:.2f} ({exact / rtf:.2f}x the speed)")
                logit_error(engines["exact"], engine, mode)
    if args.plain_tokens and "stages" in args.parts:
        plain_path(next(iter(engines.values())), args.plain_tokens)
    gbs = bandwidth_gbs(next(iter(engines.values())).device)
    print(f"\n{SAMPLE_RATE} Hz output; floors assume {gbs:.0f} GB/s")


if __name__ == "__main__":
    main()

"""Speed and memory of the engine at Bark's real model sizes, with random weights.

    python -m bench.bench_core                      # small models, exact, fast and int4 mode
    python -m bench.bench_core --size large --modes exact
    python -m bench.bench_core --modes exact int4 --no-long-form --plain-tokens 0
    python -m bench.bench_core --plain-tokens 0     # without the plain-path (no KV cache) comparison

Writes (once) a models directory with random weights at the real sizes in Suno's file formats,
then runs the real engine on it: loading (mmap) and peak RSS, one 5-s generation stage by stage,
a ~60-s text of five 12-s segments against one 12-s segment, each mode against exact mode (speed,
decode steps timed in turns, and how far the logits move; int4 is fast mode with --quantize int4),
and the semantic stage against the plain path without the KV cache.
Lengths are fixed (early stop off) so runs compare; the audio is noise.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from bench.plain_decode import plain_semantic
from core.constants import CODEBOOK_SIZE, SAMPLE_RATE, SEMANTIC_VOCAB_SIZE
from core.cpu_linear import BatchLinear
from core.devices import autocast
from core.engine import Engine, EngineSettings, Progress
from core.fast import INT4_GROUP, FastLinear
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
MODES = {  # mode -> (its EngineSettings fields, bytes a one-row decode step reads per weight)
    "exact": ({}, 4.0),
    "fast": ({"fast": True}, 1.0),
    "int4": ({"fast": True, "quantize": "int4"}, 0.5 + 4 / INT4_GROUP),  # a bf16 scale and zero per group
}
LONG_FORM_VOICE = "v2/en_speaker_6"


def write_bench_pack(root: Path, size: str) -> None:
    """Random weights at the real size in Suno's format, a real-size EnCodec, the tiny vocabulary, presets."""
    from transformers import EncodecConfig, EncodecModel

    n_layer, n_head, n_embd = SIZES[size]
    for i, stage in enumerate(("text", "coarse", "fine")):
        path = root / BARK_REPO / checkpoint_file(stage, small=size == "small").filename
        if not path.exists():
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
    """Seconds per stage and steps per stage, from the engine's progress events."""

    def __init__(self):
        self.start = time.perf_counter()
        self.last = self.start
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.steps = dict.fromkeys(STAGES, 0)

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        self.seconds[p.stage] += now - self.last
        self.last = now
        self.steps[p.stage] += 1


def decode_floor_ms(model: nn.Module, stage: str, bytes_per_weight: float, cache_length: int = 0) -> float:
    """Time to read every weight a decode step of `stage` reads and a cache of `cache_length` positions
    (keys and values of every layer) once at BANDWIDTH_GBS. The coarse model reads 1024 head rows."""
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear | BatchLinear))
    n += sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, FastLinear))
    if stage == "coarse":
        n -= (model.config.output_vocab_size - CODEBOOK_SIZE) * model.config.n_embd
    kv_bytes = 2 * model.config.n_layer * cache_length * model.config.n_embd * model.new_cache(1, 1).k.element_size()
    return (n * bytes_per_weight + kv_bytes) / (BANDWIDTH_GBS * 1e9) * 1e3


DECODE_LENGTHS = {"text": 380, "coarse": 900}  # typical cache lengths of a decode step


def step_clock(model: nn.Module, stage: str, rows: int, length: int) -> Callable[[int], float]:
    """n -> ms per decode step of `model` for `rows` rows at `length` cached positions, over n steps.
    The coarse model computes its 1024 head rows."""
    head = slice(SEMANTIC_VOCAB_SIZE, SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE) if stage == "coarse" else None
    cache = model.new_cache(rows)
    model(torch.randint(0, 10_000, (rows, length)), cache=cache, head_rows=head)
    token = torch.zeros(rows, 1, dtype=torch.long)

    def clock(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            cache.length = length
            model(token, cache=cache, head_rows=head)
        return (time.perf_counter() - start) / n * 1e3

    clock(3)  # warm-up
    return clock


@torch.inference_mode()
def decode_steps(engine: Engine, small: bool, bytes_per_weight: float) -> None:
    """One decode step of each GPT at a typical cache length, alone and for a batch of 5 rows."""
    for stage, length in DECODE_LENGTHS.items():
        model = engine.models.get(stage, small)
        times = {rows: step_clock(model, stage, rows, length)(20) for rows in (1, 5)}
        floor = decode_floor_ms(model, stage, bytes_per_weight, length)
        print(
            f"{stage:<6} decode step at {length} positions {times[1]:5.1f} ms = {times[1] / floor:.2f}x the floor "
            f"({floor:4.1f} ms: weights and cache once); 5 rows {times[5]:5.1f} ms ({times[5] / times[1]:.2f}x)"
        )


@torch.inference_mode()
def steps_in_turns(engines: dict[str, Engine], small: bool, rounds: int = 7) -> None:
    """One-row decode steps of every mode timed in turns (the median of `rounds` rounds of 10 steps),
    so that other work on the machine slows them alike; each against exact mode's."""
    for stage, length in DECODE_LENGTHS.items():
        clocks = {mode: step_clock(e.models.get(stage, small), stage, 1, length) for mode, e in engines.items()}
        times: dict[str, list[float]] = {mode: [] for mode in clocks}
        for _ in range(rounds):
            for mode, clock in clocks.items():
                times[mode].append(clock(10))
        ms = {mode: statistics.median(t) for mode, t in times.items()}
        base = ms.get("exact", next(iter(ms.values())))
        line = ", ".join(f"{mode} {m:.1f} ms ({base / m:.2f}x)" for mode, m in ms.items())
        print(f"{stage:<6} one-row decode step at {length} positions, in turns: {line}")


def generate(engine: Engine, text: str, seconds: float, split: str = "none", progress=None, voice=None):
    options = GenerationOptions(
        seed=0, allow_early_stop=False, max_duration_s=seconds, split=SplitOptions(mode=split), silence_s=0.0
    )
    start = time.perf_counter()
    result = engine.generate(text, voice, options, progress=progress)
    return result, time.perf_counter() - start


def bench_mode(pack: Path, size: str, mode: str, seconds: float, long_form: bool) -> tuple[Engine, float]:
    """The engine of this mode (for the comparisons after) and its real-time factor."""
    small = size == "small"
    fields, bytes_per_weight = MODES[mode]
    settings = EngineSettings(
        models_dir=pack, device="cpu", small_text=small, small_coarse=small, small_fine=small, **fields
    )
    engine = Engine(settings)
    start = time.perf_counter()
    engine.preload()
    print(f"\n== {size} models, {mode} mode, {torch.get_num_threads()} threads ==")
    print(f"load all models        {time.perf_counter() - start:6.2f} s   peak RSS {peak_rss_mb():7.0f} MB")
    generate(engine, "hello world", 0.2)  # warm-up
    clock = StageClock()
    result, total = generate(engine, "hello world", seconds, progress=clock)
    audio_s = result.duration_s
    n_sem, n_coarse = len(result.segments[0].semantic), result.segments[0].coarse.size
    for stage, n in (("text", n_sem), ("coarse", n_coarse)):
        step_ms = clock.seconds[stage] / n * 1e3
        floor = decode_floor_ms(engine.models.get(stage, small), stage, bytes_per_weight)
        print(
            f"{stage:<8} {clock.seconds[stage]:6.2f} s  {n / clock.seconds[stage]:6.1f} tok/s  "
            f"{step_ms:5.1f} ms/token, prefills included (weight-read floor {floor:4.1f} ms)"
        )
    print(f"fine     {clock.seconds['fine']:6.2f} s\ndecode   {clock.seconds['decode']:6.2f} s")
    print(f"total    {total:6.2f} s for {audio_s:.2f} s of audio: RTF {total / audio_s:.2f}")
    print(f"peak RSS after a generation {peak_rss_mb():.0f} MB")
    decode_steps(engine, small, bytes_per_weight)
    if long_form:  # stable continuity with a voice: every segment is independent of the others
        _, one = generate(engine, "hello world", 12.0, voice=LONG_FORM_VOICE)
        lines = "\n".join(["hello world"] * 5)
        result, five = generate(engine, lines, 12.0, split="line", voice=LONG_FORM_VOICE)
        print(
            f"long form ({LONG_FORM_VOICE}): one 12-s segment {one:.1f} s; {result.duration_s:.0f} s in 5 segments "
            f"{five:.1f} s ({five / one:.2f}x; batch of {engine.settings.max_batch}); peak RSS {peak_rss_mb():.0f} MB"
        )
    return engine, total / audio_s


@torch.inference_mode()
def logit_error(exact: Engine, other: Engine, mode: str, small: bool) -> None:
    """Relative L2 distance of `mode`'s logits from exact ones, per stage, on the same input: a
    600-position prefill (bf16 weights), then one decode step for one row (int8 or int4 weights) and
    for 5 rows (bf16)."""
    gen = torch.Generator().manual_seed(0)
    for stage in ("text", "coarse"):
        ids = torch.randint(0, 10_000, (5, 601), generator=gen)
        models = [e.models.get(stage, small) for e in (exact, other)]
        a, b = (m(ids[:1, :600], last_only=False).float() for m in models)
        errors = [relative_error(a, b)]
        for rows in (1, 5):
            caches = [m.new_cache(rows) for m in models]
            for model, cache in zip(models, caches, strict=True):
                model(ids[:rows, :600], cache=cache)
            a, b = (m(ids[:rows, 600:], cache=c) for m, c in zip(models, caches, strict=True))
            errors.append(relative_error(a, b))
        print(
            f"{mode} vs exact logits, {stage:<6} relative error: prefill {errors[0]:.4f}, step {errors[1]:.4f}, "
            f"5-row step {errors[2]:.4f}"
        )
    codes = torch.randint(0, 1024, (1, 1024, 8), generator=gen)
    a, b = (e.models.get("fine", small)(4, codes) for e in (exact, other))
    print(f"{mode} vs exact logits, fine   relative error {relative_error(a, b):.4f}")


def relative_error(exact: torch.Tensor, other: torch.Tensor) -> float:
    return ((exact.float() - other.float()).norm() / exact.float().norm()).item()


def plain_path(engine: Engine, small: bool, n_tokens: int) -> None:
    """The semantic stage with the KV cache against the plain reference (bench.plain_decode: every step
    recomputes the whole sequence), n_tokens each, one row without a voice."""
    model = engine.models.get("text", small)
    ids, _ = encode_text(engine.models.tokenizer(), "hello world")
    with autocast(engine.device, engine.dtype):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length of the stage-by-stage run")
    parser.add_argument("--pack", type=Path, default=Path("/tmp/bark-bench-pack"), help="random models directory")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-long-form", action="store_true", help="skip the 60-s long-form run")
    parser.add_argument("--plain-tokens", type=int, default=30, help="semantic tokens on the plain path (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Written in a child process, so that this process's peak RSS is the engine's alone.
    writer = multiprocessing.get_context("spawn").Process(target=write_bench_pack, args=(args.pack, args.size))
    writer.start()
    writer.join()
    pack = args.pack
    runs = {mode: bench_mode(pack, args.size, mode, args.seconds, not args.no_long_form) for mode in args.modes}
    engines = {mode: engine for mode, (engine, _) in runs.items()}
    small = args.size == "small"
    if len(runs) > 1:
        print()
        steps_in_turns(engines, small)
    if "exact" in runs:
        exact = runs["exact"][1]
        for mode, (engine, rtf) in runs.items():
            if mode != "exact":
                print(f"\n{mode} mode: RTF {rtf:.2f} against exact mode's {exact:.2f} ({exact / rtf:.2f}x the speed)")
                logit_error(engines["exact"], engine, mode, small)
    if args.plain_tokens:
        plain_path(next(iter(engines.values())), small, args.plain_tokens)
    print(f"\n{SAMPLE_RATE} Hz output; floors assume {BANDWIDTH_GBS} GB/s")


if __name__ == "__main__":
    main()

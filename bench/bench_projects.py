"""What a long-form project costs besides generation: bookkeeping per segment, and memory while exporting.

    python -m bench.bench_projects                  # 500 segments of 7.2 s (an hour), 20 generated on the tiny pack
    python -m bench.bench_projects --segments 100 --seconds 12 --generate 0

Part 1 builds a project of --segments segments and gives each a take of --seconds seconds of noise
through Project.add_take (what a run does after each segment: audio, tokens and record as one set),
timing that, the quality checks, the continuity pass (Project.states) and opening the project; then
exports it (wav + srt) and measures the memory the export allocates (tracemalloc: numpy's buffers
are counted) against what holding the joined audio would take. Part 2 runs --generate segments on the
tiny models and prints the share of a run's time that is not the engine's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from core.constants import COARSE_RATE_HZ, SAMPLE_RATE, SEMANTIC_RATE_HZ
from core.engine import Engine, EngineSettings, SegmentResult
from core.options import GenerationOptions
from core.projects import Project, ProjectSettings, export_project, plan_work, run_project
from core.qc import check_take
from core.textsplit import SplitOptions
from core.tiny import write_tiny_pack

SENTENCE = "This is one sentence of the book, long enough to be a segment of its own."


def fake_take(index: int, text: str, seconds: float, rng: np.random.Generator) -> SegmentResult:
    """A take as the engine returns one: noise audio and random tokens of the right shapes."""
    frames = int(seconds * COARSE_RATE_HZ)
    fine = rng.integers(0, 1024, (8, frames))
    return SegmentResult(
        index=index,
        text=text,
        seed=index,
        semantic=rng.integers(0, 10_000, int(seconds * SEMANTIC_RATE_HZ)),
        coarse=fine[:2].copy(),
        fine=fine,
        audio=(rng.standard_normal(frames * 320) * 0.1).astype(np.float32),
        text_tokens=20,
    )


def bookkeeping(folder: Path, segments: int, seconds: float) -> None:
    text = " ".join([SENTENCE] * segments)
    options = GenerationOptions(seed=1, split=SplitOptions(mode="sentence", goal_length=60, max_length=120))
    started = time.perf_counter()
    project = Project.create(folder, text, ProjectSettings(voice="v2/en_speaker_6", options=options))
    create_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    takes = [fake_take(0, s.text, seconds, rng) for s in project.segments()[:4]]  # reused: noise is noise
    add_s = qc_s = 0.0
    for i, segment in enumerate(project.segments()):
        result = takes[i % len(takes)]
        t0 = time.perf_counter()
        flags = check_take(
            segment.text, result.audio, SAMPLE_RATE, len(result.semantic), 768, text_tokens=result.text_tokens
        )
        t1 = time.perf_counter()
        project.add_take(segment.id, result, None, flags, 1.0)
        add_s += time.perf_counter() - t1
        qc_s += t1 - t0
    n = len(project.segments())
    t0 = time.perf_counter()
    states = project.states()
    states_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reopened = Project.open(folder)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan_work(reopened)
    plan_s = time.perf_counter() - t0
    audio_s = n * len(takes[0].audio) / SAMPLE_RATE
    print(f"{n} segments, {audio_s / 60:.1f} min of audio ({len(states)} states)")
    print(f"  create (split + {n + 1} records): {create_s * 1000:.0f} ms")
    print(f"  per segment: keep a take {add_s / n * 1000:.1f} ms, quality checks {qc_s / n * 1000:.1f} ms")
    whole = f"continuity pass {states_s * 1000:.1f} ms, open {open_s * 1000:.0f} ms, plan {plan_s * 1000:.0f} ms"
    print(f"  whole project: {whole}")
    tracemalloc.start()
    t0 = time.perf_counter()
    result = export_project(reopened, "wav", ("srt",))
    export_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    joined_mb = audio_s * SAMPLE_RATE * 4 / 2**20
    print(
        f"  export wav + srt: {export_s:.1f} s ({result.duration_s / export_s:.0f}x real time), "
        f"peak allocated {peak / 2**20:.1f} MiB (the joined audio in memory would be {joined_mb:.0f} MiB)"
    )


def generation_share(folder: Path, segments: int) -> None:
    """Run a project on the tiny models: the time outside the engine's own generation, per segment."""
    models = write_tiny_pack(folder / "models")
    engine = Engine(EngineSettings(models_dir=models, prompts_dir=folder / "p", device="cpu", allow_download=False))
    text = " ".join(f"Sentence {i} of the test." for i in range(segments))
    options = GenerationOptions(seed=1, max_duration_s=0.3, split=SplitOptions(goal_length=20, max_length=40))
    project = Project.create(folder / "project", text, ProjectSettings(voice="v2/en_speaker_6", options=options))
    engine_s = 0.0
    generate = engine.generate_segments

    def timed(texts, seeds, voice, options, progress, cancel, allow_paths, on_segment):
        nonlocal engine_s
        kept = 0.0

        def keep(result):
            nonlocal kept
            t0 = time.perf_counter()
            on_segment(result)
            kept += time.perf_counter() - t0

        t0 = time.perf_counter()
        out = generate(texts, seeds, voice, options, progress, cancel, allow_paths, on_segment=keep)
        engine_s += time.perf_counter() - t0 - kept
        return out

    engine.generate_segments = timed
    t0 = time.perf_counter()
    report = run_project(engine, project)
    total = time.perf_counter() - t0
    n = len(report.takes)
    print(
        f"tiny models, {n} segments: {total / n * 1000:.0f} ms per segment, of which the engine "
        f"{engine_s / n * 1000:.0f} ms and the project's bookkeeping {(total - engine_s) / n * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=7.2, help="audio per segment")
    parser.add_argument("--generate", type=int, default=20, help="segments generated on the tiny models (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-projects-") as tmp:
        bookkeeping(Path(tmp) / "hour", args.segments, args.seconds)
        if args.generate:
            generation_share(Path(tmp), args.generate)


if __name__ == "__main__":
    main()

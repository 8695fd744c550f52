"""Run one library operation and die (os._exit) at the N-th file-system call, like a kill -9 there.

    python -m tests.core.crashing N ROOT '{"op": "save", "name": "x", "seed": 2, "text": "new"}'

Exit status 0: the operation finished before the N-th call; 99: it died there. The file-system calls
counted are the ones that change what is on disk or make it durable (os.open, open for writing, mkdir,
fsync, link, replace, rename, unlink, rmdir), so trying N = 1, 2, ... until 0 visits every moment that
matters.

    python -m tests.core.crashing outputs FOLDER

The same for `write_outputs`, in one process: for N = 1, 2, ... a forked child writes one output
(audio, voice, JSON) into FOLDER/N and dies at its N-th call; prints "N STATUS" for each, until one
finishes. `python -m tests.core.crashing projects FOLDER` does the same for a project's writes (a take,
an inserted segment, its wanted flag). (The process imports torch but never computes with it, so forking is safe.)
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from core.library import VoiceLibrary
from core.voice import VoicePrompt

CRASHED = 99
_open = io.open
_HOOKED = ("open", "mkdir", "fsync", "link", "replace", "rename", "unlink", "rmdir")


def make_prompt(seed: int) -> VoicePrompt:
    """The same prompt as tests/core/test_library.make_prompt(seed), smaller."""
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 1024, (8, 30)).astype(np.int32)
    return VoicePrompt.from_arrays(rng.integers(0, 10_000, 20), fine[:2].astype(np.int64), fine)


def die_at(limit: int) -> None:
    calls = 0

    def hook(function):
        def counted(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == limit:
                os._exit(CRASHED)
            return function(*args, **kwargs)

        return counted

    for name in _HOOKED:
        setattr(os, name, hook(getattr(os, name)))
    counted_open = hook(io.open)

    def open_(file, mode="r", *args, **kwargs):  # builtins.open and Path.open (io.open): writes count
        opener = counted_open if any(c in mode for c in "wxa+") else _open
        return opener(file, mode, *args, **kwargs)

    builtins.open = io.open = open_


def run(library: VoiceLibrary, op: dict) -> None:
    if op["op"] == "save":
        library.save(op["name"], make_prompt(op["seed"]), {"text": op["text"]}, overwrite=op.get("overwrite", False))
    elif op["op"] == "rename":
        library.rename(op["old"], op["new"], overwrite=op.get("overwrite", False))
    elif op["op"] == "delete":
        library.delete(op["name"])
    else:
        raise ValueError(op["op"])


def crash_outputs(folder: Path) -> None:
    from core.engine import Engine, EngineSettings, GenerationResult, SegmentResult
    from core.options import GenerationOptions
    from core.outputs import write_outputs

    (folder / "models").mkdir(exist_ok=True)  # no model is read: the outputs are made up
    engine = Engine(EngineSettings(models_dir=folder / "models", prompts_dir=folder / "prompts", device="cpu"))
    prompt, audio = make_prompt(1), np.linspace(-0.5, 0.5, 9600, dtype=np.float32)
    segment = SegmentResult(0, "Hello.", 1, prompt.semantic, prompt.coarse, prompt.fine, audio, 3)
    result = GenerationResult(audio, 24_000, 1, "Hello.", None, GenerationOptions(), (segment,))
    kill_at_each_call(lambda limit: write_outputs(result, engine, folder / str(limit), "wav", save_voice=True))


def kill_at_each_call(work, prepare=lambda limit: None, most: int = 400) -> None:
    """For N = 1, 2, ...: prepare(N) here, then work(N) in a forked child that dies at its N-th call;
    prints "N STATUS" for each, until work finishes."""
    for limit in range(1, most):
        prepare(limit)
        pid = os.fork()
        if pid == 0:
            die_at(limit)
            work(limit)
            os._exit(0)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print(limit, status, flush=True)
        if status == 0:
            return
    raise SystemExit(f"{work} never finished")


def crash_projects(folder: Path) -> None:
    """For N = 1, 2, ...: a copy of one project (FOLDER/start: two segments, the first with a take) in
    FOLDER/N, and a forked child that keeps a take of the second segment, inserts a third segment and
    clears the wanted flag there, dying at its N-th call; prints "N STATUS" for each, until one finishes."""
    import shutil

    from core.engine import SegmentResult
    from core.options import GenerationOptions
    from core.projects import Project, ProjectSettings
    from core.textsplit import SplitOptions

    options = GenerationOptions(seed=1, split=SplitOptions(goal_length=10, max_length=20))
    start = Project.create(folder / "start", "First part. Second part.", ProjectSettings(options=options))
    prompt, audio = make_prompt(1), np.linspace(-0.5, 0.5, 9600, dtype=np.float32)
    first, second = start.segments()
    take = SegmentResult(0, first.text, 1, prompt.semantic, prompt.coarse, prompt.fine, audio, 3)
    start.add_take(first.id, take, None, (), 1.0, None)
    start.set_wanted(True)
    opened = {}

    def prepare(limit: int) -> None:
        shutil.copytree(folder / "start", folder / str(limit))
        opened[limit] = Project.open(folder / str(limit))

    def work(limit: int) -> None:
        project = opened[limit]
        project.add_take(second.id, take, f"{first.id}/1", (), 1.0, None)
        project.insert(2, "A third part.")
        project.set_wanted(False)

    kill_at_each_call(work, prepare)


if __name__ == "__main__":
    if sys.argv[1] == "outputs":
        crash_outputs(Path(sys.argv[2]))
    elif sys.argv[1] == "projects":
        crash_projects(Path(sys.argv[2]))
    else:
        limit, root, op = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
        library = VoiceLibrary(root)
        die_at(limit)
        run(library, op)

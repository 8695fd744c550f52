"""Run one library operation and die (os._exit) at the N-th file-system call, like a kill -9 there.

    python -m tests.core.crashing N ROOT '{"op": "save", "name": "x", "seed": 2, "text": "new"}'

Exit status 0: the operation finished before the N-th call; 99: it died there. The file-system calls
counted are the ones that change what is on disk or make it durable (open, mkdir, fsync, replace,
rename, unlink, rmdir), so trying N = 1, 2, ... until 0 visits every moment that matters.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from core.library import VoiceLibrary
from core.voice import VoicePrompt

CRASHED = 99
_HOOKED = ("open", "mkdir", "fsync", "replace", "rename", "unlink", "rmdir")


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


def run(library: VoiceLibrary, op: dict) -> None:
    if op["op"] == "save":
        library.save(op["name"], make_prompt(op["seed"]), {"text": op["text"]}, overwrite=op.get("overwrite", False))
    elif op["op"] == "rename":
        library.rename(op["old"], op["new"], overwrite=op.get("overwrite", False))
    elif op["op"] == "delete":
        library.delete(op["name"])
    else:
        raise ValueError(op["op"])


if __name__ == "__main__":
    limit, root, op = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    library = VoiceLibrary(root)
    die_at(limit)
    run(library, op)

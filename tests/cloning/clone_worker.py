"""A cloning worker for the kill test: loads the models once, then forks one child per clone.

    python -m tests.cloning.clone_worker MODELS_DIR PROMPTS_DIR CLIP

Prints "ready SECONDS STEPS": how long saving took in a warm-up clone, and how many file-system
calls it made. Then reads commands on stdin:

"clone NAME VARIANTS TAG STOP" forks a child that clones CLIP into PROMPTS_DIR as NAME, overwriting
(the real VoiceCloner on the tiny models; TAG becomes its voices' "source_file"), and prints
"child PID". The child prints "saving NAME" when it starts saving and "saved NAME" when done. With
STOP > 0 it prints "stopped NAME" just before its STOP-th file-system call of the saving phase and
waits there to be killed.

The next command must be "reap": the worker waits for the child and prints "gone PID STATUS"
(the exit code, or minus the signal that killed it). Until then a finished child stays a zombie,
so the test's kill never reaches another process that was given the same PID.

Forking after torch has loaded is safe here because torch runs on one thread (no OpenMP pool).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

# The calls that change what is on disk or make it durable (the points a kill can fall between).
_HOOKED = ("mkdir", "open", "fsync", "replace", "rename", "unlink", "rmdir")


def say(line: str) -> None:
    os.write(1, f"{line}\n".encode())  # one write: lines of children and worker never interleave


class SaveSteps:
    """Counts the file-system calls of a clone's saving phase; stops before the `stop`-th (0: never)."""

    def __init__(self, name: str, stop: int = 0):
        self.name, self.stop, self.count, self.saving = name, stop, 0, False
        self.seconds = 0.0  # how long saving took
        self._real = {call: getattr(os, call) for call in _HOOKED}
        for call, real in self._real.items():
            setattr(os, call, self._counted(real))

    def _counted(self, real):
        def call(*args, **kwargs):
            if self.saving:
                self.count += 1
                if self.count == self.stop:
                    say(f"stopped {self.name}")
                    time.sleep(600)  # until killed
            return real(*args, **kwargs)

        return call

    def progress(self, stage: str, fraction: float) -> None:
        if stage == "saving":
            say(f"saving {self.name}")
            self.saving, self.seconds = True, time.perf_counter()
        elif stage == "done":
            self.saving, self.seconds = False, time.perf_counter() - self.seconds

    def remove(self) -> None:
        for call, real in self._real.items():
            setattr(os, call, real)


def main(models_dir: str, prompts_dir: str, clip: str) -> None:
    import torch

    torch.set_num_threads(1)
    from cloning import VoiceCloner
    from core.engine import Engine, EngineSettings
    from core.library import VoiceLibrary

    engine = Engine(EngineSettings(models_dir=models_dir, prompts_dir=prompts_dir, device="cpu", allow_download=False))
    cloner = VoiceCloner(engine)
    with tempfile.TemporaryDirectory() as scratch:  # warm up (the children only clone), measuring the save
        engine.library = VoiceLibrary(scratch)
        steps = SaveSteps("warm-up")
        clone(cloner, clip, "warm-up", 5, "warm-up.wav", steps.progress)
        steps.remove()
        say(f"ready {steps.seconds:.4f} {steps.count}")
    engine.library = VoiceLibrary(prompts_dir)
    while command := sys.stdin.readline():
        _, name, variants, tag, stop = command.split()
        pid = os.fork()
        if pid == 0:
            try:
                clone(cloner, clip, name, int(variants), tag, SaveSteps(name, int(stop)).progress)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        say(f"child {pid}")
        if sys.stdin.readline().strip() != "reap":
            raise SystemExit("expected 'reap' after 'clone'")
        _, status = os.waitpid(pid, 0)
        say(f"gone {pid} {os.waitstatus_to_exitcode(status)}")


def clone(cloner, clip: str, name: str, variants: int, tag: str, progress) -> None:
    from cloning import CloneOptions

    cloner.clone(clip, name, CloneOptions(variants=variants), overwrite=True, source_name=tag, progress=progress)
    say(f"saved {name}")


if __name__ == "__main__":
    main(*sys.argv[1:4])

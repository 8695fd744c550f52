"""Kill -9 a real clone at random moments: the voice library only ever holds whole clones.

A worker process (tests/cloning/clone_worker.py) loads the tiny models once and forks a child per
clone; the test kills the child, most often a few milliseconds after it starts saving. After each
kill it checks what a library opened before the kill lists (a running app), and what one opened
after it lists and leaves on disk (a restart, which recovers).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.fileio import is_staging, pending_names
from core.library import VoiceLibrary

TRIALS = 30
NAMES = ["victim", "guest", "host", "narrator"]
VARIANTS = 5

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the worker forks a child per clone (POSIX)")


class Worker:
    """The worker process and the lines it (and its children) print."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.cloning.clone_worker", *args],
            cwd=Path(__file__).parents[2],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put("eof")

    def send(self, line: str) -> None:
        self.process.stdin.write(f"{line}\n")
        self.process.stdin.flush()

    def expect(self, prefix: str | tuple[str, ...], timeout: float = 60) -> tuple[str, list[str]]:
        """The next line starting with `prefix` (or one of them), and the lines before it."""
        before, deadline = [], time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line, before
            assert line != "eof", f"the worker ended; it printed {before}"
            before.append(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def clones(library: VoiceLibrary) -> dict[str, str]:
    """base name -> the tag of the clone it holds, checking that every clone is whole and loads."""
    voices = {v.name: v for v in library.list()}
    found = {}
    for base in NAMES:
        present = {n: v for n, v in voices.items() if n == base or n.startswith(f"{base}-")}
        if not present:
            continue
        tags = {v.metadata.get("source_file") for v in present.values()}
        assert len(tags) == 1, f"{base}: variants of different clones {sorted(present)}"
        count = present[base].metadata["variants"] if base in present else 0
        assert sorted(present) == sorted([base] + [f"{base}-{i}" for i in range(2, count + 1)]), sorted(present)
        for name, voice in present.items():
            assert voice.path == library.root / f"{name}.npz"
            library.get(name)  # loads
        found[base] = tags.pop()
    assert len(voices) == sum(v.metadata["variants"] for v in voices.values() if "-" not in v.name)
    return found


def assert_clean(root: Path, library: VoiceLibrary) -> None:
    """Only the listed voices' .npz and .json are on disk: no staging folder, temp file or orphan."""
    expected = sorted(f"{v.name}{suffix}" for v in library.list() for suffix in (".npz", ".json"))
    assert sorted(p.name for p in root.iterdir()) == expected


@pytest.fixture
def long_clip(clips, tmp_path) -> Path:
    """The speech twice with a pause between: enough pauses for five variants."""
    audio, rate = sf.read(clips["wav"], dtype="float32")
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate([audio, np.zeros(rate // 2, np.float32), audio]), rate)
    return path


MODES = ["anywhere", "into saving", "into saving", "at a step", "at a step", "at a step"]  # trial i: MODES[i % 6]


def kill_one(worker: Worker, rng: np.random.Generator, mode: str, name: str, tag: str, save_s: float, steps: int):
    """Clone as `name` and kill the child (mode): at a random time, a random time into saving, or
    at a random file-system call of its saving phase. Returns the lines the child printed."""
    stop = int(rng.integers(1, steps + 1)) if mode == "at a step" else 0
    worker.send(f"clone {name} {VARIANTS} {tag} {stop}")
    pid = int(worker.expect("child")[0].split()[1])
    lines = []
    if mode == "anywhere":  # reading, encoding or saving
        time.sleep(rng.uniform(0, 0.3))
    elif mode == "into saving":  # most of these land before saving ends
        lines.append(worker.expect(f"saving {name}")[0])
        time.sleep(rng.uniform(0, 1.1 * save_s))
    else:  # the child waits at that call (or finishes first, when this save makes fewer calls)
        line, before = worker.expect((f"stopped {name}", f"saved {name}"))
        lines += [*before, line]
    os.kill(pid, signal.SIGKILL)  # a child that finished is a zombie until reaped: no harm
    worker.send("reap")
    status, before = worker.expect(f"gone {pid}")
    assert status.split()[2] in ("0", str(-signal.SIGKILL)), before
    return lines + before


def outcome(lines: list[str], name: str, root: Path) -> str:
    if f"saved {name}" in lines:
        return "finished"
    if f"saving {name}" not in lines:
        return "killed before saving"
    listing = os.listdir(root)
    if pending_names(root, listing):
        return "killed mid-save: a set half published"
    return "killed mid-save: a staging folder" if any(map(is_staging, listing)) else "killed mid-save: nothing left"


def test_killing_clones_at_random_moments_never_leaves_half_a_clone(tiny_models, long_clip, tmp_path):
    root = tmp_path / "prompts"
    root.mkdir()
    worker = Worker(str(tiny_models), str(root), str(long_clip))
    rng = np.random.default_rng(11)
    running = VoiceLibrary(root)  # an app that was open before any of the kills
    expected: dict[str, str] = {}  # base name -> the tag of the clone it holds
    outcomes: Counter[str] = Counter()
    try:
        _, save_s, steps = worker.expect("ready")[0].split()
        for trial in range(TRIALS):
            name, tag = NAMES[rng.integers(len(NAMES))], f"trial-{trial}.wav"
            lines = kill_one(worker, rng, MODES[trial % len(MODES)], name, tag, float(save_s), int(steps))
            outcomes[outcome(lines, name, root)] += 1
            saved, saving = f"saved {name}" in lines, f"saving {name}" in lines
            after = check_after_kill(root, running, tmp_path / f"restart-{trial}", expected, name, tag, saved)
            assert after.get(name) in (
                {tag} if saved else {expected.get(name), tag} if saving else {expected.get(name)}
            )
            expected = {b: t for b, t in {**expected, name: after.get(name)}.items() if t is not None}
    finally:
        worker.close()
    final = VoiceLibrary(root)
    assert clones(final) == expected
    assert_clean(root, final)
    print(f"\n{TRIALS} clones killed ({steps} file-system calls in a save of {VARIANTS} variants): {dict(outcomes)}")
    assert sum(n for o, n in outcomes.items() if o.startswith("killed mid-save")) >= TRIALS // 2


def check_after_kill(
    root: Path, running: VoiceLibrary, copy: Path, expected: dict, name: str, tag: str, saved: bool
) -> dict[str, str]:
    """What a running app lists (whole clones only) and what a restart lists and leaves on disk.

    The restart runs on a copy, so that the next child meets the leftovers. Returns its clones.
    """
    seen = clones(running)
    if saved:
        assert seen[name] == tag
    for base in NAMES:  # a clone may be hidden while a crashed set that touches it waits for recovery
        assert seen.get(base) in {expected.get(base), None, tag if base == name else None}, base
    shutil.copytree(root, copy)
    restarted = VoiceLibrary(copy)
    after = clones(restarted)
    assert {b: t for b, t in after.items() if b != name} == {b: t for b, t in expected.items() if b != name}
    assert_clean(copy, restarted)
    if not any(map(is_staging, os.listdir(root))):
        assert seen == after  # nothing to recover: the running app already lists the final state
    shutil.rmtree(copy)
    return after

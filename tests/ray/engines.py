"""The engine of the Serve tests, loaded by name in the replicas (ClusterSettings.engine_class).

TinyClusterEngine is the real engine on the tiny pack with every segment capped short, on one thread
(two replicas share the CI machine's two cores), and two hooks a text asks for:

- "Hold TAG: ..." waits, before it generates, until the test writes release/TAG into the folder beside
  the voice library (at most HOLD_MOST_S), having written running/<replica>.<time> there (so a test
  knows which replica holds it, and can kill it); a cancel meanwhile writes cancelled/<replica> and
  stops it.
- "Paced:" anywhere in the text waits PACE_S after each segment (a stream whose segments come apart in time).
- "Stall:" anywhere in the text: after the first segment, waits until cancelled (or HOLD_MOST_S): a
  stream under way, for as long as a test needs (to kill its replica).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import torch
from ray import serve

from core.engine import Engine
from core.errors import Cancelled
from core.options import GenerationOptions

SEGMENT_CAP_S = 0.1
MAX_SEGMENTS = 3
PACE_S = 0.6
HOLD = re.compile(r"Hold (\w+):")
HOLD_MOST_S = 120.0  # a test that never releases its hold still ends


def _replica() -> str:
    return serve.get_replica_context().replica_id.unique_id


class TinyClusterEngine(Engine):
    def __init__(self, settings):
        torch.set_num_threads(1)
        super().__init__(settings)
        self.marks = Path(settings.prompts_dir).parent

    def plan(self, text, options=None, seed=0):
        return super().plan(text, options, seed)[:MAX_SEGMENTS]

    def generate(self, text, voice=None, options=None, progress=None, cancel=None, allow_paths=True, on_segment=None):
        options = _capped(options)
        cancel = cancel or threading.Event()
        self._hold(text, cancel)
        if "Paced:" in text:
            on_segment = _paced(on_segment)
        elif "Stall:" in text:
            on_segment = _stalled(on_segment, cancel)
        return super().generate(text, voice, options, progress, cancel, allow_paths, on_segment=on_segment)

    def generate_segments(self, texts, seeds, voice, options, progress=None, cancel=None, allow_paths=True, **kw):
        cancel = cancel or threading.Event()
        self._hold(texts[0], cancel)
        return super().generate_segments(texts, seeds, voice, _capped(options), progress, cancel, allow_paths, **kw)

    def _hold(self, text: str, cancel: threading.Event) -> None:
        hold = HOLD.match(text)
        if hold is None:
            return
        _mark(self.marks / "running", _replica())
        released, deadline = self.marks / "release" / hold[1], time.monotonic() + HOLD_MOST_S
        while not released.exists() and time.monotonic() < deadline:
            if cancel.wait(0.02):
                _mark(self.marks / "cancelled", _replica())
                raise Cancelled("Generation cancelled.")


def _capped(options: GenerationOptions | None) -> GenerationOptions:
    options = options or GenerationOptions()
    return options.replace(max_duration_s=min(options.max_duration_s or SEGMENT_CAP_S, SEGMENT_CAP_S))


def _paced(on_segment):
    def paced(segment):
        if on_segment is not None:
            on_segment(segment)
        time.sleep(PACE_S)

    return paced


def _stalled(on_segment, cancel: threading.Event):
    def stalled(segment):
        if on_segment is not None:
            on_segment(segment)
        if cancel.wait(HOLD_MOST_S):
            raise Cancelled("Generation cancelled.")

    return stalled


def _mark(folder: Path, replica: str) -> None:
    """A file named <replica>.<time> in `folder`: one per hold (or cancel)."""
    folder.mkdir(exist_ok=True)
    (folder / f"{replica}.{time.time_ns()}").touch()

"""Generating a project: every segment without a take, the segments asked to be re-rolled, and (best of
N) the flagged ones, each take kept on disk the moment its audio is ready.

A run killed at any moment resumes from what is on disk: run_project again generates what is still
missing, with the same seeds (a take's seed is fixed by the project's seed, its segment and its number),
so the resumed project is the one an uninterrupted run makes. Between batches the engine is free for
other work (a tab's generation, an API request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..constants import SAMPLE_RATE
from ..engine import SEGMENT_STAGES, Engine, Progress, SegmentResult
from ..errors import Cancelled, InputError
from ..qc import TEXT_CODES, check_take
from ..semantic import max_semantic_tokens
from .store import PENDING, Project, SegmentState, derived_seed


@dataclass(frozen=True)
class RunProgress:
    """Where a run is: takes made of those it plans (best-of may add some), the segment at work."""

    done: int
    total: int
    index: int  # 0-based position of the segment at work (the first of a batch)
    step: Progress | None  # the engine's report, within the batch
    before: int = 0  # takes made before the batch at work

    def fraction(self) -> float:
        if self.step is None or self.step.stage not in SEGMENT_STAGES:
            return min(1.0, self.done / max(self.total, 1))
        return min(1.0, (self.before + self.step.fraction() * self.step.segments) / max(self.total, 1))

    def message(self) -> str:
        head = f"Segment {self.index + 1} · {self.done} of {self.total} takes made"
        if self.step is not None and self.step.stage == "load":
            return f"{head} · {self.step.detail}"
        if self.step is not None:
            return f"{head} · {self.step.stage} {self.step.step}/{self.step.total}"
        return head


@dataclass
class RunReport:
    takes: list[tuple[str, int]] = field(default_factory=list)  # (segment id, take number) made
    flagged: list[str] = field(default_factory=list)  # segments whose chosen take is flagged at the end
    cancelled: bool = False


def plan_work(project: Project, reroll: Iterable[str] = ()) -> list[str]:
    """The segments a run generates, in order: those without a take, those in `reroll` (one new take
    each), and, with best_of > 1, those whose automatically chosen take is flagged and that have fewer
    than best_of takes."""
    reroll = set(reroll)
    for segment_id in reroll:
        project.segment(segment_id)
    best_of = project.settings.best_of
    work = []
    for state in project.states():
        segment = state.segment
        if state.status == PENDING or segment.id in reroll or _wants_another(state, best_of):
            work.append(segment.id)
    return work


def _wants_another(state: SegmentState, best_of: int) -> bool:
    segment = state.segment
    return bool(state.flags) and not segment.picked and len(segment.takes) < best_of


def run_project(
    engine: Engine,
    project: Project,
    reroll: Iterable[str] = (),
    progress: Callable[[RunProgress], None] | None = None,
    cancel: threading.Event | None = None,
    allow_paths: bool = True,
) -> RunReport:
    """Generate what plan_work lists. Unknown speakers of a script are refused before anything runs.
    `cancel` stops within one step; every take finished by then is kept, and the project stays wanted
    (a user who cancels says so with project.set_wanted(False)). ProjectBusy when another run has it."""
    cancel = cancel or threading.Event()
    unknown = project.unknown_speakers()
    if unknown:
        raise InputError(
            f"these speakers have no voice: {', '.join(unknown)}; give each one (a voice name, or none for a "
            "random one) in the speaker map",
            "speakers",
        )
    for voice in {state.voice for state in project.states()}:  # every voice exists before a take is made
        engine.check_voice(voice, allow_paths)
    report = RunReport()
    reroll = set(reroll)
    with project.running():
        project.set_wanted(True)
        try:
            _run(_Run(engine, project, plan_work(project, reroll), reroll, report, progress), cancel, allow_paths)
            project.set_wanted(False)
        except Cancelled:  # still wanted: a server that stops resumes it when it starts again
            report.cancelled = True
    report.flagged = [s.segment.id for s in project.states() if s.flags]
    return report


def _run(run: _Run, cancel: threading.Event, allow_paths: bool) -> None:
    while True:
        run.follow_edits()
        if not run.todo:
            return
        batch, state = _next_batch(run.project, run.todo, run.engine.settings.max_batch)
        run.generate(batch, state, cancel, allow_paths)


@dataclass
class _Run:
    """One run's bookkeeping: what is left to do, and each take kept (checked, and best of N) as it comes."""

    engine: Engine
    project: Project
    todo: list[str]
    rerolled: set[str]  # asked for by the user: their first new take is kept, whatever was picked
    report: RunReport
    progress: Callable[[RunProgress], None] | None
    made: dict[str, list[int]] = field(default_factory=dict)  # take numbers this run made, per segment

    def follow_edits(self) -> None:
        """Between batches, the project as it is now (a tab or the API may have changed it): segments
        deleted meanwhile leave the work, inserted ones join it, edited ones are made as they read now."""
        self.project.reload()
        present = {s.segment.id: s for s in self.project.states()}
        tried = {segment_id for segment_id, _ in self.report.takes}
        todo = {i for i in self.todo if i in present}
        todo |= {i for i, s in present.items() if s.status == PENDING and i not in tried}
        self.todo = sorted(todo, key=lambda i: present[i].index)  # in the project's order, for continuity

    def generate(self, batch: list[str], state: SegmentState, cancel, allow_paths) -> None:
        """The segments of `batch`, which all continue from what `state` (the first one's) continues from."""
        for segment_id in batch:
            self.todo.remove(segment_id)
        project = self.project
        segments = [project.segment(i) for i in batch]
        numbers = [max((t.number for t in s.takes), default=0) + 1 for s in segments]
        seeds = [
            s.seed if n == 1 else derived_seed(project.seed, s.id, n) for s, n in zip(segments, numbers, strict=True)
        ]
        voice = project.take_prompt(state.after) if state.after is not None else state.voice
        options = project.settings.options
        cap = max_semantic_tokens(options.max_duration_s)
        started = time.perf_counter()

        def keep(result: SegmentResult) -> None:
            nonlocal started
            segment_id = batch[result.index]
            flags = check_take(
                result.text, result.audio, SAMPLE_RATE, len(result.semantic), cap, text_tokens=result.text_tokens
            )
            took, started = time.perf_counter() - started, time.perf_counter()
            mine = self.made.setdefault(segment_id, [])
            keep_pick = segment_id not in self.rerolled or bool(mine)
            take = project.add_take(segment_id, result, state.after, flags, took, state.voice, keep_pick=keep_pick)
            if take is not None:  # None: the segment was deleted while it was generated
                mine.append(take.number)
                self.report.takes.append((segment_id, take.number))
                self._best_of(segment_id, flags)

        before = len(self.report.takes)

        def step(p: Progress) -> None:
            self._tell(state.index, p, len(batch) - (len(self.report.takes) - before), before)

        texts = [s.text for s in segments]
        self.engine.generate_segments(texts, seeds, voice, options, step, cancel, allow_paths, on_segment=keep)
        self._tell(state.index, None, 0)

    def _best_of(self, segment_id: str, flags) -> None:
        """Best of N: a flagged take gets another try (before the run goes on) until one passes or N are
        made (of a re-rolled segment: N in this run); then the take with the fewest flags of those is kept.
        A segment whose take the user picked meanwhile is left as it is."""
        segment, mine = self.project.segment(segment_id), self.made[segment_id]
        if segment.picked or segment.chosen not in mine:
            return
        rerolled = segment_id in self.rerolled
        candidates = (
            [segment.take(n) for n in mine] if rerolled else [t for t in segment.takes if t.text == segment.text]
        )
        # A text too long for Bark flags every take of it (and its length checks then expect too much).
        another_may_pass = bool(flags) and not any(flag.code in TEXT_CODES for flag in flags)
        if another_may_pass and len(mine if rerolled else segment.takes) < self.project.settings.best_of:
            self.todo.insert(0, segment_id)
        elif len(candidates) > 1:
            best = min(candidates, key=lambda t: (len(t.flags), t.number))
            self.project.choose(segment_id, best.number, picked=False)

    def _tell(self, index: int, step: Progress | None, running: int, before: int = 0) -> None:
        if self.progress is not None:
            done = len(self.report.takes)
            self.progress(RunProgress(done, done + len(self.todo) + running, index, step, before))


def _next_batch(project: Project, todo: list[str], size: int) -> tuple[list[str], SegmentState]:
    """The first segment of `todo` that can run (what it continues from exists) and the others that
    continue from the same take or voice, up to `size`."""
    states = {s.segment.id: s for s in project.states()}
    ready = [states[i] for i in todo if i in states and states[i].ready]
    if not ready:
        raise InputError("nothing can be generated: the segments before these have no take yet")
    lead = ready[0]
    batch = [s.segment.id for s in ready if (s.after, s.voice) == (lead.after, lead.voice)]
    if lead.after is None and lead.voice is None:
        batch = batch[:1]  # without a voice the first take is the voice of the ones after it
    return list(dict.fromkeys(batch))[:size], lead

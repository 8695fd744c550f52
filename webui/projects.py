"""Projects as a service of the web app (the Projects tab and the REST routes both use it): the projects
folder, and the runs that generate projects in the background, one at a time, in the order asked.

A run is in the line for the engine (Studio.line) like any generation, and between its batches the
engine is free for a tab's or an API request's generation. A client need not wait for it: it asks for
the project's state (`view`) when it likes. A project whose run was asked for and not finished (the
server stopped, or died) is run again when the service starts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import BarkError, InputError
from core.projects import (
    ExportResult,
    Project,
    ProjectBusy,
    ProjectSettings,
    ProjectStore,
    export_project,
    run_project,
)
from core.projects.run import RunProgress
from core.projects.store import STATUSES, SegmentState

if TYPE_CHECKING:
    from .studio import Job, Studio

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, CANCELLED, FAILED = "queued", "running", "finished", "cancelled", "failed"
MAX_WAITING_RUNS = 64
STOP_WAIT_S = 30  # how long delete and a stopping server wait for a cancelled run to let go of its project


@dataclass
class RunStatus:
    """A project's run as others see it."""

    project_id: str
    reroll: tuple[str, ...] = ()
    state: str = QUEUED
    fraction: float = 0.0
    message: str = "Waiting for its turn"
    error: str | None = None
    takes: int = 0  # made so far in this run
    cancel: threading.Event = field(default_factory=threading.Event)
    cancelled_by_user: bool = False
    done: threading.Event = field(default_factory=threading.Event)  # set when it ends, however it ends

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "fraction": round(self.fraction, 4),
            "message": self.message,
            "error": self.error,
            "takes": self.takes,
        }


class ProjectService:
    """The projects of one server: create, read, edit, run in the background, export, delete."""

    def __init__(self, studio: Studio, root: Path):
        self.studio = studio
        self.store = ProjectStore(root)
        self._runs: dict[str, RunStatus] = {}  # the latest run of each project asked for in this process
        self._waiting: deque[RunStatus] = deque()
        self._current: RunStatus | None = None  # the run under way
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopped = False  # the server is stopping: nothing more starts

    # Projects

    def create(self, text: str, settings: ProjectSettings, start: bool = True) -> Project:
        """A new project of `text`; its voices are checked first (names of presets or library voices,
        never files; "none" is kept as no voice). start: queue its run; when speakers lack a voice that
        is refused (they are listed) and no project is left behind."""
        project = self.store.create(text, self._checked_voices(settings))
        if start:
            try:
                self.start(project.folder.name)
            except BaseException:
                self.store.delete(project.folder.name)
                raise
        return project

    def open(self, project_id: str) -> Project:
        return self.store.open(project_id)

    def list(self) -> list[dict]:
        return [
            {
                "id": s.id,
                "name": s.name,
                "created": s.created,
                "segments": s.segments,
                "generated": s.generated,
                "run": self._run_dict(s.id, s.wanted),
            }
            for s in self.store.list()
        ]

    def view(self, project_id: str) -> dict:
        """Everything review shows of a project: settings, speakers, each segment's state and takes, the run."""
        project = self.open(project_id)
        states = project.states()
        counts = {status: sum(s.status == status for s in states) for status in STATUSES}
        counts["flagged"] = sum(bool(s.flags) for s in states)
        settings = project.settings
        return {
            "id": project_id,
            "name": project.name,
            "created": project.created,
            "settings": {**settings.to_dict(), "options": settings.options.to_dict()},
            "speakers": project.speakers(),
            "unknown_speakers": project.unknown_speakers(),
            "counts": {"segments": len(states), **counts},
            "segments": [segment_view(s) for s in states],
            "wanted": project.wanted,
            "run": self._run_dict(project_id, project.wanted),
        }

    def delete(self, project_id: str) -> None:
        """Remove a project; its run, if one is waiting or under way, is cancelled first (and waited for)."""
        self.store.folder(project_id)
        with self._wake:
            runs = [s for s in (self._current, *self._waiting, self._runs.get(project_id)) if s is not None]
        self.cancel(project_id)
        for status in runs:
            if status.project_id == project_id:
                status.done.wait(STOP_WAIT_S)
        self.store.delete(project_id)
        with self._wake:
            self._runs.pop(project_id, None)

    def export(
        self, project_id: str, fmt: str, subtitle_formats: Iterable[str] = ("srt",), chapters: bool = False
    ) -> ExportResult:
        """PendingSegments (which names them) while some segment has no take."""
        return export_project(self.open(project_id), fmt, tuple(subtitle_formats), chapters)

    def export_file(self, project_id: str, export: str, name: str) -> Path:
        """A file of an export (names from a request: plain names only)."""
        folder = self.store.folder(project_id) / "exports"
        for part in (export, name):
            if not isinstance(part, str) or not part or part.startswith(".") or Path(part).name != part:
                raise InputError(f"{part!r} is not the name of an exported file", "file")
        path = folder / export / name
        if not path.is_file():
            raise InputError(f"the project has no exported file {export}/{name}", "file")
        return path

    # Segments

    def reroll(self, project_id: str, segment_ids: Iterable[str], text: str | None = None) -> RunStatus:
        """A new take of each segment (after changing the one segment's text to `text`, if given)."""
        project = self.open(project_id)
        segment_ids = list(segment_ids)
        if text is not None:
            if len(segment_ids) != 1:
                raise InputError("a new text is given for one segment at a time", "text")
            project.edit(segment_ids[0], text=text)
        for segment_id in segment_ids:
            project.segment(segment_id)
        return self.start(project_id, segment_ids)

    def choose(self, project_id: str, segment_id: str, take: int) -> dict:
        project = self.open(project_id)
        project.choose(segment_id, take)
        return self.view(project_id)

    def edit(self, project_id: str, segment_id: str, **changes) -> dict:
        """Change a segment's text, speaker, voice (a name; "none": the speaker's or project's voice again)
        or section title."""
        if changes.get("voice"):
            changes["voice"] = self.studio.check_voice(changes["voice"])
        self.open(project_id).edit(segment_id, **changes)
        return self.view(project_id)

    def take_audio(self, project_id: str, segment_id: str, take: int) -> Path:
        return self.open(project_id).take_audio(segment_id, take)

    # Runs

    def start(self, project_id: str, reroll: Iterable[str] = ()) -> RunStatus:
        """Queue a run of the project (what it lacks, and one new take of each of `reroll`)."""
        project = self.open(project_id)
        unknown = project.unknown_speakers()
        if unknown:
            raise InputError(f"these speakers have no voice: {', '.join(unknown)}; give each one a voice", "speakers")
        self._checked_voices(project.settings)
        with self._wake:
            if self._stopped:
                raise BarkError("the server is stopping; the run starts again when it is back")
            current = self._runs.get(project_id)
            if current is not None and current.state == QUEUED:  # one waiting run per project: it takes these too
                current.reroll = tuple(dict.fromkeys((*current.reroll, *reroll)))
                return current
            if len(self._waiting) >= MAX_WAITING_RUNS:
                raise InputError(f"{MAX_WAITING_RUNS} project runs are waiting already; try again when some are done")
            status = RunStatus(project_id, tuple(reroll))
            self._runs[project_id] = status
            self._waiting.append(status)
            self._ensure_worker()
            self._wake.notify()
        project.set_wanted(True)  # a file write: not while holding the line (another process may hold the file)
        return status

    def cancel(self, project_id: str) -> bool:
        """Stop the project's runs (waiting or under way); what they made is kept, and the project is not
        resumed when the server starts again. False when none runs."""
        with self._wake:
            found = [s for s in (self._current, *self._waiting) if s is not None and s.project_id == project_id]
            for status in found:
                status.cancelled_by_user = True
                status.cancel.set()
                if status.state == QUEUED:
                    self._waiting.remove(status)
                    self._finish(status, CANCELLED, "Cancelled before it started")
        if found and all(s.state == CANCELLED for s in found):  # none under way: say it is not wanted now
            self._unwant(project_id)
        return bool(found)

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """The server stops: the run under way is cancelled within a step (its finished takes are kept)
        and nothing more starts; every project whose run was asked for stays wanted, so the next start
        resumes it. Waits up to `wait_s` for the run to let go of its project."""
        with self._wake:
            self._stopped = True
            current = self._current
            if current is not None:
                current.cancel.set()
            self._wake.notify_all()
        if current is not None:
            current.done.wait(wait_s)

    def resume(self) -> list[str]:
        """Queue the runs that were asked for and not finished (a server that stopped or died), oldest
        first; a project that cannot run (damaged, a voice gone) is logged and left for the others."""
        self.store.sweep()  # what killed runs, exports and deletes left
        resumed = []
        for summary in reversed(self.store.list()):
            if not summary.wanted:
                continue
            try:
                self.start(summary.id)
                resumed.append(summary.id)
            except BarkError as e:
                log.warning("project %s was not resumed: %s", summary.id, self.studio.redact(str(e)))
        return resumed

    def runs(self) -> dict[str, int]:
        """Project runs under way (0 or 1) and waiting."""
        with self._wake:
            return {"running": int(self._current is not None), "waiting": len(self._waiting)}

    def _run_dict(self, project_id: str, wanted: bool) -> dict:
        """The run under way, else the latest asked for in this process, else what the folder says."""
        current = self._current
        status = current if current is not None and current.project_id == project_id else self._runs.get(project_id)
        if status is not None:
            return status.as_dict()
        message = "Not finished: its last run stopped before the end; generate it to go on" if wanted else ""
        return {"state": "idle", "fraction": 0.0, "message": message, "error": None, "takes": 0}

    def _checked_voices(self, settings: ProjectSettings) -> ProjectSettings:
        """`settings` with each voice checked (VoiceError for one that is not a preset or library voice)
        and spelled as the engine names it (None for no voice)."""
        speakers = {name: self.studio.check_voice(voice) for name, voice in settings.speakers.items()}
        return replace(settings, voice=self.studio.check_voice(settings.voice), speakers=speakers)

    def _unwant(self, project_id: str) -> None:
        with contextlib.suppress(BarkError):  # deleted meanwhile
            self.open(project_id).set_wanted(False)

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="bark-projects", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._waiting or self._stopped:
                    if self._stopped or not self._wake.wait(timeout=60):
                        self._worker = None
                        return
                status = self._waiting.popleft()
                status.state, status.message = RUNNING, "Starting"
                self._current = status
            try:
                self._run(status)
            finally:
                with self._wake:
                    self._current = None

    def _run(self, status: RunStatus) -> None:
        from .studio import Job

        job = Job(None, status.cancel)
        self.studio.line.join(job)
        try:
            project = self.open(status.project_id)
            report = run_project(
                self.studio.engine,
                project,
                status.reroll,
                progress=lambda p: _report(status, job, p),
                cancel=status.cancel,
                allow_paths=False,
            )
        except BarkError as e:
            self._finish(status, FAILED, "Stopped", self.studio.redact(str(e)))
            return
        except Exception as e:  # a bug: said, and the worker goes on with the next project
            log.exception("project run failed")
            self._finish(status, FAILED, "Stopped", f"an unexpected error: {type(e).__name__}")
            return
        finally:
            self.studio.line.leave(job)
        if report.cancelled:
            if status.cancelled_by_user:
                project.set_wanted(False)
            self._finish(status, CANCELLED, "Cancelled; every finished take is kept")
            return
        flagged = f", {len(report.flagged)} flagged" if report.flagged else ""
        self._finish(status, FINISHED, f"Done: {len(report.takes)} take(s) made{flagged}", fraction=1.0)

    def _finish(self, status: RunStatus, state: str, message: str, error: str | None = None, fraction=None) -> None:
        with self._wake:  # the state and the counts of runs() change together
            status.state, status.message, status.error = state, message, error
            if fraction is not None:
                status.fraction = fraction
            if self._current is status:
                self._current = None
        status.done.set()

    # The segments' order and the settings, for the Projects tab (refused while a run generates the project)

    def insert(self, project_id: str, index: int, text: str, speaker: str | None = None) -> dict:
        self._idle(project_id).insert(index, text, speaker)
        return self.view(project_id)

    def split(self, project_id: str, segment_id: str, at: int) -> dict:
        self._idle(project_id).split(segment_id, at)
        return self.view(project_id)

    def merge(self, project_id: str, segment_id: str) -> dict:
        self._idle(project_id).merge(segment_id)
        return self.view(project_id)

    def delete_segment(self, project_id: str, segment_id: str) -> dict:
        self._idle(project_id).delete(segment_id)
        return self.view(project_id)

    def update_settings(self, project_id: str, **changes) -> dict:
        """New speaker voices, voice, best_of or name (fields of ProjectSettings), their voices checked."""
        project = self._idle(project_id)
        checked = self._checked_voices(replace(project.settings, **changes))
        project.update_settings(**{key: getattr(checked, key) for key in changes})
        return self.view(project_id)

    def _idle(self, project_id: str) -> Project:
        status = self._runs.get(project_id)
        if status is not None and status.state in (QUEUED, RUNNING):
            raise ProjectBusy("the project is being generated: wait for the run to finish, or cancel it, first")
        return self.open(project_id)


def _report(status: RunStatus, job: Job, progress: RunProgress) -> None:
    status.fraction = progress.fraction()
    status.message = progress.message()
    status.takes = progress.done
    job.started_at = job.started_at or time.monotonic()
    job.fraction = status.fraction
    job.progress = progress.step


def segment_view(state: SegmentState) -> dict:
    segment = state.segment
    return {
        "index": state.index + 1,
        "id": segment.id,
        "text": segment.text,
        "speaker": segment.speaker,
        "voice": state.voice,
        "section": segment.section,
        "status": state.status,
        "flags": [{"code": f.code, "message": f.message} for f in state.flags],
        "chosen": segment.chosen,
        "picked": segment.picked,
        "takes": [
            {
                "number": t.number,
                "seed": t.seed,
                "duration_s": round(t.duration_s, 3),
                "flags": [f.code for f in t.flags],
                "after": t.after,
                "created": t.created,
            }
            for t in segment.takes
        ],
    }

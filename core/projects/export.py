"""Exporting a project: the chosen takes joined (silence and crossfade as the project's options say)
into one audio file, or one per section (chapters), with subtitles (one cue per segment, the speaker's
name in a dialogue) and a JSON timeline.

The audio is streamed: each take is read from disk when its turn comes and the file is encoded as it
goes, so an hour-long project exports in the memory of a few segments. An export is one folder under
the project's exports/, which appears whole (it is written under a hidden name and renamed).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..audio import check_format, clip_spans, iter_join, write_audio_stream
from ..constants import SAMPLE_RATE
from ..errors import InputError
from ..fileio import atomic_write_bytes
from ..outputs import slugify
from ..subtitles import Cue, subtitles
from .store import EXPORTS, PENDING, Project, SegmentState


class PendingSegments(InputError):
    """An export of a project some of whose segments have no take yet; `segments`: their ids, in order."""

    def __init__(self, message: str, segments: list[str]):
        super().__init__(message, "segments")
        self.segments = segments


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    audio: tuple[Path, ...]  # one file, or one per chapter
    subtitles: tuple[Path, ...]
    timeline: Path
    duration_s: float
    notes: tuple[str, ...]  # segments whose take no longer matches their text, voice or continuity


@dataclass(frozen=True)
class _Chapter:
    title: str
    states: list[SegmentState]


def export_project(
    project: Project, fmt: str = "wav", subtitle_formats: tuple[str, ...] = ("srt",), chapters: bool = False
) -> ExportResult:
    """Write the project's audio in `fmt`, its subtitles (srt, vtt) and its timeline to a new folder
    under exports/. InputError when a segment has no take yet (it lists them) or a format is unknown.
    chapters: one audio (and subtitle) file per section; the timeline covers the whole project."""
    fmt = check_format(fmt)
    for sub in subtitle_formats:
        subtitles([], sub)  # an unknown subtitle format is refused before any audio is written
    states = project.states()
    pending = [s for s in states if s.status == PENDING]
    if pending:
        shown = ", ".join(str(s.index + 1) for s in pending[:20]) + (" ..." if len(pending) > 20 else "")
        raise PendingSegments(
            f"{len(pending)} segment(s) have no take yet ({shown}): generate them, then export",
            [s.segment.id for s in pending],
        )
    groups = _chapters(project, states) if chapters else [_Chapter(project.name, states)]
    exports = project.folder / EXPORTS
    exports.mkdir(exist_ok=True)
    staging = exports / f".export-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        audio, subs, timeline = [], [], []
        offset = 0.0
        for n, chapter in enumerate(groups, 1):
            stem = slugify(chapter.title) if len(groups) == 1 else f"{n:02d}-{slugify(chapter.title)}"
            written = _write_chapter(project, chapter, staging / stem, fmt, subtitle_formats)
            audio.append(written[0])
            subs += written[1]
            timeline.append(_timeline_chapter(chapter, written[0].name, written[2], offset))
            offset += written[2][-1][1] / SAMPLE_RATE if written[2] else 0.0
        record = _timeline(project, fmt, timeline, offset)
        atomic_write_bytes(
            staging / "timeline.json", (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode()
        )
        folder = _publish(staging, exports, slugify(project.name, 40))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(
        folder=folder,
        audio=tuple(folder / p.name for p in audio),
        subtitles=tuple(folder / p.name for p in subs),
        timeline=folder / "timeline.json",
        duration_s=round(offset, 3),
        notes=tuple(_notes(states)),
    )


def _chapters(project: Project, states: list[SegmentState]) -> list[_Chapter]:
    """The sections: each begins at a segment with a section title (what comes before the first one
    is titled after the project)."""
    chapters: list[_Chapter] = []
    for state in states:
        title = state.segment.section
        if title is not None or not chapters:
            chapters.append(_Chapter(title or project.name, []))
        chapters[-1].states.append(state)
    return chapters


def _write_chapter(
    project: Project, chapter: _Chapter, stem: Path, fmt: str, subtitle_formats: tuple[str, ...]
) -> tuple[Path, list[Path], list[tuple[int, int]]]:
    """The chapter's audio (streamed from its takes) and subtitles beside `stem`: (audio, subtitles,
    each segment's (start, end) sample in the audio)."""
    options = project.settings.options
    lengths = [s.segment.chosen_take.samples for s in chapter.states]
    spans = clip_spans(lengths, SAMPLE_RATE, options.silence_s, options.crossfade_s)
    clips = (project.read_take_audio(s.segment.id, s.segment.chosen) for s in chapter.states)
    audio = stem.with_name(f"{stem.name}.{fmt}")
    write_audio_stream(audio, iter_join(clips, SAMPLE_RATE, options.silence_s, options.crossfade_s), SAMPLE_RATE, fmt)
    cues = [_cue(s, start, end) for s, (start, end) in zip(chapter.states, spans, strict=True)]
    subs = []
    for sub in subtitle_formats:
        subs.append(stem.with_name(f"{stem.name}.{sub}"))
        atomic_write_bytes(subs[-1], subtitles(cues, sub).encode("utf-8"))
    return audio, subs, spans


def _cue(state: SegmentState, start: int, end: int) -> Cue:
    return Cue(start / SAMPLE_RATE, end / SAMPLE_RATE, state.segment.chosen_take.text, state.segment.speaker)


def _timeline_chapter(chapter: _Chapter, file: str, spans: list[tuple[int, int]], offset: float) -> dict:
    end_s = spans[-1][1] / SAMPLE_RATE if spans else 0.0
    segments = []
    for state, (start, end) in zip(chapter.states, spans, strict=True):
        segment, take = state.segment, state.segment.chosen_take
        segments.append(
            {
                "index": state.index + 1,
                "id": segment.id,
                "text": take.text,
                "speaker": segment.speaker,
                "voice": take.voice,
                "take": take.number,
                "seed": take.seed,
                "start_s": round(offset + start / SAMPLE_RATE, 3),
                "end_s": round(offset + end / SAMPLE_RATE, 3),
                "file_start_s": round(start / SAMPLE_RATE, 3),
                "status": state.status,
                "flags": [f.code for f in take.flags],
            }
        )
    return {
        "title": chapter.title,
        "file": file,
        "start_s": round(offset, 3),
        "end_s": round(offset + end_s, 3),
        "segments": segments,
    }


def _timeline(project: Project, fmt: str, chapters: list[dict], duration_s: float) -> dict:
    options = project.settings.options
    return {
        "project": project.name,
        "format": fmt,
        "sample_rate": SAMPLE_RATE,
        "duration_s": round(duration_s, 3),
        "silence_s": options.silence_s,
        "crossfade_s": options.crossfade_s,
        "chapters": chapters,
    }


def _notes(states: list[SegmentState]) -> list[str]:
    notes = []
    for state in states:
        if state.status != "done":
            notes.append(f"segment {state.index + 1} is {state.status}: its take may not fit; re-roll it")
        elif state.flags:
            notes.append(f"segment {state.index + 1}: {'; '.join(f.message for f in state.flags)}")
    return notes


def _publish(staging: Path, exports: Path, stem: str) -> Path:
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}_{stem}"
    for n in range(1, 1000):
        folder = exports / (stem if n == 1 else f"{stem}-{n}")
        try:
            os.rename(staging, folder)  # fails when the name is taken (a folder that is not empty)
            return folder
        except OSError:
            if not folder.exists():
                raise
    raise InputError("could not find a free name for the export; delete old exports")

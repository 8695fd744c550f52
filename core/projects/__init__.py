"""Long-form projects: an audiobook-length text or a dialogue script, generated segment by segment into
a folder, reviewed, re-rolled one segment at a time and exported (audio, subtitles, a timeline).

    project = Project.create(folder, text, ProjectSettings(voice="v2/en_speaker_6", seed=7))
    run_project(engine, project)                       # resumes where a killed run stopped
    run_project(engine, project, reroll=[segment_id])  # a new take of one segment
    export_project(project, "wav", subtitles=("srt",))

core.projects.store keeps the folder (every write atomic); .run generates; .export joins and writes.
"""

from .export import ExportResult, PendingSegments, export_project
from .run import RunReport, plan_work, run_project
from .store import (
    DIALOGUE_MODES,
    Project,
    ProjectBusy,
    ProjectSegment,
    ProjectSettings,
    ProjectStore,
    SegmentState,
    Take,
)

__all__ = [
    "DIALOGUE_MODES",
    "ExportResult",
    "PendingSegments",
    "Project",
    "ProjectBusy",
    "ProjectSegment",
    "ProjectSettings",
    "ProjectStore",
    "RunReport",
    "SegmentState",
    "Take",
    "export_project",
    "plan_work",
    "run_project",
]

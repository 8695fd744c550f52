"""The REST routes of long-form projects (webui.projects.ProjectService over HTTP).

    POST   /projects                                   202: created and queued; poll its url
    GET    /projects                                   every project, newest first, with its run
    GET    /projects/{id}                              segments, takes, counts, the run and its progress
    POST   /projects/{id}/run                          202: generate what is missing (and re-roll some)
    POST   /projects/{id}/cancel                       stop its run; not resumed at the next start
    POST   /projects/{id}/segments/{segment}/reroll    202: one new take (optionally of a new text)
    PUT    /projects/{id}/segments/{segment}/take      keep take n
    PATCH  /projects/{id}/segments/{segment}           text, speaker, voice, section
    PATCH  /projects/{id}                              name, voice, speaker voices, best of N
    GET    /projects/{id}/segments/{segment}/takes/{n} the take as wav
    POST   /projects/{id}/export                       audio, subtitles and timeline; their urls
    GET    /projects/{id}/exports/{export}/{file}      one exported file
    DELETE /projects/{id}

A run goes on in the server whether or not anyone is connected: a client polls GET /projects/{id}. Ids,
segment ids and file names from a request only ever name things inside the projects folder (anything
else is a 404). Errors keep the API's one shape (webui.api.routes.ErrorBody).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from core.audio import AUDIO_FORMATS
from core.errors import BarkError, InputError, VoiceError
from core.options import MAX_TEXT_CHARS
from core.projects import DIALOGUE_MODES, PendingSegments, ProjectBusy, ProjectSettings
from core.projects.store import MAX_BEST_OF
from core.subtitles import SUBTITLE_FORMATS

from ..projects import ProjectService
from .bodies import OptionFields
from .routes import ApiError, _options

NOT_FOUND_FIELDS = ("project", "segment", "file")  # an InputError about these: the path names nothing
FILE_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
}
RUN_STATES = ("idle", "queued", "running", "finished", "cancelled", "failed")


# Bodies


class ProjectRequest(OptionFields):
    """POST /projects: the text (or a dialogue script), its voices and every generation option."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"text": "Alice: Hello.\nBob: Hi!", "speakers": {"Alice": "v2/en_speaker_6", "Bob": "v2/en_speaker_1"}}
            ]
        },
    )

    text: str = Field(max_length=MAX_TEXT_CHARS, description="What Bark says (a book chapter, a script of speakers)")
    voice: str | None = Field(None, description="A preset or a library voice for lines without a speaker; none: random")
    speakers: dict[str, str | None] = Field(
        default_factory=dict, description="Speaker name (any case) -> voice name, or null for a random voice"
    )
    dialogue: Literal[DIALOGUE_MODES] = Field("auto", description="Read `Name: line` as speakers (auto: when it fits)")
    best_of: int = Field(1, ge=1, le=MAX_BEST_OF, description="Takes a flagged segment gets at most, automatically")
    name: str = Field("", max_length=200, description="The project's name; default: from its text")
    start: bool = Field(True, description="Queue its run now (false: only plan the segments, e.g. to review)")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reroll: list[str] = Field(default_factory=list, max_length=5000, description="Segment ids to give a new take")


class RerollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = Field(None, max_length=1000, description="The segment's new text, before its new take")


class TakeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    take: int = Field(ge=1, description="The number of the take to keep")


class SegmentChanges(BaseModel):
    """Fields left out stay as they are; null (or "") clears speaker, voice and section."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = Field(None, max_length=1000, description="What the segment says")
    speaker: str | None = Field(None, max_length=200, description="Its speaker")
    voice: str | None = Field(None, description="A voice of its own (a name); null: its speaker's or the project's")
    section: str | None = Field(None, max_length=200, description="A chapter title that starts at this segment")


class ProjectChanges(BaseModel):
    """Fields left out stay as they are. The text and the generation options are the project's own:
    change a segment (PATCH its segment), or make a new project."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, max_length=200, description="The project's name")
    voice: str | None = Field(None, description="The voice of lines without a speaker; null or none: random")
    speakers: dict[str, str | None] | None = Field(
        None, description="The whole speaker map: speaker name (any case) -> voice name, or null for a random voice"
    )
    best_of: int | None = Field(None, ge=1, le=MAX_BEST_OF, description="Takes a flagged segment gets at most")


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal[AUDIO_FORMATS] = Field("wav", description="The audio's format")
    subtitles: list[Literal[SUBTITLE_FORMATS]] = Field(["srt"], max_length=2, description="Subtitle files to write")
    chapters: bool = Field(False, description="One audio (and subtitle) file per section")


# Answers


class RunView(BaseModel):
    state: Literal[RUN_STATES] = Field(description="idle: none asked for; queued; running; finished; ...")
    fraction: float = Field(description="How much of the run is done, 0..1")
    message: str
    error: str | None
    takes: int = Field(description="Takes made by this run so far")


class FlagView(BaseModel):
    code: str
    message: str


class TakeView(BaseModel):
    number: int
    seed: int
    duration_s: float
    flags: list[str]
    after: str | None = Field(description="The take it continued from (<segment id>/<n>), if any")
    created: str


class SegmentView(BaseModel):
    index: int = Field(description="1-based position")
    id: str
    text: str
    speaker: str | None
    voice: str | None
    section: str | None
    status: str = Field(description="pending, done, edited or not continuous")
    flags: list[FlagView] = Field(description="What the quality checks found in the chosen take")
    chosen: int | None
    picked: bool
    takes: list[TakeView]


class ProjectView(BaseModel):
    id: str
    name: str
    created: str
    settings: dict[str, Any]
    speakers: list[str]
    unknown_speakers: list[str] = Field(description="Speakers of the script the speaker map gives no voice")
    counts: dict[str, int]
    segments: list[SegmentView]
    wanted: bool = Field(description="A run was asked for and has not finished (a restarted server resumes it)")
    run: RunView


class ProjectAccepted(BaseModel):
    id: str
    url: str = Field(description="Where its state is read (GET) while it runs")
    project: ProjectView


class ProjectSummaryView(BaseModel):
    id: str
    name: str
    created: str
    segments: int
    generated: int = Field(description="Segments with at least one take")
    run: RunView


class ProjectList(BaseModel):
    projects: list[ProjectSummaryView]


class ExportedFile(BaseModel):
    name: str
    kind: Literal["audio", "subtitles", "timeline"]
    url: str
    media_type: str


class ExportAnswer(BaseModel):
    export: str = Field(description="The export's name (its folder)")
    files: list[ExportedFile]
    duration_s: float
    notes: list[str] = Field(description="Segments whose take may not fit (edited, flagged)")


# Routes


class ProjectRoutes:
    """The handlers: each calls one ProjectService method in a worker thread (they read and write files)."""

    def __init__(self, service: ProjectService, api):
        self.service = service
        self.api = api  # BarkApi: how voices are checked and named in errors

    def add_to(self, router: APIRouter) -> None:
        from .routes import error_responses

        wav = {200: {"content": {"audio/wav": {}}, "description": "The take's audio"}}
        files = {200: {"content": {t: {} for t in sorted(set(FILE_TYPES.values()))}, "description": "The file"}}
        body = (400, 404, 411, 413, 422)  # what a route with a JSON body may answer
        project, segment = "/projects/{project_id}", "/projects/{project_id}/segments/{segment_id}"
        # method, path, handler, status, the answer (a model; or a file's responses), errors, summary
        routes = [
            ("POST", "/projects", self.create, 202, ProjectAccepted, (*body, 503),
             "Create a long-form project (and queue its run)"),
            ("GET", "/projects", self.list_projects, 200, ProjectList, (), "Every project"),
            ("GET", project, self.view, 200, ProjectView, (404,), "A project: segments, takes, its run and progress"),
            ("DELETE", project, self.delete, 204, {}, (404, 409), "Delete a project and all its takes"),
            ("PATCH", project, self.change, 200, ProjectView, (*body, 409),
             "Change a project's name, voice, speaker voices or best of N"),
            ("POST", f"{project}/run", self.run, 202, ProjectAccepted, (*body, 503),
             "Generate what is missing (resume), and a new take of each segment in `reroll`"),
            ("POST", f"{project}/cancel", self.cancel, 200, ProjectView, (404, 411, 413),
             "Stop the project's run (finished takes are kept; it is not resumed at the next start)"),
            ("PATCH", segment, self.edit, 200, ProjectView, body, "Change a segment's text, speaker, voice or section"),
            ("POST", f"{segment}/reroll", self.reroll, 202, ProjectAccepted, (*body, 503),
             "Queue a new take of a segment (of a new text, if given)"),
            ("PUT", f"{segment}/take", self.choose, 200, ProjectView, body, "Keep one of a segment's takes"),
            ("GET", f"{segment}/takes/{{number}}", self.take_audio, 200, wav, (404, 422), "A take's audio (wav)"),
            ("POST", f"{project}/export", self.export, 200, ExportAnswer, (*body, 409),
             "Export the chosen takes: audio, subtitles, timeline"),
            ("GET", f"{project}/exports/{{export}}/{{name}}", self.export_file, 200, files, (404, 422),
             "A file of an export"),
        ]  # fmt: skip
        for method, path, handler, status, answer, errors, summary in routes:
            model = isinstance(answer, type)
            router.add_api_route(
                path,
                handler,
                methods=[method],
                status_code=status,
                summary=summary,
                tags=["projects"],
                responses={**({} if model else answer), **error_responses(*sorted(set(errors)))},
                **({"response_model": answer} if model else {"response_class": Response}),
            )

    # Handlers

    async def create(self, body: ProjectRequest) -> ProjectAccepted:
        settings = ProjectSettings(
            voice=self.api._voice(body.voice, "voice"),
            speakers={name: self.api._voice(voice, f"speakers.{name}") for name, voice in body.speakers.items()},
            options=_options(body),
            dialogue=body.dialogue,
            best_of=body.best_of,
            name=body.name,
        )
        with _project_errors():
            project = await run_in_threadpool(self.service.create, body.text, settings, body.start)
        return await self._accepted(project.folder.name)

    async def list_projects(self) -> dict:
        return {"projects": await run_in_threadpool(self.service.list)}

    async def view(self, project_id: str) -> dict:
        with _project_errors():
            return await run_in_threadpool(self.service.view, project_id)

    async def delete(self, project_id: str) -> Response:
        with _project_errors():
            await run_in_threadpool(self.service.delete, project_id)
        return Response(status_code=204)

    async def change(self, project_id: str, body: ProjectChanges) -> dict:
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            raise ApiError(422, "send at least one of name, voice, speakers, best_of", None)
        if "voice" in changes:
            changes["voice"] = self.api._voice(changes["voice"], "voice")
        if "speakers" in changes:
            speakers = changes["speakers"] or {}
            changes["speakers"] = {n: self.api._voice(v, f"speakers.{n}") for n, v in speakers.items()}
        if changes.get("name") is None:
            changes.pop("name", None)
        if changes.get("best_of") is None:
            changes.pop("best_of", None)
        with _project_errors():
            return await run_in_threadpool(lambda: self.service.update_settings(project_id, **changes))

    async def run(self, project_id: str, body: RunRequest | None = Body(None)) -> ProjectAccepted:  # noqa: B008
        with _project_errors():
            await run_in_threadpool(self.service.start, project_id, body.reroll if body else ())
        return await self._accepted(project_id)

    async def cancel(self, project_id: str) -> dict:
        with _project_errors():
            await run_in_threadpool(self.service.cancel, project_id)
            return await run_in_threadpool(self.service.view, project_id)

    async def edit(self, project_id: str, segment_id: str, body: SegmentChanges) -> dict:
        changes = body.model_dump(exclude_unset=True)
        if changes.get("voice"):
            changes["voice"] = self.api._voice(changes["voice"], "voice") or None
        if not changes:
            raise ApiError(422, "send at least one of text, speaker, voice, section", None)
        with _project_errors():
            return await run_in_threadpool(lambda: self.service.edit(project_id, segment_id, **changes))

    async def reroll(
        self,
        project_id: str,
        segment_id: str,
        body: RerollRequest | None = Body(None),  # noqa: B008
    ) -> ProjectAccepted:
        with _project_errors():
            await run_in_threadpool(self.service.reroll, project_id, [segment_id], body.text if body else None)
        return await self._accepted(project_id)

    async def choose(self, project_id: str, segment_id: str, body: TakeRequest) -> dict:
        with _project_errors(not_found=("project", "segment")):
            return await run_in_threadpool(self.service.choose, project_id, segment_id, body.take)

    async def take_audio(self, project_id: str, segment_id: str, number: int) -> FileResponse:
        with _project_errors(not_found=(*NOT_FOUND_FIELDS, "take")):
            path = await run_in_threadpool(self.service.take_audio, project_id, segment_id, number)
        return FileResponse(path, media_type="audio/wav", filename=f"{segment_id}-{number}.wav")

    async def export(self, project_id: str, body: ExportRequest) -> dict:
        with _project_errors():
            result = await run_in_threadpool(
                self.service.export, project_id, body.format, tuple(dict.fromkeys(body.subtitles)), body.chapters
            )
        export = result.folder.name
        kinds = [(p, "audio") for p in result.audio] + [(p, "subtitles") for p in result.subtitles]
        files = [
            {
                "name": path.name,
                "kind": kind,
                "url": _export_url(project_id, export, path.name),
                "media_type": FILE_TYPES[path.suffix.lstrip(".")],
            }
            for path, kind in [*kinds, (result.timeline, "timeline")]
        ]
        return {"export": export, "files": files, "duration_s": result.duration_s, "notes": list(result.notes)}

    async def export_file(self, project_id: str, export: str, name: str) -> FileResponse:
        with _project_errors():
            path = await run_in_threadpool(self.service.export_file, project_id, export, name)
        media = FILE_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")
        return FileResponse(path, media_type=media, filename=path.name)

    async def _accepted(self, project_id: str) -> dict:
        with _project_errors():
            view = await run_in_threadpool(self.service.view, project_id)
        return {"id": project_id, "url": f"/projects/{quote(project_id)}", "project": view}


def _export_url(project_id: str, export: str, name: str) -> str:
    return f"/projects/{quote(project_id)}/exports/{quote(export)}/{quote(name)}"


@contextlib.contextmanager
def _project_errors(not_found: tuple[str, ...] = NOT_FOUND_FIELDS) -> Iterator[None]:
    """The service's errors as statuses: nothing at that path (a project, segment or file) 404, a voice
    that is not there 404, a run under way or segments without takes 409, other mistakes 422, and a
    server that is stopping 503."""
    try:
        yield
    except PendingSegments as e:
        raise ApiError(409, str(e), e.field) from e
    except VoiceError as e:
        raise ApiError(404, str(e), e.field or "voice") from e
    except InputError as e:
        raise ApiError(404 if e.field in not_found else 422, str(e), e.field) from e
    except ProjectBusy as e:
        raise ApiError(409, str(e), "project") from e
    except BarkError as e:
        raise ApiError(503, str(e), None) from e

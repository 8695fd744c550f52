"""The REST API: the web UI's service (webui.studio.Studio) over HTTP.

    app = FastAPI()
    install_api(app, Studio(engine, None), max_queue=16)  # create_server: + door and UI

Routes (docs at /docs): POST /generate-audio/ (the original Bark API server's contract),
POST /v1/audio/speech, GET /v1/models, GET /v1/audio/models, GET /v1/audio/voices (OpenAI's shapes),
GET/POST /voices, GET/DELETE /voices/{name}, GET /health. Generations run one at a time in a worker
thread behind a bounded line (webui.api.queue); a full line answers 503 with Retry-After. Voice names
from requests never name files; uploads are size-limited. Every error, whatever route or status, has
one shape (ErrorBody): OpenAI's `{"error": {"message", "type", "param", "code"}}` plus `detail`, the
same message, for clients of the Bark API server; messages name no folder of the server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from cloning import QUANTIZERS, CloneOptions, CloneResult
from cloning.options import MAX_VARIANTS
from core.constants import SAMPLE_RATE
from core.engine import GenerationResult
from core.errors import Cancelled, InputError, ModelFileError, NameTakenError, VoiceError
from core.library import MAX_NAME_LENGTH, VoiceInfo, sanitize_voice_name
from core.options import MAX_SEED, GenerationOptions
from core.presets import LANGUAGES, is_preset, preset_language, preset_names

from ..studio import Studio
from .audio import MEDIA_TYPES, STREAMABLE, change_tempo, check_response_format, encode_response
from .bodies import (
    LEGACY_NAMES,
    MODEL_IDS,
    GenerateAudioRequest,
    SpeechRequest,
    options_from,
)
from .queue import ClientGone, GenerationQueue, Overloaded
from .stream import SegmentStream, StreamResponse, audio_chunks

log = logging.getLogger(__name__)

API_KEY_ENV = "BARK_API_KEY"
API_TITLE = "Bark Studio API"
API_SUMMARY = "Suno's Bark text-to-audio: generation, OpenAI-compatible speech, the voice library"
API_VERSION = "1"
DEFAULT_MAX_QUEUE = 16
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # a 5-15 s clip is well under 5 MB even as wav
MAX_JSON_BYTES = 2 * 1024 * 1024  # the longest text (100,000 characters) and every option fit
NPZ_MAGIC = b"PK\x03\x04"


def api_key_from(flag: str | None) -> str | None:
    """The API key: the --api-key flag, else the BARK_API_KEY environment variable; None: no auth."""
    key = flag if flag is not None else os.environ.get(API_KEY_ENV)
    return key or None


class ApiError(Exception):
    """An error the client caused or can act on: status, message, the request field it is about."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong and what to do")
    type: str = Field(description="invalid_request_error (4xx) or server_error (5xx), as OpenAI names them")
    param: str | None = Field(description="The request field at fault (`split.pattern` for a nested one), if any")
    code: str = Field(description="The HTTP status, as text")


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    detail: str = Field(description="The message again (the Bark API server's clients read `detail`)")
    error: ErrorDetail


ERRORS = {
    400: "A body that cannot be parsed, or a value the server cannot use (an unknown `model`)",
    401: "Credentials missing or wrong (the API key, or the login)",
    403: "Not allowed (a built-in preset; a request from a web page of another origin)",
    404: "Unknown voice, project, segment, take, file or route",
    409: "A name that is taken (send overwrite=true to replace it), a project that is busy or not fully generated",
    411: "The body needs a Content-Length",
    413: "The body or upload is too large",
    422: "A field is missing or out of range (`error.param` names it)",
    503: "The line is full (see Retry-After), model files are missing, or the server is stopping",
}


def error_responses(*statuses: int) -> dict[int, dict]:
    """OpenAPI `responses` for these statuses, each with the ErrorBody schema."""
    return {status: {"model": ErrorBody, "description": ERRORS[status]} for status in statuses}


def install_api(
    app: FastAPI,
    studio: Studio,
    *,
    max_queue: int = DEFAULT_MAX_QUEUE,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    guarded: bool = False,
    queue: GenerationQueue | None = None,
) -> BarkApi:
    """Add the API's routes, error handlers and body limits to `app` (before it starts, and before
    mounting anything at "/"). Messages go out through `studio.redact` (what a remote client may read).
    `guarded`: the server asks for credentials (the schema then says so). `queue`: who admits
    generations (default: one at a time here, `max_queue` waiting; on a cluster, webui.ray_serve's)."""
    api = BarkApi(studio, queue if queue is not None else GenerationQueue(max_queue), max_upload_bytes)
    routers = [api.public_router(), api.router(guarded)]
    routes = [route for router in routers for route in router.routes]
    for router in routers:
        app.include_router(router)
    _document_only(app, routes, guarded)
    app.state.redact = studio.redact
    for error, handler in _ERROR_HANDLERS.items():
        app.add_exception_handler(error, handler)
    app.add_middleware(ApiGate, routes=routes, upload_bytes=max_upload_bytes)
    app.state.bark_api = api
    return api


def _document_only(app: FastAPI, routes: list, guarded: bool) -> None:
    """Make /openapi.json describe these routes only (an app shared with Gradio has many more),
    and serve /docs even where the app turned FastAPI's own docs off."""
    openapi_url = app.openapi_url or "/openapi.json"

    def schema() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(title=API_TITLE, version=API_VERSION, summary=API_SUMMARY, routes=routes)
            if guarded:
                app.openapi_schema.setdefault("components", {})["securitySchemes"] = {
                    "key": {"type": "http", "scheme": "bearer", "description": "The API key (--api-key)"},
                    "login": {"type": "http", "scheme": "basic", "description": "The login (--auth)"},
                }
                app.openapi_schema["security"] = [{"key": []}, {"login": []}]
                app.openapi_schema["paths"]["/health"]["get"]["security"] = []  # the one open route
        return app.openapi_schema

    app.openapi = schema
    if app.openapi_url is None:
        app.add_route(openapi_url, lambda request: JSONResponse(schema()), include_in_schema=False)
    if app.docs_url is None:
        docs = get_swagger_ui_html(openapi_url=openapi_url, title=f"{API_TITLE} - docs")
        app.add_route("/docs", lambda request: docs, include_in_schema=False)


class BarkApi:
    """The route handlers; each turns its request into a call of the service (Studio), and the
    service's errors into HTTP statuses."""

    def __init__(self, studio: Studio, queue: GenerationQueue, max_upload_bytes: int):
        self.studio = studio
        self.queue = queue
        self.max_upload_bytes = max_upload_bytes

    def public_router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/health", self.health, methods=["GET"], tags=["server"], summary="Models, device, queue")
        return router

    def router(self, guarded: bool = False) -> APIRouter:
        """Every route but /health; `guarded`: each may answer 401."""
        router = APIRouter(responses=error_responses(401) if guarded else {})
        audio = {200: {"content": {t: {} for t in sorted(set(MEDIA_TYPES.values()))}, "description": "Audio"}}
        add = router.add_api_route
        add(
            "/generate-audio/",
            self.generate_audio,
            methods=["POST"],
            tags=["generation"],
            summary="Text -> wav (the original Bark API server's contract)",
            response_class=Response,
            responses={**audio, **error_responses(400, 404, 411, 413, 422, 503)},
        )
        add(
            "/v1/audio/speech",
            self.speech,
            methods=["POST"],
            tags=["openai"],
            summary="OpenAI-compatible text to speech",
            response_class=Response,
            responses={**audio, **error_responses(400, 404, 411, 413, 422, 503)},
        )
        add("/v1/models", self.models, methods=["GET"], tags=["openai"], summary="Model ids for OpenAI clients")
        add(
            "/v1/audio/models",
            self.audio_models,
            methods=["GET"],
            tags=["openai"],
            summary="Speech model ids (Open WebUI reads this from a non-OpenAI base URL)",
        )
        add("/v1/audio/voices", self.openai_voices, methods=["GET"], tags=["openai"], summary="Voices: id and name")
        add("/voices", self.list_voices, methods=["GET"], tags=["voices"], summary="Presets and library voices")
        add(
            "/voices",
            self.add_voice,
            methods=["POST"],
            tags=["voices"],
            status_code=201,
            summary="Clone a voice from a clip (or import a voice .npz) into the library",
            responses=error_responses(400, 409, 411, 413, 422, 503),
        )
        add(
            "/voices/{name:path}",
            self.download_voice,
            methods=["GET"],
            tags=["voices"],
            summary="A voice as Suno's .npz",
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(404, 422, 503)},
        )
        add(
            "/voices/{name:path}",
            self.delete_voice,
            methods=["DELETE"],
            tags=["voices"],
            status_code=204,
            summary="Delete a library voice",
            response_class=Response,
            responses=error_responses(403, 404, 422),
        )
        if self.studio.projects is not None:
            from .projects import ProjectRoutes  # it builds on this module's errors and option bodies

            ProjectRoutes(self.studio.projects, self).add_to(router)
        return router

    # Server

    async def health(self) -> dict:
        return {"status": "ok", **self.studio.engine.status(), "queue": self.queue_stats()}

    def queue_stats(self) -> dict:
        """The line of requests, and the project runs (which run in the background, between them)."""
        stats: dict = self.queue.stats()
        if self.studio.projects is not None:
            stats["projects"] = self.studio.projects.runs()
        return stats

    # Generation

    async def generate_audio(self, body: GenerateAudioRequest, request: Request) -> Response:
        options = _with_seed(_options(body, LEGACY_NAMES))
        voice = self._voice(body.voice_preset, "voice_preset")
        await self._check_text(body.text, options, "text")
        result = await self._generate(request, body.text, voice, options)
        data = await run_in_threadpool(encode_response, result.audio, "wav")  # minutes of audio: not in the loop
        return Response(data, media_type="audio/wav", headers=_seed_header(result.seed))

    async def speech(self, body: SpeechRequest, request: Request) -> Response:
        _check_model(body.model)
        options = _with_seed(_options(body))
        voice = self._voice(body.voice, "voice")
        fmt = body.response_format
        _checked(check_response_format, fmt, field="response_format")
        stream = body.stream if body.stream is not None else fmt == "pcm"
        if stream and fmt not in STREAMABLE:
            raise ApiError(422, f"stream: only {' and '.join(STREAMABLE)} can be streamed; not {fmt}", "stream")
        await self._check_text(body.input, options, "input")
        media = {"media_type": MEDIA_TYPES[fmt], "headers": _seed_header(options.seed)}
        if stream:
            return await self._stream(request, body.input, voice, options, fmt, body.speed, media)
        result = await self._generate(request, body.input, voice, options)
        return Response(await run_in_threadpool(_encoded, result.audio, fmt, body.speed), **media)

    async def models(self) -> dict:
        entry = {"object": "model", "created": 0, "owned_by": "suno"}
        return {"object": "list", "data": [{"id": model_id, **entry} for model_id in MODEL_IDS]}

    async def audio_models(self) -> dict:
        return {"models": [{"id": model_id} for model_id in MODEL_IDS]}

    async def _check_text(self, text: str, options: GenerationOptions, field: str) -> None:
        """Refuse text that cannot be generated (empty, too long for split mode none) before queueing."""
        try:
            await run_in_threadpool(self.studio.plan, text, options)
        except InputError as e:  # the text, or a split option on this text (a pattern that takes too long)
            raise ApiError(422, str(e) if e.field else f"{field}: {e}", e.field or field) from e

    async def _generate(self, request: Request, text: str, voice: str | None, options) -> GenerationResult:
        cancel = threading.Event()
        job = partial(self.studio.generate, text, voice, options, cancel)
        async with self.queue.job(request) as ticket:
            return await ticket.run(job, cancel, request)

    async def _stream(self, request, text, voice, options, fmt, speed, media) -> StreamResponse:
        cancel = threading.Event()
        stream = SegmentStream(self.queue.admit(), cancel)
        job = partial(self.studio.generate, text, voice, options, cancel)
        try:
            await stream.start(lambda on_segment: job(on_segment=on_segment), request)
        except BaseException:
            stream.close()
            raise
        chunks = audio_chunks(stream.segments(), fmt, options, speed)
        return StreamResponse(chunks, on_close=stream.close, **media)

    # Voices

    async def openai_voices(self) -> dict:
        library = [{"id": v.name, "name": v.name} for v in await run_in_threadpool(self.studio.voices)]
        return {"voices": library + [{"id": p, "name": _preset_label(p)} for p in preset_names()]}

    async def list_voices(self) -> dict:
        library = [_voice_json(v) for v in await run_in_threadpool(self.studio.voices)]
        presets = [{"name": p, "kind": "preset", "language": preset_language(p)} for p in preset_names()]
        return {"voices": library + presets}

    async def download_voice(self, name: str) -> Response:
        """The library voice `name`, or a preset, as Suno's .npz format."""
        with contextlib.nullcontext() if is_preset(name) else _not_in_library(name):  # a preset is always there
            filename, data = await run_in_threadpool(self.studio.voice_file, name)
        disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
        return Response(data, media_type="application/octet-stream", headers={"Content-Disposition": disposition})

    async def delete_voice(self, name: str) -> Response:
        if is_preset(name):
            raise ApiError(403, f"{name} is one of Suno's built-in presets; only library voices can be deleted", "name")
        with _not_in_library(name):
            await run_in_threadpool(self.studio.delete_voice, name)
        return Response(status_code=204)

    async def add_voice(
        self,
        request: Request,
        file: UploadFile = File(description="A clip of one speaker (wav, flac, ogg, mp3), or a voice .npz"),  # noqa: B008
        name: str = Form(min_length=1, max_length=MAX_NAME_LENGTH, description="The new voice's name"),
        language: Literal[tuple(QUANTIZERS)] = Form("en", description="The clip's language (picks the quantizer)"),
        variants: int = Form(1, ge=1, le=MAX_VARIANTS, description="Candidate voices from one clip (name, name-2...)"),
        overwrite: bool = Form(False, description="Replace a voice of the same name"),
    ) -> dict:
        name = _checked(sanitize_voice_name, name, field="name")
        data = await file.read(self.max_upload_bytes + 1)
        if len(data) > self.max_upload_bytes:
            raise ApiError(413, f"file: the upload is over {self.max_upload_bytes // 2**20} MiB", "file")
        if data.startswith(NPZ_MAGIC):
            info = await run_in_threadpool(self.studio.import_voice, data, name, overwrite)
            return {"voices": [_voice_json(info)], "notes": ["imported a voice prompt .npz"], "duration_s": None}
        cancel = threading.Event()
        options = CloneOptions(language=language, variants=variants)
        clone = partial(self._clone, data, file.filename or "upload", name, options, overwrite, cancel)
        async with self.queue.job(request) as ticket:
            result = await ticket.run(clone, cancel, request)
        voices = [_voice_json(v) for v in result.voices]
        return {"voices": voices, "notes": list(result.notes), "duration_s": result.duration_s}

    def _clone(
        self, data: bytes, filename: str, name: str, options: CloneOptions, overwrite: bool, cancel: threading.Event
    ) -> CloneResult:
        """Runs in the worker thread: the clip goes through a temporary file the cloner reads; `cancel`
        (the client left, the server stops) ends it at the next step, before anything is saved."""
        suffix = Path(filename).suffix.lower()[:8] if Path(filename).suffix.isascii() else ""
        with tempfile.TemporaryDirectory(prefix="bark-upload-") as folder:
            path = Path(folder) / f"clip{suffix}"
            path.write_bytes(data)
            sent = Path(filename.replace("\\", "/")).name or "the upload"  # what messages call it
            return self.studio.clone(path, name, options, overwrite=overwrite, source_name=sent, cancel=cancel)

    def _voice(self, name: str | None, field: str) -> str | None:
        """The voice a request names (Studio.check_voice: a preset, a library voice or none), or a 404
        about `field` that says where the voices are listed."""
        try:
            return self.studio.check_voice(name)
        except InputError as e:
            raise ApiError(
                404,
                f"{field}: no voice named {name.strip()!r}. Use one of Suno's presets (like v2/en_speaker_6) or a "
                "voice of the library; GET /v1/audio/voices lists them all.",
                field,
            ) from e


# Helpers


@contextlib.contextmanager
def _not_in_library(name: str) -> Iterator[None]:
    """A voice that is not in the library (VoiceError), or a name no voice can have (InputError), as a
    404 about the path's `name`."""
    try:
        yield
    except VoiceError as e:
        raise ApiError(404, f"no voice named {name!r} in the library; GET /voices lists them", "name") from e
    except InputError as e:
        raise ApiError(404, f"no voice named {name!r}: {e}", "name") from e


def _options(body, renames: dict[str, str] | None = None) -> GenerationOptions:
    """The request's GenerationOptions, or a 422 that names the option at fault."""
    try:
        return options_from(body, renames)
    except InputError as e:
        raise ApiError(422, str(e), e.field) from e


def _encoded(audio, fmt: str, speed: float) -> bytes:
    """The response's bytes at the asked tempo (in a worker thread: the tempo change and the encoders
    take seconds on long audio, and the event loop must stay free)."""
    return encode_response(change_tempo(audio, speed) if speed != 1.0 else audio, fmt)


def _check_model(model: str) -> None:
    """`model` must be one that /v1/models lists; 400 naming them otherwise (the schema's enum says so too)."""
    if model not in MODEL_IDS:
        listed = ", ".join(MODEL_IDS)
        raise ApiError(400, f"model: {model!r} is not a model of this server; use one of {listed}", "model")


def _with_seed(options: GenerationOptions) -> GenerationOptions:
    """Draw the seed now, so that it can be sent in a header before the audio."""
    return options if options.seed is not None else options.replace(seed=secrets.randbelow(MAX_SEED + 1))


def _seed_header(seed: int) -> dict[str, str]:
    return {"X-Seed": str(seed), "X-Sample-Rate": str(SAMPLE_RATE)}


def _checked(fn: Callable, *args, field: str):
    """fn(*args), with an InputError turned into a 422 about `field`."""
    try:
        return fn(*args)
    except InputError as e:
        raise ApiError(422, f"{field}: {e}", field) from e


def _preset_label(name: str) -> str:
    """ "v2/en_speaker_6" -> "English 6 (v2)"; "announcer" -> "Announcer"."""
    language = preset_language(name)
    if language is None:
        return name.capitalize()
    version = "v2" if name.startswith("v2/") else "v1"
    return f"{LANGUAGES[language]} {name.rsplit('_', 1)[-1]} ({version})"


def _voice_json(info: VoiceInfo) -> dict:
    return {
        "name": info.name,
        "kind": "library",
        "language": info.language,
        "created": info.created,
        "source": info.source,
    }


def error_response(
    status: int, message: str, field: str | None = None, headers: dict | list[tuple[str, str]] | None = None
) -> JSONResponse:
    """An ErrorBody answer; `headers` as a dict or (name, value) pairs (a name may repeat)."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = ErrorBody(detail=message, error=ErrorDetail(message=message, type=kind, param=field, code=str(status)))
    response = JSONResponse(body.model_dump(), status_code=status)
    for name, value in headers.items() if isinstance(headers, dict) else headers or []:
        response.headers.append(name, value)
    return response


def _public(request: Request, message: str) -> str:
    return request.app.state.redact(message)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return error_response(error.status, _public(request, error.message), error.field, error.headers)


async def _input_error(request: Request, error: InputError) -> JSONResponse:
    status = 409 if isinstance(error, NameTakenError) else 422
    return error_response(status, _public(request, str(error)), "name" if status == 409 else None)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """pydantic's errors as one message that names each field: "input: Field required"."""
    parts, fields = [], []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "form"))
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
        fields.append(where or None)
    return error_response(422, "; ".join(parts) or "invalid request", fields[0] if fields else None)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own errors (an unknown route, a wrong method) in the API's error shape."""
    message = {404: "no such route; /docs lists them", 405: f"{request.method} is not allowed here"}
    detail = message.get(error.status_code, str(error.detail))
    return error_response(error.status_code, detail, None, dict(error.headers or {}))


async def _overloaded(request: Request, error: Overloaded) -> JSONResponse:
    return error_response(503, str(error), headers={"Retry-After": str(error.retry_after)})


async def _model_files(request: Request, error: ModelFileError) -> JSONResponse:
    log.error("model files: %s", error)  # the whole message, paths included, for whoever runs the server
    return error_response(503, _public(request, str(error)))


async def _cancelled(request: Request, error: Exception) -> JSONResponse:
    return error_response(499, "the request was cancelled")


_ERROR_HANDLERS = {
    ApiError: _api_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
    InputError: _input_error,
    Overloaded: _overloaded,
    ModelFileError: _model_files,
    Cancelled: _cancelled,
    ClientGone: _cancelled,
}


class ApiGate:
    """ASGI middleware in front of the API's routes: a method a route does not serve is 405 with an
    Allow header that lists every method of that path (GET and POST /voices are two routes; and with the
    UI mounted at "/", Gradio would answer instead); a POST body over its limit is refused (413) before
    it is read, and one without a Content-Length gets 411 (where the body may be left out, a request
    without either a length or a chunked body passes). Other paths (Gradio's) pass untouched."""

    def __init__(self, app, routes: list, upload_bytes: int):
        self.app = app
        self.routes = [r for r in routes if getattr(r, "methods", None)]
        self.limits = {"/voices": upload_bytes, "/generate-audio/": MAX_JSON_BYTES, "/v1/audio/speech": MAX_JSON_BYTES}
        self.limits |= {route.path: MAX_JSON_BYTES for route in self.routes if route.path.startswith("/projects")}
        self.optional_body = {
            "/projects/{project_id}/run",
            "/projects/{project_id}/cancel",
            "/projects/{project_id}/segments/{segment_id}/reroll",
        }

    async def __call__(self, scope, receive, send) -> None:
        refusal = self.check(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def check(self, scope) -> JSONResponse | None:
        methods, path = set(), None
        method = scope.get("method", "")
        for route in self.routes:
            match = route.matches(scope)[0]
            if match != Match.NONE:
                methods |= route.methods
            if match == Match.FULL:
                path = route.path
        if not methods:
            return None
        if method not in methods:
            message = f"{method} is not allowed here; use {' or '.join(sorted(methods))}"
            return error_response(405, message, None, {"Allow": ", ".join(sorted(methods))})
        limit = self.limits.get(path)
        if limit is None or method not in ("POST", "PUT", "PATCH"):
            return None
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is None and path in self.optional_body and b"transfer-encoding" not in headers:
            return None  # no body at all
        if length is None or not length.isdigit():
            return error_response(411, "send a Content-Length header with the body")
        if int(length) > limit:
            return error_response(413, f"the request body is {int(length):,} bytes; the limit here is {limit:,}")
        return None


__all__ = ["API_KEY_ENV", "ApiError", "BarkApi", "ErrorBody", "api_key_from", "error_response", "install_api"]

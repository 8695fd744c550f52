"""The whole server as one ASGI app: the REST API, the web UI beside it, and the door in front of both.

    studio = Studio(engine, Path("outputs"))
    app = create_server(studio, ui=create_app(studio), api_key="KEY", local_only=True)
    run(app, engine, host="127.0.0.1", port=7860)

Layers, outermost first: CORS (it answers preflights, granting only the --cors origins; Gradio sees
it and grants none of its own), the door (host, origin and credentials: webui.door), the API's gate
(methods, body limits), then the routes: the API's, and the Gradio app mounted at "/". Gradio's own
check that a file input names an uploaded file runs only in an app that was launched; a mounted one
is marked so here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware

from core.engine import Engine

from .api.queue import GenerationQueue
from .api.routes import (
    API_SUMMARY,
    API_TITLE,
    API_VERSION,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_UPLOAD_BYTES,
    error_response,
    install_api,
)
from .app import launch_options
from .door import Credentials, Door
from .projects import STOP_WAIT_S
from .studio import Studio

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 3  # open connections (streams, the UI's event streams) get this long to end


def create_server(
    studio: Studio,
    *,
    ui: gr.Blocks | None = None,
    api_key: str | None = None,
    login: tuple[str, str] | None = None,
    cors_origins: list[str] | tuple[str, ...] = (),
    local_only: bool = False,
    max_queue: int = DEFAULT_MAX_QUEUE,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    queue: GenerationQueue | None = None,
) -> FastAPI:
    """The API on `studio` (the service the web UI uses too), with the web UI `ui` (create_app on the
    same studio) mounted at "/" if given.

    api_key / login: what every route but /health asks for (either will do). local_only: the server
    listens on this machine only, so it answers only to this machine's names. queue: who admits
    generations (install_api; a cluster passes Serve's admission, webui.ray_serve).
    """
    lifespan = _resume_and_stop(studio)
    app = FastAPI(title=API_TITLE, summary=API_SUMMARY, version=API_VERSION, lifespan=lifespan)
    credentials = Credentials(api_key, login)
    blocks = ui
    install_api(
        app,
        studio,
        max_queue=max_queue,
        max_upload_bytes=max_upload_bytes,
        guarded=credentials.required,
        queue=queue,
    )
    app.state.close_ui = None
    app.state.stop_work = partial(stop_work, studio, wait_s=0)  # from a signal handler: no waiting
    if blocks is not None:
        projects_dir = studio.projects.store.root if studio.projects is not None else None
        gr.mount_gradio_app(app, blocks, path="/", **launch_options(studio.output_dir, projects_dir))
        blocks.has_launched = True  # turns on Gradio's check that file inputs were uploaded (see above)
        # The mounted Gradio app's stop event ends the open tabs' heartbeat streams, which would hold a
        # shutdown for its whole grace time (Blocks.close sets it only on an app Blocks launched itself).
        mounted = app.router.routes[-1].app
        app.state.close_ui = mounted.stop_event.set
    app.add_middleware(
        Door, credentials=credentials, local_only=local_only, origins=list(cors_origins), respond=error_response
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Seed", "Retry-After", "Content-Disposition", "X-Bark-Replica"],
    )
    return app


def _resume_and_stop(studio: Studio):
    """A lifespan that, at the start, queues the project runs that an earlier server left unfinished
    (it stopped, or died), and when the server stops, however it is stopped, cancels what still runs
    (a generation left running in a worker thread would outlive the server, and torch aborts a process
    that exits under it); the projects cancelled so are resumed at the next start."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if studio.projects is not None:
            resumed = await run_in_threadpool(studio.projects.resume)
            if resumed:
                log.warning("resuming %d unfinished project run(s)", len(resumed))
        yield
        await run_in_threadpool(stop_work, studio)

    return lifespan


def stop_work(studio: Studio, wait_s: float = STOP_WAIT_S) -> int:
    """Cancel the engine's work and the project runs (which stay wanted, to resume), waiting up to
    `wait_s` for a project run to let go of its project; how many jobs were cancelled."""
    cancelled = studio.engine.cancel_running()
    if studio.projects is not None:
        studio.projects.stop(wait_s)
    return cancelled


class _Server(uvicorn.Server):
    """uvicorn that cancels the engine's work as soon as it is told to stop (SIGTERM, Ctrl-C),
    so that the worker threads end within a step and the process exits."""

    def __init__(self, config: uvicorn.Config, stop_work: Callable[[], int], close_ui: Callable[[], None] | None):
        super().__init__(config)
        self.stop_work, self.close_ui = stop_work, close_ui

    def handle_exit(self, sig: int, frame: Any) -> None:
        cancelled = self.stop_work()
        if cancelled:
            log.warning("stopping: cancelled %d running job(s) (generations, clones)", cancelled)
        if self.close_ui is not None and not self.should_exit:
            self.close_ui()
        super().handle_exit(sig, frame)


def run(app: FastAPI, engine: Engine, host: str, port: int) -> None:
    """Serve until SIGTERM or Ctrl-C; then running generations are cancelled and open connections get
    SHUTDOWN_GRACE_S seconds."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    _Server(config, app.state.stop_work, app.state.close_ui).run()

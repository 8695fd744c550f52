"""The REST API as a Ray Serve application: the same routes on a cluster of machines.

    python bark_webui.py --api-only --ray                   # a local Ray cluster on this machine
    python bark_webui.py --api-only --ray HEAD:6379 --replicas 4 --gpus-per-replica 1
    serve run deploy/ray/serve.yaml                         # a real cluster (KubeRay: a RayService)

Two deployments:

- BarkApi, the ingress: the very FastAPI app of one machine (webui.server.create_server without the UI:
  the same door, auth, errors and schema) on a Studio whose engine is a RemoteEngine. Planning, voice
  checks, the voice library and the projects run here, on the shared folders; the heavy calls
  (generate, generate_segments, decode, clone) go to the generation deployment through Serve handles,
  streamed item by item. Admission is Serve's (ServeAdmission): no line of our own.
- BarkGenerator: one Engine (and one VoiceCloner) per replica, max_ongoing_requests=1, with Serve's
  bounded line in front (max_queued_requests). A full line is Serve's BackPressureError, which the
  ingress answers as the API's 503 with a Retry-After measured from the remote calls' times.

Every response that a generation replica served names it in X-Bark-Replica, and /health adds what
Serve and the replicas say of themselves (ServeWatch, RemoteEngine.status). A replica that dies
during a request: a generation, clone or decode that has sent nothing yet is retried once on another
replica; one that has (a stream under way) ends with an error (the stream is cut short); a project's
batch goes on with its remaining segments on another replica, and every take already received is on
disk. Serve starts a new replica meanwhile.

Shared state is the shared folders: the voice library (prompts_dir) and the projects folder are one
mounted volume that every replica and the ingress read, so a voice cloned through one replica is
usable through every other at once; takes are written by the ingress. Model files come from each
node's Hugging Face cache (HF_HOME), downloaded once per node.

Ray is an optional extra (`pip install ".[ray]"`); nothing else in the app imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import importlib
import logging
import math
import os
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import serve
from ray.serve.exceptions import BackPressureError, RequestCancelledError

from cloning import CloneOptions, CloneResult, VoiceCloner
from cloning.clone import SAVING
from core.engine import Engine, EngineSettings, GenerationResult, SegmentResult
from core.errors import BarkError, Cancelled
from core.options import GenerationOptions

from .api.queue import FIRST_GUESS_S, MAX_RETRY_AFTER_S, GenerationQueue, Overloaded, Ticket
from .api.routes import DEFAULT_MAX_QUEUE

log = logging.getLogger(__name__)

APP_NAME = "bark"
INGRESS = "BarkApi"
GENERATOR = "BarkGenerator"
REPLICA_HEADER = "X-Bark-Replica"
PROGRESS_EVERY_S = 0.2  # a replica sends a step's progress at most this often (a stage's start always)
LOST_RETRIES = 1  # a call that lost its replica before sending what cannot be taken back is tried again this often
INGRESS_WORKERS = 256  # threads of the ingress that wait on remote calls (each a generation in flight)
REPLICAS_SEEN_S = 120.0  # replicas that answered this recently count as serving (Retry-After)
SERVE_STATUS_EVERY_S = 5.0  # how often the ingress asks Serve how its generation replicas are (for /health)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ClusterSettings:
    """What the Serve application is made of: the generation deployment's replicas and resources, the
    engine each replica owns, and the ingress's door (as on one machine)."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    replicas: int = 1  # with max_replicas: the autoscaling bounds (min, max)
    max_replicas: int | None = None
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    max_queue: int = DEFAULT_MAX_QUEUE  # Serve's max_queued_requests on the generation deployment, per caller
    projects_dir: Path | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a log line of the settings
    api_key_env: str | None = None  # or the key from this environment variable of the ingress (a cluster's secret)
    login: tuple[str, str] | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    local_only: bool = False
    engine_class: str = "core.engine:Engine"  # module:Class of the replicas' engine (the tests' and bench's stand-ins)

    def __post_init__(self) -> None:
        if self.replicas < 1 or (self.max_replicas is not None and self.max_replicas < self.replicas):
            raise ValueError(f"replicas must be 1 or more (and max_replicas at least that); got {self!r}")
        if self.gpus_per_replica < 0 or self.cpus_per_replica < 0 or self.max_queue < 0:
            raise ValueError("gpus_per_replica, cpus_per_replica and max_queue must not be negative")

    def generator_options(self) -> dict:
        """The generation deployment's Serve options: replicas (or autoscaling), resources, the line."""
        options: dict[str, Any] = {
            "max_ongoing_requests": 1,  # one Engine runs one generation at a time
            "max_queued_requests": self.max_queue,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica, "num_gpus": self.gpus_per_replica},
            "graceful_shutdown_timeout_s": 5,
        }
        if self.max_replicas is None:
            options["num_replicas"] = self.replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": 1,
            }
        return options


@dataclass(frozen=True)
class Served:
    """The first item of every remote call, and the one before its result: the generation replica
    that serves it, and its engine's status then (device, models in memory, what loads)."""

    replica: str
    status: dict


# The generation deployment


@serve.deployment(name=GENERATOR, max_ongoing_requests=1)
class GenerationWorker:
    """One replica: one Engine and one VoiceCloner. Each method is an async generator of items (a
    Served first, then progress and results), so that Serve streams them and a cancelled request (the
    client left) cancels the method's task, which sets the engine's cancel event."""

    def __init__(self, engine_settings: EngineSettings, engine_class: str = "core.engine:Engine"):
        self.engine = _load_class(engine_class)(engine_settings)
        self.cloner = VoiceCloner(self.engine)
        self.name = serve.get_replica_context().replica_id.unique_id

    async def generate(self, text: str, voice, options: GenerationOptions, allow_paths: bool = False):
        def work(put, progress, cancel):
            return self.engine.generate(text, voice, options, progress, cancel, allow_paths, on_segment=put)

        async for item in self._events(work):
            yield item

    async def generate_segments(self, texts, seeds, voice, options: GenerationOptions, allow_paths: bool = False):
        def work(put, progress, cancel):
            self.engine.generate_segments(texts, seeds, voice, options, progress, cancel, allow_paths, on_segment=put)

        async for item in self._events(work):
            yield item

    async def clone(self, audio, suffix: str, name: str, options: CloneOptions, overwrite: bool, source: str | None):
        """Clone `audio` (a clip's bytes, or (samples, rate)) into the shared library."""

        def work(put, progress, cancel):
            def report(stage: str, fraction: float) -> None:
                if cancel.is_set():
                    raise Cancelled("the clone was cancelled")
                put((stage, fraction))

            with self.engine.cancellable(cancel), tempfile.TemporaryDirectory(prefix="bark-clone-") as folder:
                clip = audio
                if isinstance(audio, bytes):
                    clip = Path(folder) / f"clip{suffix}"
                    clip.write_bytes(audio)
                return self.cloner.clone(clip, name, options, overwrite=overwrite, source_name=source, progress=report)

        async for item in self._events(work):
            yield item

    async def decode(self, fine: np.ndarray):
        yield self._served()
        audio = await asyncio.to_thread(self.engine.decode, fine)
        yield self._served()
        yield audio

    def _served(self) -> Served:
        return Served(self.name, self.engine.status())

    async def _events(self, work: Callable[[Callable, Callable, threading.Event], Any]):
        """Run work(put, progress, cancel) in a thread; yield Served, what it puts, then Served again
        (the models are loaded now) and what it returns."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def put(item) -> None:
            loop.call_soon_threadsafe(items.put_nowait, (True, item))

        def run() -> None:
            # A load (minutes, for a first download) is told as it goes: /health shows it.
            loads = _Throttled(lambda loading: put(self._served()), key=lambda loading: loading.what)
            try:
                with self.engine.watch.listen(loads):
                    result = work(put, _Throttled(put, key=lambda p: p.stage, last=lambda p: p.step == p.total), cancel)
                loop.call_soon_threadsafe(items.put_nowait, (False, result))
            except BaseException as e:  # raised in the caller's process, as on one machine
                loop.call_soon_threadsafe(items.put_nowait, (False, e))

        worker = loop.run_in_executor(None, run)
        try:
            yield self._served()
            while True:
                more, item = await items.get()
                if isinstance(item, BaseException):
                    raise item
                if not more:
                    yield self._served()
                if item is not None:
                    yield item
                if not more:
                    return
        finally:
            cancel.set()  # the request ended, or was cancelled (asyncio cancelled this task): stop the engine
            with contextlib.suppress(BaseException):
                await worker


class _Throttled:
    """A callback that passes the first report of each kind (`key`: a stage, a load), a last one
    (`last`: a stage's final step), and otherwise at most one per PROGRESS_EVERY_S."""

    def __init__(
        self, put: Callable[[Any], None], key: Callable[[Any], Any], last: Callable[[Any], bool] | None = None
    ):
        self.put, self.key, self.is_last = put, key, last
        self.at, self.kind = 0.0, None

    def __call__(self, report) -> None:
        now, kind = time.monotonic(), self.key(report)
        last = self.is_last is not None and self.is_last(report)
        if kind != self.kind or now - self.at >= PROGRESS_EVERY_S or last:
            self.put(report)
            self.at, self.kind = now, kind


def _load_class(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# The ingress's side of the remote calls


_SERVED_BY: contextvars.ContextVar[dict | None] = contextvars.ContextVar("bark_served_by", default=None)


class ReplicaLost(Overloaded):
    """The replica serving a request stopped (Serve starts another): the API's 503 with Retry-After."""

    def __init__(self, retry_after: int, detail: str = ""):
        Exception.__init__(
            self,
            f"The worker generating this request stopped; the server starts another. Try again in {retry_after} s."
            + (f" {detail}" if detail else ""),
        )
        self.retry_after = retry_after


class RemoteCalls:
    """Calls of the generation deployment from the ingress's worker threads (sync), streamed item by
    item; with the times they took (for Retry-After) and the replicas that answered."""

    def __init__(self, handle, max_queued: int):
        self.handle = handle
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._durations: deque[float] = deque(maxlen=10)
        self._in_flight: dict[int, float] = {}  # call -> when it started
        self._replicas: dict[str, tuple[float, dict]] = {}  # replica -> when it last answered, its status then

    def stream(self, method: str, cancel: threading.Event | None, *args, timed: bool = True) -> Iterator[Any]:
        """The items of handle.method(*args) after its Served; `cancel` (set by the API: the client
        left) cancels the remote call. Serve's errors become the API's: BackPressureError -> Overloaded,
        a dead replica -> ReplicaLost, a cancelled call -> Cancelled; the replica's own errors are
        raised as they were raised there (an InputError stays one)."""
        with self._serve_errors():  # a full line may be told at once, or at the first item
            response = getattr(self.handle.options(stream=True), method).remote(*args)
        key, finished = id(response), threading.Event()
        with self._lock:
            self._in_flight[key] = time.monotonic()
        watcher = threading.Thread(target=_cancel_when, args=(cancel, finished, response), daemon=True)
        if cancel is not None:
            watcher.start()
        completed = False
        try:
            yield from self._items(response)
            completed = True
            with self._lock:
                if timed:
                    self._durations.append(time.monotonic() - self._in_flight[key])
        finally:
            finished.set()
            with self._lock:
                self._in_flight.pop(key, None)
            if not completed:  # failed, cancelled, or the caller stopped reading: the replica stops too
                with contextlib.suppress(Exception):  # a call Serve refused raises its refusal again here
                    response.cancel()

    def _items(self, response) -> Iterator[Any]:
        with self._serve_errors():
            for item in response:
                if isinstance(item, Served):
                    self._served(item)
                    continue
                yield item

    @contextlib.contextmanager
    def _serve_errors(self) -> Iterator[None]:
        try:
            yield
        except BackPressureError as e:
            raise Overloaded(self.retry_after(), e.args[0] if e.args else 0) from None
        except (RequestCancelledError, ray.exceptions.TaskCancelledError):
            raise Cancelled("Generation cancelled.") from None
        except ray.exceptions.RayTaskError as e:  # the replica's own error, raised there
            cause = e.cause
            raise (cause if isinstance(cause, Exception) else e) from None
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as e:
            log.warning("a generation replica stopped during a request: %s", type(e).__name__)
            raise ReplicaLost(self.retry_after()) from None

    def retrying(self, method: str, cancel: threading.Event | None, *args, kept=None, timed: bool = True):
        """stream(), started again on another replica (LOST_RETRIES times) when its replica stopped
        before sending an item that kept(item) says the caller has used and cannot take back."""
        for attempt in range(LOST_RETRIES + 1):
            sent = False
            try:
                for item in self.stream(method, cancel, *args, timed=timed):
                    sent = sent or (kept is not None and kept(item))
                    yield item
                return
            except ReplicaLost:
                if sent or attempt == LOST_RETRIES or (cancel is not None and cancel.is_set()):
                    raise
                log.warning("%s: again on another replica", method)

    def result(self, method: str, cancel: threading.Event | None, *args, is_result, on_item=None, **retrying):
        """The call's result (the item is_result(item) picks: its last), read to the end so that the call
        is complete (not cancelled, its time counted); every other item goes to on_item as it comes."""
        result = None
        for item in self.retrying(method, cancel, *args, **retrying):
            if is_result(item):
                result = item
            elif on_item is not None:
                on_item(item)
        if result is None:  # not reached: the stream ends with its result
            raise ReplicaLost(self.retry_after())
        return result

    def _served(self, served: Served) -> None:
        with self._lock:
            self._replicas[served.replica] = (time.monotonic(), served.status)
        named = _SERVED_BY.get()
        if named is not None:
            named["replica"] = served.replica

    def retry_after(self) -> int:
        """Seconds until the calls in flight now have likely run: what is left of each at the mean of
        the last finished calls' measured times (a guess before the first), spread over the replicas
        that answered lately."""
        now = time.monotonic()
        with self._lock:
            mean = sum(self._durations) / len(self._durations) if self._durations else FIRST_GUESS_S
            left = sum(max(0.0, mean - (now - t)) for t in self._in_flight.values())
            replicas = sum(now - t < REPLICAS_SEEN_S for t, _ in self._replicas.values())
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil((left + mean) / max(replicas, 1))))

    def stats(self) -> dict:
        return {"in_flight": len(self._in_flight), "replicas_seen": [r["replica"] for r in self.replicas()]}

    def replicas(self) -> list[dict]:
        """The replicas that answered within REPLICAS_SEEN_S: each one's status when it last did."""
        now = time.monotonic()
        with self._lock:
            seen = [(r, now - t, status) for r, (t, status) in self._replicas.items() if now - t < REPLICAS_SEEN_S]
        return [{"replica": r, "seen_s_ago": round(ago, 1), **status} for r, ago, status in sorted(seen)]


def _cancel_when(cancel: threading.Event, finished: threading.Event, response) -> None:
    while not finished.wait(0.1):
        if cancel.is_set():
            with contextlib.suppress(Exception):
                response.cancel()
            return


class ServeWatch:
    """Serve's own view of the generation deployment (its status, its replicas by state), asked every
    SERVE_STATUS_EVERY_S by a thread of the ingress, so that /health never waits on Serve's controller."""

    def __init__(self, app_name: str, every_s: float = SERVE_STATUS_EVERY_S):
        self._last: dict | None = None
        self.app_name = app_name  # the config's name for the application, which may not be APP_NAME
        threading.Thread(target=self._ask, args=(every_s,), daemon=True, name="bark-serve-status").start()

    def current(self) -> dict | None:
        """The last answer (None before the first), and how old it is."""
        last = self._last
        return None if last is None else {**last["view"], "asked_s_ago": round(time.monotonic() - last["at"], 1)}

    def _ask(self, every_s: float) -> None:
        while True:
            try:
                deployment = serve.status().applications[self.app_name].deployments[GENERATOR]
                states = {_name(state): count for state, count in deployment.replica_states.items()}
                self._last = {"at": time.monotonic(), "view": {"status": _name(deployment.status), "replicas": states}}
            except Exception as e:  # the controller restarts, or the application is not up yet: ask again
                log.debug("Serve's status: %s", e)
            time.sleep(every_s)


def _name(value) -> str:
    return str(getattr(value, "value", value))


class RemoteEngine(Engine):
    """The ingress's engine: it plans, checks voices and reads the voice library and presets here (on
    the shared folders; it never loads a model), and sends each generation and decode to a replica of
    the generation deployment."""

    def __init__(self, settings: EngineSettings, calls: RemoteCalls, serve_watch: ServeWatch | None = None):
        # The ingress needs no accelerator: its engine object only plans and reads folders.
        super().__init__(dataclasses.replace(settings, device="cpu", dtype="auto", cuda_graphs=False))
        self.calls = calls
        self.serve_watch = serve_watch

    def status(self) -> dict:
        """The cluster's engines: Serve's count of the generation replicas, and what each replica that
        served lately said of itself (its device, models, a load under way) when it last answered."""
        replicas = self.calls.replicas()
        models = sorted({model for replica in replicas for model in replica.get("models", ())})
        devices = sorted({replica["device"] for replica in replicas if replica.get("device")})
        loading = [{"replica": r["replica"], **r["loading"]} for r in replicas if r.get("loading")]
        return {
            "device": ", ".join(devices) or None,  # None: no generation replica has answered yet
            "models_loaded": bool(models),
            "models": models,
            "loading": loading[0] if loading else None,
            "cluster": {
                "generation": self.serve_watch.current() if self.serve_watch is not None else None,
                "replicas": replicas,
            },
        }

    def generate(self, text, voice=None, options=None, progress=None, cancel=None, allow_paths=True, on_segment=None):
        options = options or GenerationOptions()
        cancel = cancel or threading.Event()
        args = (text, voice, options, allow_paths)

        def told(item) -> None:
            if isinstance(item, SegmentResult):
                if on_segment is not None:
                    on_segment(item)
            elif progress is not None:
                progress(item)

        with self.cancellable(cancel):
            return self.calls.result(
                "generate",
                cancel,
                *args,
                is_result=lambda i: isinstance(i, GenerationResult),
                on_item=told,
                kept=lambda i: isinstance(i, SegmentResult),
            )

    def generate_segments(
        self, texts, seeds, voice, options, progress=None, cancel=None, allow_paths=True, on_segment=None
    ) -> list[SegmentResult]:
        """As Engine.generate_segments, on any replica: a full line waits (a project's run is in the
        background), and a replica lost midway hands the segments it had not sent to another."""
        if len(texts) != len(seeds):
            raise ValueError("one seed per text")
        cancel = cancel or threading.Event()
        results: list[SegmentResult] = []
        losses = 0
        with self.cancellable(cancel):
            while len(results) < len(texts):
                first = len(results)
                try:
                    rest = (texts[first:], seeds[first:], voice, options, allow_paths)
                    for item in self.calls.stream("generate_segments", cancel, *rest):
                        if isinstance(item, SegmentResult):
                            results.append(dataclasses.replace(item, index=item.index + first))
                            if on_segment is not None:
                                on_segment(results[-1])
                        elif progress is not None:
                            progress(dataclasses.replace(item, segment=item.segment + first, segments=len(texts)))
                except ReplicaLost:  # Serve sends the rest to a replica that lives
                    losses = losses + 1 if len(results) == first else 1
                    if losses > 3 or cancel.is_set():
                        raise
                except Overloaded as e:  # a full line: wait, it is a background run
                    if cancel.wait(min(e.retry_after, 5)):
                        raise Cancelled("Generation cancelled.") from None
        return results

    def decode(self, fine) -> np.ndarray:
        return self.calls.result("decode", None, np.asarray(fine), is_result=lambda _: True, timed=False)  # one item


class RemoteCloner(VoiceCloner):
    """Clones on a replica of the generation deployment, into the shared voice library."""

    def __init__(self, engine: RemoteEngine):
        super().__init__(engine)
        self.calls = engine.calls

    def clone(self, audio, name, options=CloneOptions(), *, overwrite=False, source_name=None, progress=None):  # noqa: B008
        suffix = ""
        if isinstance(audio, (str, Path)):
            suffix = Path(audio).suffix.lower()[:8]
            source_name = source_name or Path(audio).name
            audio = Path(audio).read_bytes()
        args = (audio, suffix, name, options, overwrite, source_name)
        saving = []

        def told(stage_fraction: tuple[str, float]) -> None:
            if stage_fraction[0] == SAVING:
                saving.append(True)
            if progress is not None:
                progress(*stage_fraction)  # raises Cancelled when the clone was cancelled: the remote call is too

        try:  # tried again, its progress starting over, unless the replica had begun to write the voices
            return self.calls.result(
                "clone",
                None,
                *args,
                is_result=lambda i: isinstance(i, CloneResult),
                on_item=told,
                kept=lambda i: isinstance(i, tuple) and i[0] == SAVING,
                timed=False,
            )
        except ReplicaLost as e:
            if saving:
                raise ReplicaLost(
                    e.retry_after,
                    f"It was saving the voice: see whether '{name}' is in the library before cloning again.",
                ) from None
            raise


class _NoTurn:
    """The turn of ServeAdmission: always free (Serve's line decides who waits)."""

    async def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class ServeAdmission(GenerationQueue):
    """The API's admission on a cluster: every request goes on at once to the generation deployment,
    whose own limits (max_ongoing_requests, max_queued_requests) admit it or refuse it (Overloaded,
    with the Retry-After of RemoteCalls)."""

    def __init__(self, calls: RemoteCalls, workers: int = INGRESS_WORKERS):
        super().__init__(calls.max_queued)
        self.calls = calls
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bark-api")
        self._no_turn = _NoTurn()

    def admit(self) -> Ticket:
        self._admitted += 1
        return Ticket(self)

    def retry_after(self) -> int:
        return self.calls.retry_after()

    def stats(self) -> dict:
        return {"running": self._running, "waiting": 0, "max_waiting": self.max_queue, **self.calls.stats()}

    def _lock(self) -> _NoTurn:  # type: ignore[override]
        return self._no_turn


class ReplicaHeader:
    """ASGI middleware: a response whose work a generation replica did names it in X-Bark-Replica."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served: dict = {}
        token = _SERVED_BY.set(served)

        async def send_named(message) -> None:
            if message["type"] == "http.response.start" and served.get("replica"):
                headers = [*message.get("headers", []), (REPLICA_HEADER.lower().encode(), served["replica"].encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_named)
        finally:
            _SERVED_BY.reset(token)


# The ingress


@serve.deployment(name=INGRESS, num_replicas=1, max_ongoing_requests=1000)
@serve.ingress()
class ApiIngress:
    """The REST API of one machine, on a RemoteEngine. One replica: the projects' background runs live
    here (more ingress replicas would each resume them)."""

    def __init__(self, generator, settings: ClusterSettings):
        from .server import create_server
        from .studio import Studio

        calls = RemoteCalls(generator, settings.max_queue)
        engine = RemoteEngine(settings.engine, calls, ServeWatch(serve.get_replica_context().app_name))
        studio = Studio(
            engine, None, cloner=RemoteCloner(engine), allow_paths=False, projects_dir=settings.projects_dir
        )
        api_key = settings.api_key or (os.environ.get(settings.api_key_env) if settings.api_key_env else None)
        self.server = create_server(
            studio,
            api_key=api_key or None,
            login=settings.login,
            cors_origins=list(settings.cors_origins),
            local_only=settings.local_only,
            queue=ServeAdmission(calls),
        )
        self.server.add_middleware(ReplicaHeader)

    def __serve_build_asgi_app__(self):
        return self.server


def build_app(settings: ClusterSettings):
    """The Serve application: the ingress bound to the generation deployment."""
    generator = GenerationWorker.options(**settings.generator_options()).bind(settings.engine, settings.engine_class)
    return ApiIngress.bind(generator, settings)


def app_builder(args: dict) -> Any:
    """`serve run deploy/ray/serve.yaml`: the application from the config's `args` (see that file).
    The deployments section of the config overrides replicas and resources."""
    args = dict(args or {})
    engine = {name: args.pop(name) for name in [f.name for f in dataclasses.fields(EngineSettings)] if name in args}
    if args.pop("small_models", False):
        engine.update(small_text=True, small_coarse=True, small_fine=True)
    for name in ("models_dir", "prompts_dir"):
        if engine.get(name) is not None:
            engine[name] = Path(engine[name])
    if args.get("projects_dir") is not None:
        args["projects_dir"] = Path(args["projects_dir"])
    if "login" in args and args["login"] is not None:
        args["login"] = tuple(args["login"])
    if "cors_origins" in args:
        args["cors_origins"] = tuple(args["cors_origins"])
    return build_app(ClusterSettings(engine=EngineSettings(**engine), **args))


class ClusterUnreachable(BarkError):
    """Ray could not join the cluster at the address given (or start a local one)."""


def serve_cluster(settings: ClusterSettings, address: str | None, host: str, port: int) -> None:
    """Start (or join, at `address`) a Ray cluster, run the application on it at host:port, and serve
    until Ctrl-C. A new local cluster gets this checkout on its workers' path; a cluster at an address
    gets this checkout as its working_dir (its image must have the requirements)."""
    if address:
        runtime_env = {"working_dir": str(ROOT), "excludes": ["/prompts", "/outputs", "/projects", ".git"]}
    else:
        runtime_env = {"env_vars": {"PYTHONPATH": str(ROOT)}}
    try:  # "local": a new cluster, never one that `ray start` left running (or its stale address file)
        ray.init(address=address or "local", runtime_env=runtime_env)
    except (ConnectionError, ray.exceptions.AuthenticationError) as e:
        where = f"connect to the Ray cluster at {address}" if address else "start a local Ray cluster"
        check = " Check the address (`ray start --head` prints it)." if address else ""
        raise ClusterUnreachable(f"could not {where}: {e}.{check}") from e
    serve.start(http_options={"host": host, "port": port})
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped like Ctrl-C: the app is taken down
    try:
        serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough: shutting down
        if address:  # a cluster that stays: take the application down, without waiting for it
            with contextlib.suppress(Exception):
                serve.delete(APP_NAME, _blocking=False)
        ray.shutdown()  # a cluster this command started goes with it (serve.shutdown waits 30 s for its controller)

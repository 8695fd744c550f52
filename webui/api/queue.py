"""The REST API's job queue: one job runs at a time, in a worker thread; a bounded line waits.

    ticket = queue.admit()              # Overloaded (-> 503 + Retry-After) when the line is full
    await ticket.wait_turn(request)     # in arrival order; ClientGone if the client leaves meanwhile
    result = await ticket.run(fn, cancel, request)   # fn runs in the worker thread
    ticket.release()                    # idempotent: frees the turn and the place in line

The event loop never blocks on the engine, so /health and the other routes answer while a
generation runs. A client that goes away while it waits gives its place back at once; one that goes
away while its job runs cancels the job through the engine's cancel event.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")

DISCONNECT_POLL_S = 0.25
FIRST_GUESS_S = 10.0  # the Retry-After estimate before any job has finished
MAX_RETRY_AFTER_S = 600


class Overloaded(Exception):
    """The line is full; try again in `retry_after` seconds."""

    def __init__(self, retry_after: int, waiting: int):
        super().__init__(f"The server is busy: {waiting} request(s) are already waiting. Try again in {retry_after} s.")
        self.retry_after = retry_after


class ClientGone(Exception):
    """The client disconnected; its job was cancelled."""


class GenerationQueue:
    """Admits one running job and up to `max_queue` waiting ones (all calls from the event loop)."""

    def __init__(self, max_queue: int):
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 0:
            raise ValueError(f"max_queue must be a whole number, 0 or more; got {max_queue!r}")
        self.max_queue = max_queue
        self._admitted = 0
        self._running = 0
        self._turn: asyncio.Lock | None = None  # made on the server's event loop, on first use
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bark-api")
        self._durations: deque[float] = deque(maxlen=10)
        self._started: dict[Ticket, float] = {}  # the running job(s): when each started

    def stats(self) -> dict[str, int]:
        return {"running": self._running, "waiting": self._admitted - self._running, "max_waiting": self.max_queue}

    def admit(self) -> Ticket:
        if self._admitted >= self.max_queue + 1:
            raise Overloaded(self.retry_after(), self._admitted - self._running)
        self._admitted += 1
        return Ticket(self)

    def retry_after(self) -> int:
        """Seconds until the jobs admitted now have likely run: the rest of the running job, then the
        waiting ones, each at the mean of the last finished jobs' measured times (a guess before the
        first). Not the time until one place frees: a client retrying then would take the last place
        and wait behind all the others anyway, holding a connection."""
        mean = sum(self._durations) / len(self._durations) if self._durations else FIRST_GUESS_S
        waiting = self._admitted - self._running
        running_left = sum(max(0.0, mean - (time.monotonic() - t)) for t in self._started.values())
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(running_left + mean * waiting)))

    @contextlib.asynccontextmanager
    async def job(self, request: Request | None = None) -> AsyncIterator[Ticket]:
        """Admit, wait for the turn, and release at the end (for jobs that end inside one handler)."""
        ticket = self.admit()
        try:
            await ticket.wait_turn(request)
            yield ticket
        finally:
            ticket.release()

    def _lock(self) -> asyncio.Lock:
        if self._turn is None:
            self._turn = asyncio.Lock()  # asyncio.Lock serves its waiters in arrival order
        return self._turn


class Ticket:
    """One admitted request: its place in line, then its turn."""

    def __init__(self, queue: GenerationQueue):
        self._queue = queue
        self._admitted = True
        self._has_turn = False
        self._finished = False

    async def wait_turn(self, request: Request | None = None) -> None:
        """Wait for the turn; if the client disconnects meanwhile, give the place back and raise ClientGone."""
        turn = asyncio.ensure_future(self._queue._lock().acquire())
        try:
            while not (await asyncio.wait({turn}, timeout=DISCONNECT_POLL_S))[0]:
                if request is not None and await request.is_disconnected():
                    raise ClientGone("the client disconnected while it waited")
        except BaseException:  # ClientGone, or this task was cancelled
            if turn.done() and not turn.cancelled():  # the turn came just then: pass it on
                self._queue._lock().release()
            turn.cancel()
            self.release()
            raise
        self._take_turn()

    def _take_turn(self) -> None:
        self._has_turn = True
        self._queue._running += 1
        self._queue._started[self] = time.monotonic()

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Start fn(*args) in the worker thread (only with the turn), in a copy of the caller's context
        (so that what the job records in a context variable, like the replica that served it, reaches
        the request's middleware)."""
        if not self._has_turn:
            raise RuntimeError("submit() before wait_turn()")
        context = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(self._queue._executor, context.run, fn, *args)

    async def run(self, fn: Callable[[], T], cancel: threading.Event, request: Request | None = None) -> T:
        """fn() in the worker thread; cancel is set if the client disconnects or this task is cancelled."""
        future = self.submit(fn)
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=DISCONNECT_POLL_S)
                if done:
                    result = future.result()
                    self.finished()
                    return result
                if request is not None and await request.is_disconnected():
                    cancel.set()
                    with contextlib.suppress(Exception):
                        await future
                    raise ClientGone("the client disconnected; its generation was cancelled")
        except asyncio.CancelledError:
            cancel.set()
            raise

    def finished(self) -> None:
        """The job ran to its end: its time counts towards the estimates (a failed or cancelled one's does not)."""
        self._finished = True

    def release(self) -> None:
        queue = self._queue
        if self._has_turn:
            self._has_turn = False
            queue._running -= 1
            took = time.monotonic() - queue._started.pop(self)
            if self._finished:
                queue._durations.append(took)
            queue._lock().release()
        if self._admitted:
            self._admitted = False
            queue._admitted -= 1

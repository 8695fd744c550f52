"""Streaming a generation segment by segment: the engine's on_segment hook -> HTTP chunks.

The handler starts the job and waits for the first segment (so that a bad voice or a missing
model file still gets a proper error status); the response then sends each segment's audio as
soon as the engine has decoded it. Closing the response early (the client went away) sets the
generation's cancel event, which stops the engine within one step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from core.constants import SAMPLE_RATE
from core.engine import GenerationResult, SegmentResult
from core.errors import Cancelled
from core.options import GenerationOptions

from .audio import StreamJoin, change_tempo, pcm16, wav_stream_header
from .queue import DISCONNECT_POLL_S, ClientGone, Ticket

log = logging.getLogger(__name__)
_END = object()
OnSegment = Callable[[SegmentResult], None]


class SegmentStream:
    """One streamed job: its ticket, its cancel event, and its segments as they arrive."""

    def __init__(self, ticket: Ticket, cancel: threading.Event):
        self.ticket = ticket
        self.cancel = cancel
        self._items: asyncio.Queue[Any] = asyncio.Queue()
        self._future: asyncio.Future[GenerationResult] | None = None
        self._first: Any = _END
        self._finished = False

    async def start(self, job: Callable[[OnSegment], GenerationResult], request: Request) -> None:
        """Wait for the turn, start job(on_segment) in the worker, and wait for its first segment.

        Raises the job's error if it fails before its first segment."""
        await self.ticket.wait_turn(request)
        loop = asyncio.get_running_loop()

        def on_segment(segment: SegmentResult) -> None:  # called in the worker thread
            loop.call_soon_threadsafe(self._items.put_nowait, segment)

        def on_done(future: asyncio.Future) -> None:  # after every segment
            if not future.cancelled():
                future.exception()  # seen here, so an abandoned stream's Cancelled is not logged as unseen
            self._items.put_nowait(_END)

        self._future = self.ticket.submit(job, on_segment)
        self._future.add_done_callback(on_done)
        self._first = await self._next(request)
        if self._first is _END:
            self._future.result()

    async def segments(self) -> AsyncIterator[SegmentResult]:
        """The segments in order; raises the job's error at the end (the response is then cut short),
        except a cancel's: the client left, or the server is stopping, and the stream just ends."""
        item = self._first
        while item is not _END:
            yield item
            item = await self._items.get()
        try:
            self._future.result()
        except Cancelled:
            log.warning("a stream ended early: its generation was cancelled")
            return
        self._finished = True
        self.ticket.finished()

    def close(self) -> None:
        """Cancel the job unless it finished; give back the ticket (idempotent)."""
        if not self._finished:
            self.cancel.set()
        self.ticket.release()

    async def _next(self, request: Request) -> Any:
        """The next item; if the client goes away meanwhile, cancel and raise ClientGone."""
        getter = asyncio.ensure_future(self._items.get())
        try:
            while True:
                done, _ = await asyncio.wait({getter}, timeout=DISCONNECT_POLL_S)
                if done:
                    return getter.result()
                if await request.is_disconnected():
                    self.cancel.set()
                    raise ClientGone("the client disconnected; its generation was cancelled")
        finally:
            getter.cancel()


async def audio_chunks(
    segments: AsyncIterator[SegmentResult], fmt: str, options: GenerationOptions, speed: float
) -> AsyncIterator[bytes]:
    """16-bit PCM of each segment as it arrives (a wav header first for "wav"), joined with the
    options' silence and crossfade exactly as the engine joins them, at the asked tempo."""
    if fmt == "wav":
        yield wav_stream_header(SAMPLE_RATE)
    join = StreamJoin(SAMPLE_RATE, options.silence_s, options.crossfade_s)
    async for segment in segments:  # joining and the tempo change run in a worker thread, off the event loop
        yield await run_in_threadpool(lambda audio=segment.audio: _pcm_at(join.add(audio), speed))
    rest = join.finish()
    if len(rest):
        yield await run_in_threadpool(_pcm_at, rest, speed)


def _pcm_at(audio, speed: float) -> bytes:
    return pcm16(change_tempo(audio, speed) if speed != 1.0 else audio)


class StreamResponse(StreamingResponse):
    """A StreamingResponse that calls `on_close` however it ends: done, failed or abandoned."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None], **kwargs: Any):
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()

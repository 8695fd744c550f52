"""What one browser tab keeps between events (held in a gr.State, so every tab has its own)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from .studio import Job


class Clips:
    """The finished segments of a generation for the page's player, one after another: without ffmpeg the
    player cannot stream, and a new clip would cut off the one playing. The generation offers each
    clip; the player's end of a clip asks for the next."""

    def __init__(self) -> None:
        self._waiting: deque[Any] = deque()
        self._playing = False
        self._lock = threading.Lock()

    def offer(self, clip: Any) -> Any | None:
        """The clip to play now, or None when one plays (it waits its turn)."""
        with self._lock:
            if self._playing:
                self._waiting.append(clip)
                return None
            self._playing = True
            return clip

    def ended(self) -> Any | None:
        """The player reached the end of its clip: the next one, or None (the next offer plays at once)."""
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            self._playing = False
            return None

    def clear(self) -> None:
        with self._lock:
            self._waiting.clear()
            self._playing = False


class Session:
    """The cancel switch of this tab's generation and the last generation it made.

    A generation is `requested` when its button is pressed (before it waits in the queue), so
    Cancel works while it waits as well as while it runs.
    """

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.active = False
        self.last_entry: str | None = None  # history id of the last generation, for "Save as voice"
        self.last_seed: int | None = None  # its seed, for the Seed box when Random is unticked
        self.made: str | None = None  # history id of what the generation requested last made (None so far)
        self.in_page = False  # requested by the page's Generate (not an API call): errors go to its status
        self.confirmed: str | None = None  # the long text the user said yes to (asked once per text)
        self.job: Job | None = None  # the generation the page requested last, as its progress line shows it
        self.clips: Clips | None = None  # its segments for the page's player, when they play one at a time

    def __deepcopy__(self, memo: dict) -> Session:
        # Gradio deep-copies a State's initial value for each new tab: give each a fresh session
        # (an Event cannot be copied, and must not be shared).
        return Session()

    def request(self, in_page: bool = False, job: Job | None = None, one_clip_at_a_time: bool = False) -> None:
        """A generation is asked for: by the page (`in_page`, its `job` for the progress line, and its
        segments played `one_clip_at_a_time` when the player cannot stream) or by an API call."""
        self.cancel = threading.Event()  # a new one: a cancelled run still ending keeps its own, set
        self.active = True
        self.made = None
        self.in_page = in_page
        self.job = job
        self.clips = Clips() if one_clip_at_a_time else None

    def start(self) -> None:
        """The generation runs now (API callers start here without a request)."""
        if not self.active:
            self.request()

    def stop(self) -> bool:
        """Cancel the requested or running generation; False (and nothing happens) when there is none."""
        if self.active:
            self.cancel.set()
        return self.active

    def finish(self) -> None:
        self.active = False


class Sessions:
    """The sessions of the open tabs that have generated, by Gradio's session hash, so that closing a
    tab (Gradio's unload event) cancels its generation at once: a generation whose page is gone would
    hold the engine for every other tab."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.Lock()

    def track(self, session_hash: str | None, session: Session) -> None:
        if session_hash:
            with self._lock:
                self._by_hash[session_hash] = session

    def close(self, session_hash: str | None) -> None:
        """The tab is gone: cancel what it runs or waits for, and forget it."""
        with self._lock:
            session = self._by_hash.pop(session_hash or "", None)
        if session is not None:
            session.stop()

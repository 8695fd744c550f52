"""What one browser tab keeps between events (held in a gr.State, so every tab has its own)."""

from __future__ import annotations

import threading

from .studio import Job


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

    def __deepcopy__(self, memo: dict) -> Session:
        # Gradio deep-copies a State's initial value for each new tab: give each a fresh session
        # (an Event cannot be copied, and must not be shared).
        return Session()

    def request(self, in_page: bool = False, job: Job | None = None) -> None:
        self.cancel = threading.Event()  # a new one: a cancelled run still ending keeps its own, set
        self.active = True
        self.made = None
        self.in_page = in_page
        self.job = job

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

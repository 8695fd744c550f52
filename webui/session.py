"""What one browser tab keeps between events (held in a gr.State, so every tab has its own)."""

from __future__ import annotations

import threading


class Session:
    """The cancel switch of this tab's generation and the last generation it made.

    A generation is `requested` when its button is pressed (before it waits in the queue), so
    Cancel works while it waits as well as while it runs.
    """

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.active = False
        self.last_entry: str | None = None  # history id of the last generation, for "Save as voice"

    def __deepcopy__(self, memo: dict) -> Session:
        # Gradio deep-copies a State's initial value for each new tab: give each a fresh session
        # (an Event cannot be copied, and must not be shared).
        return Session()

    def request(self) -> None:
        self.cancel.clear()
        self.active = True

    def start(self) -> None:
        """The generation runs now (API callers start here without a request)."""
        if not self.active:
            self.request()

    def stop(self) -> None:
        """Cancel the requested or running generation; nothing happens when there is none."""
        if self.active:
            self.cancel.set()

    def finish(self) -> None:
        self.active = False

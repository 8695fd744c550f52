"""What an engine is loading right now: a model being read, or one of its files being downloaded.

A long first wait (minutes of downloads, seconds of reading) should be visible wherever someone waits:
the CLI's progress, the web UI's status, the API's /health. The model cache and the locator report
into one `LoadingWatch` per engine; anyone may ask for `current` or `listen` while they wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Loading:
    what: str  # "the text model", "the tokenizer", "the codec", "a voice preset"
    file: str | None = None  # repo/path of the file being downloaded, if one is
    done_bytes: int = 0
    total_bytes: int | None = None

    @property
    def fraction(self) -> float | None:
        """How much of the download is done (None: no download, or its size is unknown)."""
        return self.done_bytes / self.total_bytes if self.file and self.total_bytes else None

    def message(self) -> str:
        """'Loading the text model' or 'Downloading suno/bark/text_2.pt for the text model: 1.2 of 5.4 GB (22%)'."""
        if self.file is None:
            return f"Loading {self.what}"
        size = (
            f"{_gb(self.done_bytes)} of {_gb(self.total_bytes)} GB"
            if self.total_bytes
            else _gb(self.done_bytes) + " GB"
        )
        percent = f" ({self.fraction:.0%})" if self.fraction is not None else ""
        return f"Downloading {self.file} for {self.what}: {size}{percent}"

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "message": self.message()}


Listener = Callable[[Loading], None]


class LoadingWatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Loading | None = None
        self._listeners: list[Listener] = []

    @property
    def current(self) -> Loading | None:
        return self._current

    @contextlib.contextmanager
    def loading(self, what: str) -> Iterator[None]:
        """Around the load of one model (or file set): `what` is reported as loading until it is done."""
        self._set(Loading(what))
        try:
            yield
        finally:
            with self._lock:
                self._current = None

    def fetched(self, file: str, done_bytes: int, total_bytes: int | None) -> None:
        """A download's progress (from the locator), counted against what is loading."""
        what = self._current.what if self._current is not None else "a model file"
        self._set(Loading(what, file, done_bytes, total_bytes))

    @contextlib.contextmanager
    def listen(self, listener: Listener) -> Iterator[None]:
        """Call `listener` with every change while the block runs (from the loading thread)."""
        with self._lock:
            self._listeners.append(listener)
        try:
            yield
        finally:
            with self._lock:
                self._listeners.remove(listener)

    def _set(self, loading: Loading) -> None:
        with self._lock:
            self._current = loading
            listeners = list(self._listeners)
        for listener in listeners:
            listener(loading)


def _gb(n: int | None) -> str:
    return f"{(n or 0) / 1e9:.1f}"

"""Reading model files safely: torch files with `weights_only=True` always, errors that say what went wrong."""

from __future__ import annotations

import contextlib
import pickle
import re
import zipfile
from pathlib import Path

import torch

from .errors import ModelFileError, UnsafeCheckpointError

# torch's unpickler words for "this file asks to import or call something": a hostile file, not a damaged one.
_UNSAFE = re.compile(r"global|blocked|reduce for|can only (build|create)", re.IGNORECASE)


def safe_torch_load(path: Path, what: str, safe_globals: list | tuple = (), mmap: bool = False) -> object:
    """torch.load(path, weights_only=True) with only `safe_globals` added to torch's allow-list.

    UnsafeCheckpointError when the file asks for anything else; ModelFileError when it is damaged.
    With `mmap` the tensors stay in the file's pages (zip-format files; older ones are read whole).
    """
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            if mmap:
                try:
                    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as e:
                    if "mmap" not in str(e):
                        raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _unpickler_reason(e)
        if _UNSAFE.search(reason):
            raise UnsafeCheckpointError(
                f"Refusing to load {path}: {reason}. A {what} never needs that, and it could run code; "
                "use the file from its official repo."
            ) from e
        raise ModelFileError(f"{path} is damaged or not a {what} ({reason}); download it again") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, TypeError) as e:
        raise ModelFileError(f"{path} is damaged or not a {what} ({first_line(e)}); download it again") from e


def _unpickler_reason(error: Exception) -> str:
    """The line of torch's long weights_only message that says what the file asked for."""
    boilerplate = ("Weights only load failed", "Check the documentation")
    for line in str(error).splitlines():
        line = line.split("WeightsUnpickler error:")[-1].strip()
        if line and not line.startswith(boilerplate):
            return line.rstrip(".")
    return first_line(error)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@contextlib.contextmanager
def quiet_transformers():
    """No "Loading weights" bar from transformers: a local file loads in a moment, and --quiet must hold."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()

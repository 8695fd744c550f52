"""Reading torch files safely: `weights_only=True` always, and errors that say what went wrong."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from core.errors import ModelFileError, UnsafeCheckpointError

# torch's unpickler words for "this file asks to import or call something": a hostile file, not a damaged one.
_UNSAFE = re.compile(r"global|blocked|reduce for|can only (build|create)", re.IGNORECASE)


def safe_torch_load(path: Path, what: str, safe_globals: list | tuple = ()) -> object:
    """torch.load(path, weights_only=True) with only `safe_globals` added to torch's allow-list.

    UnsafeCheckpointError when the file asks for anything else; ModelFileError when it is damaged.
    """
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
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

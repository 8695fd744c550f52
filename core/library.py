"""The user's voice library: a folder of voice prompts, each `NAME.npz` with a `NAME.json` sidecar.

The sidecar holds metadata (when and how the voice was made: created, source, text, settings,
seed, language, ...). A voice exists when its .npz exists; a missing or broken sidecar only
loses metadata. Every write is atomic (temporary file + rename), the .npz before the .json.
"""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.errors import InputError, VoiceError
from core.fileio import atomic_write_bytes, atomic_write_text
from core.voice import VoicePrompt

DEFAULT_LIBRARY_DIR = "prompts"
MAX_NAME_LENGTH = 80
# File names are limited to 255 bytes on most file systems; leave room for ".npz" and the
# temporary-file decoration of atomic writes (".NAME.npz.XXXXXXXX.tmp").
MAX_NAME_BYTES = 200
VOICE_SUFFIX = ".npz"
SIDECAR_SUFFIX = ".json"

_ALLOWED_PUNCTUATION = frozenset(" -_.()',+&")
_ALLOWED_HINT = "use letters, digits, spaces and - _ . ( ) ' , + &"
_WINDOWS_RESERVED = frozenset(["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)])


def sanitize_voice_name(name: str) -> str:
    """Return the canonical voice name (stripped, NFC, no ".npz"), or raise InputError saying why.

    An accepted name is a single safe file-name component on Linux, macOS and Windows, so
    `root / f"{name}.npz"` always stays inside `root`.
    """
    if not isinstance(name, str):
        raise InputError(f"a voice name must be text, got {type(name).__name__}")
    name = unicodedata.normalize("NFC", name.strip())
    while name.lower().endswith(VOICE_SUFFIX):  # "x.npz.npz" -> "x", so the result is canonical
        name = name[: -len(VOICE_SUFFIX)]
    if not name:
        raise InputError(f"the voice name is empty; {_ALLOWED_HINT}")
    if len(name) > MAX_NAME_LENGTH or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InputError(
            f"the voice name is too long ({len(name)} characters); "
            f"use at most {MAX_NAME_LENGTH} characters ({MAX_NAME_BYTES} bytes as UTF-8)"
        )
    _check_characters(name)
    if name[-1] in ". ":
        raise InputError(f"the voice name {name!r} must not end with a dot or a space")
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        raise InputError(
            f"{name!r} is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9); choose another name"
        )
    return name


def _check_characters(name: str) -> None:
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InputError(f"the voice name {name!r} contains control or invisible characters; {_ALLOWED_HINT}")
    if "/" in name or "\\" in name:
        raise InputError(f"the voice name {name!r} must not contain / or \\ (it is a name, not a path)")
    if ".." in name:
        raise InputError(f"the voice name {name!r} must not contain '..'")
    if name.startswith("."):
        raise InputError(f"the voice name {name!r} must not start with a dot")
    bad = sorted({c for c in name if not _allowed_char(c)})
    if bad:
        raise InputError(f"the voice name {name!r} contains {', '.join(map(repr, bad))}; {_ALLOWED_HINT}")


def _allowed_char(c: str) -> bool:
    # Letters and combining marks of any script (Hindi, Korean, ... need the marks), decimal digits.
    category = unicodedata.category(c)
    return category[0] in "LM" or category == "Nd" or c in _ALLOWED_PUNCTUATION


@dataclass(frozen=True)
class VoiceInfo:
    """A voice in the library: its name, its .npz and its sidecar metadata ({} when none)."""

    name: str
    path: Path
    metadata: dict = field(default_factory=dict)

    @property
    def created(self) -> str | None:
        return self._text("created")

    @property
    def language(self) -> str | None:
        return self._text("language")

    @property
    def source(self) -> str | None:
        return self._text("source")

    def _text(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None


class VoiceLibrary:
    """A folder of voices. The folder is created by the first save, not before.

    Writes (save, rename, delete, imports) hold a lock, so threads sharing one library object
    cannot interleave them; reads need no lock because every write is an atomic rename.
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_LIBRARY_DIR):
        self.root = Path(root).expanduser()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VoiceLibrary({str(self.root)!r})"

    # Reading

    def list(self) -> list[VoiceInfo]:
        """Every voice, sorted by name (case-insensitive). Temporary and badly named files are skipped."""
        if not self.root.is_dir():
            return []
        voices = []
        for path in self.root.iterdir():
            name = _voice_name_of(path)
            if name is not None:
                voices.append(VoiceInfo(name, path, self._read_metadata(name)))
        return sorted(voices, key=lambda v: (v.name.casefold(), v.name))

    def exists(self, name: str) -> bool:
        """True when a voice of that name is saved. Raises InputError for a name that is not allowed."""
        return self._npz(sanitize_voice_name(name)).is_file()

    def info(self, name: str) -> VoiceInfo:
        name = sanitize_voice_name(name)
        path = self._npz(name)
        if not path.is_file():
            raise VoiceError(f"no voice named {name!r} in {self.root}")
        return VoiceInfo(name, path, self._read_metadata(name))

    def get(self, name: str) -> VoicePrompt:
        return VoicePrompt.load(self.info(name).path)

    # Writing

    def save(
        self,
        name: str,
        prompt: VoicePrompt,
        metadata: dict | None = None,
        *,
        overwrite: bool = False,
    ) -> VoiceInfo:
        """Save a prompt and its metadata; "created" (UTC, ISO 8601) is added when absent."""
        name = sanitize_voice_name(name)
        if not isinstance(prompt, VoicePrompt):
            raise InputError(f"expected a VoicePrompt to save as {name!r}, got {type(prompt).__name__}")
        if metadata is not None and not isinstance(metadata, dict):
            raise InputError(f"the metadata of voice {name!r} must be a dict, got {type(metadata).__name__}")
        metadata = dict(metadata or {})
        metadata.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        sidecar = _to_json(metadata, name)
        data = prompt.to_bytes()
        with self._lock:
            self._check_free(name, overwrite)
            atomic_write_bytes(self._npz(name), data)
            atomic_write_text(self._sidecar(name), sidecar)
        return VoiceInfo(name, self._npz(name), json.loads(sidecar))

    def rename(self, old: str, new: str, *, overwrite: bool = False) -> VoiceInfo:
        old, new = sanitize_voice_name(old), sanitize_voice_name(new)
        with self._lock:
            source = self.info(old).path
            target = self._npz(new)
            if old == new:
                return self.info(new)
            if not _same_file(source, target):  # a case-only rename on a case-insensitive disk is fine
                self._check_free(new, overwrite)
            os.replace(source, target)
            if self._sidecar(old).is_file():
                os.replace(self._sidecar(old), self._sidecar(new))
            else:  # don't let the new name inherit the overwritten voice's metadata
                self._sidecar(new).unlink(missing_ok=True)
            return self.info(new)

    def delete(self, name: str) -> None:
        name = sanitize_voice_name(name)
        with self._lock:
            path = self.info(name).path
            path.unlink()
            self._sidecar(name).unlink(missing_ok=True)

    def import_file(self, path: str | os.PathLike, name: str | None = None, *, overwrite: bool = False) -> VoiceInfo:
        """Validate a prompt .npz and save it into the library (as int64, extra keys dropped).

        The name defaults to the file's stem.
        """
        path = Path(path)
        if name is None:
            try:
                name = sanitize_voice_name(path.stem)
            except InputError as e:
                raise InputError(f"{e}; the file name {path.name!r} cannot be used, give a name") from e
        prompt = VoicePrompt.load(path)
        return self.save(name, prompt, {"source": "import", "imported_from": path.name}, overwrite=overwrite)

    def import_bytes(self, data: bytes, name: str, *, overwrite: bool = False, source: str = "upload") -> VoiceInfo:
        """Validate the bytes of a prompt .npz (an upload) and save them under `name`."""
        name = sanitize_voice_name(name)
        prompt = VoicePrompt.from_bytes(data, source=f"{source} {name!r}")
        return self.save(name, prompt, {"source": source}, overwrite=overwrite)

    def export(self, name: str, dest: str | os.PathLike) -> Path:
        """Copy a voice's .npz to `dest` (a file path, or a directory to put NAME.npz in), atomically."""
        info = self.info(name)
        dest = Path(dest).expanduser()
        if dest.is_dir():
            dest = dest / info.path.name
        atomic_write_bytes(dest, info.path.read_bytes())
        return dest

    # Helpers

    def _npz(self, name: str) -> Path:
        path = self.root / f"{name}{VOICE_SUFFIX}"
        if path.parent != self.root or path.name != f"{name}{VOICE_SUFFIX}":  # belt and braces
            raise InputError(f"the voice name {name!r} is not a plain file name")
        return path

    def _sidecar(self, name: str) -> Path:
        return self._npz(name).with_suffix(SIDECAR_SUFFIX)

    def _check_free(self, name: str, overwrite: bool) -> None:
        if not overwrite and self._npz(name).exists():
            raise InputError(
                f"a voice named {name!r} already exists in {self.root}; pick another name or allow overwriting"
            )

    def _read_metadata(self, name: str) -> dict:
        """The sidecar as a dict; {} when it is missing or unreadable (the voice stays usable)."""
        try:
            metadata = json.loads(self._sidecar(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return metadata if isinstance(metadata, dict) else {}


def _voice_name_of(path: Path) -> str | None:
    """The voice name of a library file, or None for anything that is not a well-named voice."""
    if not path.name.endswith(VOICE_SUFFIX) or not path.is_file():
        return None
    stem = path.name[: -len(VOICE_SUFFIX)]
    try:
        name = sanitize_voice_name(stem)
    except InputError:
        return None
    # macOS may list names decomposed (NFD); compare in the canonical form.
    return name if name == unicodedata.normalize("NFC", stem) else None


def _to_json(metadata: dict, name: str) -> str:
    try:
        text = json.dumps(metadata, default=_json_default, allow_nan=False, ensure_ascii=False, indent=2)
        text.encode("utf-8")  # fail here, before anything is written, on lone surrogates
        return text
    except (TypeError, ValueError) as e:
        raise InputError(
            f"the metadata of voice {name!r} cannot be saved as JSON ({e}); "
            "use text, numbers, booleans, lists and dicts"
        ) from e


def _json_default(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

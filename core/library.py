"""The user's voice library: a folder of voice prompts, each `NAME.npz` with a `NAME.json` sidecar.

The sidecar holds metadata (when and how the voice was made: created, source, text, settings,
seed, language, ...). A voice exists when its .npz exists; a missing or broken sidecar only
loses metadata (a bare .npz dropped into the folder is a voice).

Every write (save, several voices at once, rename, delete, imports) is one `FileSet`: the voices
appear (or go) whole or not at all, whenever the process dies. Opening a library finishes or
throws away what a crashed writer left (`recover`); until then a reader does not list it.
"""

from __future__ import annotations

import json
import os
import threading
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.errors import InputError, NameTakenError, VoiceError
from core.fileio import FileSet, atomic_write_bytes, is_atomic_temp, is_staging, pending_names
from core.fileio import recover as recover_sets
from core.voice import VoicePrompt

DEFAULT_LIBRARY_DIR = "prompts"
MAX_NAME_LENGTH = 80
# File names are limited to 255 bytes on most file systems; leave room for ".npz" and the
# temporary-file decoration of atomic writes (".NAME.npz.XXXXXXXX.tmp").
MAX_NAME_BYTES = 200
MAX_LOOK_ALIKES = 9  # "name (2)" ... "name (9)" for files renamed to their NFKC name on open
VOICE_SUFFIX = ".npz"
SIDECAR_SUFFIX = ".json"

_ALLOWED_PUNCTUATION = frozenset(" -_.()',+&")
_ALLOWED_HINT = "use letters, digits, spaces and - _ . ( ) ' , + &"
_WINDOWS_RESERVED = frozenset(["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)])


def sanitize_voice_name(name: str) -> str:
    """Return the canonical voice name (NFKC, stripped, no ".npz"), or raise InputError saying why.

    NFKC makes look-alikes one name ("\ufb01le" with the fi ligature, full-width "ｆｉｌｅ" and
    "file"). An accepted name is a single safe file-name component on Linux, macOS and Windows, so
    `root / f"{name}.npz"` always stays inside `root`.
    """
    if not isinstance(name, str):
        raise InputError(f"a voice name must be text, got {type(name).__name__}")
    name = unicodedata.normalize("NFKC", name).strip()
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

    Writes hold a lock, so threads sharing one library object cannot interleave them; each write
    is one FileSet, so readers (other threads, other processes) need no lock. Opening a library
    finishes what a crashed writer left (`recover`).
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_LIBRARY_DIR):
        self.root = Path(root).expanduser()
        self._lock = threading.Lock()
        self.recover()

    def __repr__(self) -> str:
        return f"VoiceLibrary({str(self.root)!r})"

    # Reading

    def list(self) -> list[VoiceInfo]:
        """Every voice, sorted by name (case-insensitive). Temporary, unfinished and badly named files are skipped."""
        names = self._listing()
        hidden = pending_names(self.root, names)
        voices = []
        for file_name in names:
            name = _voice_name_of(file_name)
            path = self.root / file_name
            if name is not None and not self._is_hidden(name, hidden) and path.is_file():
                voices.append(VoiceInfo(name, path, self._read_metadata(name)))
        return sorted(voices, key=lambda v: (v.name.casefold(), v.name))

    def exists(self, name: str) -> bool:
        """True when a voice of that name is saved. Raises InputError for a name that is not allowed."""
        return self._is_visible(sanitize_voice_name(name))

    def info(self, name: str) -> VoiceInfo:
        name = sanitize_voice_name(name)
        if not self._is_visible(name):
            raise VoiceError(f"no voice named {name!r} in your voice library")
        return VoiceInfo(name, self._npz(name), self._read_metadata(name))

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
        return self.save_many([(name, prompt, metadata)], overwrite=overwrite)[0]

    def save_many(
        self, voices: Sequence[tuple[str, VoicePrompt, dict | None]], *, overwrite: bool = False
    ) -> list[VoiceInfo]:
        """Save (name, prompt, metadata) voices as one set: all of them, or (whatever happens) none.

        Everything is checked before the first write: InputError for a bad or taken name (unless
        overwriting is allowed) or metadata that is not JSON. A failed write leaves the library as it was.
        """
        staged = [_staged_voice(name, prompt, metadata) for name, prompt, metadata in voices]
        names = [name for name, _, _ in staged]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"the voice name {twice[0]!r} is given twice; give each voice its own name")
        with self._lock:
            recover_sets(self.root)  # a crashed writer's set first, so that it cannot land on ours later
            for name in names:
                self._check_free(name, overwrite)
            with FileSet(self.root) as files:
                for name, data, sidecar in staged:
                    files.write(self._npz(name).name, data)
                    files.write(self._sidecar(name).name, sidecar.encode("utf-8"))
        return [VoiceInfo(name, self._npz(name), json.loads(sidecar)) for name, _, sidecar in staged]

    def rename(self, old: str, new: str, *, overwrite: bool = False) -> VoiceInfo:
        old, new = sanitize_voice_name(old), sanitize_voice_name(new)
        with self._lock:
            recover_sets(self.root)
            source = self.info(old).path
            target = self._npz(new)
            if old == new:
                return self.info(new)
            if _same_file(source, target):  # a case-only rename on a case-insensitive disk: one file,
                os.replace(source, target)  # and both names reach it meanwhile, so no set is needed
                if self._sidecar(old).is_file():
                    os.replace(self._sidecar(old), self._sidecar(new))
                return self.info(new)
            self._check_free(new, overwrite)
            with FileSet(self.root) as files:
                files.write(target.name, source.read_bytes())
                try:
                    files.write(self._sidecar(new).name, self._sidecar(old).read_bytes())
                except FileNotFoundError:  # don't let the new name inherit the overwritten voice's metadata
                    files.remove(self._sidecar(new).name)
                files.remove(source.name)
                files.remove(self._sidecar(old).name)
            return self.info(new)

    def delete(self, name: str) -> None:
        name = sanitize_voice_name(name)
        with self._lock:
            recover_sets(self.root)
            path = self.info(name).path
            with FileSet(self.root) as files:
                files.remove(path.name)
                files.remove(self._sidecar(name).name)

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

    # Recovery

    def recover(self) -> None:
        """Tidy up after crashed writers; run on open. Idempotent; one listing when there is nothing to do.

        Sets a writer left half published are finished (or thrown away when never complete);
        temporary files of atomic writes and sidecars of ours without their voice are removed; a
        voice whose file name is not in NFKC form is renamed to it ("name (2)" when that is taken).
        A failure here (say, a read-only folder) is a warning: what is left stays out of the list.
        """
        with self._lock:
            try:
                self._recover()
            except OSError as e:
                warnings.warn(f"could not tidy up the voice library {self.root}: {e}", RuntimeWarning, stacklevel=3)

    def _recover(self) -> None:
        names = self._listing()
        busy = recover_sets(self.root, names)  # the names that live writers (other processes) are touching
        if any(is_staging(n) for n in names):
            names = self._listing()
        for file_name in names:
            if is_atomic_temp(file_name):
                (self.root / file_name).unlink(missing_ok=True)
            elif file_name.endswith(VOICE_SUFFIX) and file_name not in busy:
                self._migrate_look_alike(file_name[: -len(VOICE_SUFFIX)], busy)
        for file_name in names:
            if file_name.endswith(SIDECAR_SUFFIX) and file_name not in busy:
                self._remove_orphan_sidecar(file_name[: -len(SIDECAR_SUFFIX)])

    def _migrate_look_alike(self, stem: str, busy: set[str]) -> None:
        """Rename STEM.npz (+ .json) to the NFKC form of STEM, or "name (2)" ... when that is taken."""
        try:
            canonical = sanitize_voice_name(stem)
        except InputError:
            return  # not a voice name in any form: never listed
        if canonical == unicodedata.normalize("NFC", stem):
            return  # canonical already (macOS may list it decomposed)
        for n in range(1, MAX_LOOK_ALIKES + 1):
            try:
                name = sanitize_voice_name(canonical if n == 1 else f"{canonical} ({n})")
            except InputError:
                return
            npz, sidecar = self._npz(name), self._sidecar(name)
            if not (npz.exists() or npz.name in busy or sidecar.name in busy):
                break
        else:
            return
        with FileSet(self.root) as files:
            files.write(npz.name, (self.root / f"{stem}{VOICE_SUFFIX}").read_bytes())
            try:
                files.write(sidecar.name, (self.root / f"{stem}{SIDECAR_SUFFIX}").read_bytes())
            except FileNotFoundError:
                files.remove(sidecar.name)
            files.remove(f"{stem}{VOICE_SUFFIX}")
            files.remove(f"{stem}{SIDECAR_SUFFIX}")

    def _remove_orphan_sidecar(self, stem: str) -> None:
        """Remove STEM.json when it is a sidecar of ours and STEM.npz is gone (an old crash's leftover)."""
        if _voice_name_of(f"{stem}{VOICE_SUFFIX}") is None or (self.root / f"{stem}{VOICE_SUFFIX}").exists():
            return
        if _is_our_sidecar(self.root / f"{stem}{SIDECAR_SUFFIX}"):
            (self.root / f"{stem}{SIDECAR_SUFFIX}").unlink(missing_ok=True)

    # Helpers

    def _npz(self, name: str) -> Path:
        path = self.root / f"{name}{VOICE_SUFFIX}"
        if path.parent != self.root or path.name != f"{name}{VOICE_SUFFIX}":  # belt and braces
            raise InputError(f"the voice name {name!r} is not a plain file name")
        return path

    def _sidecar(self, name: str) -> Path:
        return self._npz(name).with_suffix(SIDECAR_SUFFIX)

    def _listing(self) -> list[str]:
        try:
            return os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _is_hidden(self, name: str, hidden: set[str]) -> bool:
        """True while an unfinished set (a live writer's, or a crashed one's) touches the voice."""
        return self._npz(name).name in hidden or self._sidecar(name).name in hidden

    def _is_visible(self, name: str) -> bool:
        if not self._npz(name).is_file():
            return False
        return not self._is_hidden(name, pending_names(self.root, self._listing()))

    def _check_free(self, name: str, overwrite: bool) -> None:
        if not overwrite and self._npz(name).exists():  # the file, even while a set is publishing it
            raise NameTakenError(
                f"a voice named {name!r} already exists in your voice library; pick another name or allow overwriting"
            )

    def _read_metadata(self, name: str) -> dict:
        """The sidecar as a dict; {} when it is missing or unreadable (the voice stays usable)."""
        try:
            metadata = json.loads(self._sidecar(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return metadata if isinstance(metadata, dict) else {}


def _staged_voice(name: str, prompt: VoicePrompt, metadata: dict | None) -> tuple[str, bytes, str]:
    """(canonical name, .npz bytes, sidecar JSON) of a voice to save; InputError for bad input."""
    name = sanitize_voice_name(name)
    if not isinstance(prompt, VoicePrompt):
        raise InputError(f"expected a VoicePrompt to save as {name!r}, got {type(prompt).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError(f"the metadata of voice {name!r} must be a dict, got {type(metadata).__name__}")
    metadata = dict(metadata or {})
    metadata.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return name, prompt.to_bytes(), _to_json(metadata, name)


def _voice_name_of(file_name: str) -> str | None:
    """The voice name of a library file name, or None for anything that is not a well-named voice."""
    if not file_name.endswith(VOICE_SUFFIX):
        return None
    stem = file_name[: -len(VOICE_SUFFIX)]
    try:
        name = sanitize_voice_name(stem)
    except InputError:
        return None
    # macOS may list names decomposed (NFD); compare in the canonical form. A look-alike (not
    # NFKC) is renamed on open; until then it is not listed, as its name reaches another file.
    return name if name == unicodedata.normalize("NFC", stem) else None


def _is_our_sidecar(path: Path) -> bool:
    """True for a JSON object with a "created" text, which every sidecar saved here has."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metadata, dict) and isinstance(metadata.get("created"), str)


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

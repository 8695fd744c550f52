"""Crash-safe writes: one file (`atomic_writer`) or a set of files that belong together (`FileSet`).

A reader never sees a half-written file, and never a half-published set: whenever the process
dies, what it left is either finished or thrown away by `recover` (run when a folder is opened).

A set is written into a hidden staging folder inside the target folder, then a manifest listing
the steps (put this file, remove that one) is written last. Publishing replays the steps in order:
renames and unlinks in one folder, so nothing is copied. `recover` rolls a set with a manifest
forward and throws away one without. A staging folder's writer holds a lock on its `.lock` file
(flock on POSIX; on Windows an open file cannot be removed), so a second live process never
touches a set that is still being written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

STAGING_PREFIX = ".staging-"  # a set being written: FOLDER/.staging-XXXXXXXX/
_LOCK = ".lock"
_MANIFEST = ".manifest"  # the steps to publish; present means complete (it is written last, atomically)
_CLAIMS = ".claims"  # a folder: one empty file per name reserved in the target folder, linked to it
_PUT, _REMOVE = "put", "remove"
_TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path` in one rename.

    On any exception the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path, "wb") as f:
        f.write(data)


def is_atomic_temp(name: str) -> bool:
    """True for the temporary file of an `atomic_writer` (".NAME.XXXXXXXX.tmp") left by a crash."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX) and name.count(".") >= 3


def is_staging(name: str) -> bool:
    return name.startswith(STAGING_PREFIX)


class FileSet:
    """Files of one folder that belong together, published all at once or not at all.

        with FileSet(folder) as files:
            files.write("x.npz", data)
            files.write("x.json", sidecar)
            files.remove("old.npz")
        # leaving the block normally publishes, in this order; an exception throws the set away

    Names are plain file names in `folder`. Nothing in `folder` changes before the block ends,
    except names reserved with `claim`.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._steps: list[tuple[str, str]] = []
        self._staging: Path | None = None
        self._lock: _Lock | None = None

    def __enter__(self) -> FileSet:
        self._staging, self._lock = _new_staging(self.folder)
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self._commit()
        else:
            self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):  # what is left, `recover` throws away
            _drop_claims(self.folder, self._staging)
            _remove_staging(self._staging, self._lock)
        self._lock.release(remove=False)

    def write(self, name: str, data: bytes) -> None:
        """Stage `data` to become `folder/name` (replacing what is there) when the set is published."""
        name = _plain(name)
        if any(step == (_PUT, name) for step in self._steps):
            raise ValueError(f"{name!r} is written twice in one set")
        with open(self._staging / name, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self._steps.append((_PUT, name))

    def remove(self, name: str) -> None:
        """Remove `folder/name` (when it exists) when the set is published."""
        self._steps.append((_REMOVE, _plain(name)))

    def claim(self, name: str) -> bool:
        """Reserve `folder/name` now with an empty file, unless it exists (False). A set that is
        thrown away removes its claims; one that is published replaces or removes them.

        The placeholder is made in the staging folder first and then hard-linked into `folder`
        (which fails if the name exists), so whenever the process dies, `recover` knows every
        placeholder it made, and it removes only a file that is that very placeholder."""
        name = _plain(name)
        placeholder = self._staging / _CLAIMS / name
        placeholder.parent.mkdir(exist_ok=True)
        placeholder.touch()
        try:
            os.link(placeholder, self.folder / name)
        except FileExistsError:
            placeholder.unlink()
            return False
        except OSError:  # a file system without hard links (FAT): an exclusive create instead
            try:
                (self.folder / name).open("x").close()
            except FileExistsError:
                placeholder.unlink()
                return False
        return True

    def _commit(self) -> None:
        written = {name for _, name in self._steps}
        steps = self._steps + [(_REMOVE, name) for name in _read_claims(self._staging) if name not in written]
        try:
            tmp = self._staging / f"{_MANIFEST}{_TEMP_SUFFIX}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"steps": steps}, f)
                f.flush()
                os.fsync(f.fileno())
            _fsync_folder(self._staging)  # the staged files are there before the manifest says so
            os.replace(tmp, self._staging / _MANIFEST)
            _fsync_folder(self._staging)
        except BaseException:
            self._discard()
            raise
        try:
            _apply(self.folder, self._staging, steps)
        except BaseException:  # published in part: the next `recover` finishes it
            self._lock.release(remove=False)
            raise
        with contextlib.suppress(OSError):  # published: a staging folder left here, `recover` throws away
            _remove_staging(self._staging, self._lock)
        self._lock.release(remove=False)


def recover(folder: str | os.PathLike, names: Iterable[str] | None = None) -> set[str]:
    """Finish the sets that dead writers left in `folder`: published when their manifest is
    complete, thrown away when not. `names`: a listing of `folder` already made (saves one).

    Returns the names that sets of live writers will put or remove (leave those alone).
    Idempotent; a folder with no staging folder costs one listing.
    """
    folder = Path(folder)
    if names is None:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return set()
    busy = set()
    for name in names:
        if is_staging(name):
            busy |= _finish(folder, folder / name)
    return busy


def pending_names(folder: str | os.PathLike, names: Iterable[str]) -> set[str]:
    """The names that unfinished sets in `folder` (of live or dead writers) are publishing or
    removing: a reader hides them, as they may be half done. `names`: a listing of `folder`."""
    pending = set()
    for name in names:
        if is_staging(name):
            for _, target in _read_manifest(Path(folder) / name) or ():
                pending.add(target)
    return pending


# Staging folders


class _Lock:
    """The `.lock` file of a staging folder, held open (and flocked on POSIX) while its owner lives."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd  # fd is None once released

    @classmethod
    def take(cls, staging: Path, wait: bool) -> _Lock | None:
        """The lock (waiting for it, or not), or None when a live process holds it or the folder is gone."""
        path = staging / _LOCK
        try:
            if fcntl is None and not wait:
                path.unlink(missing_ok=True)  # Windows: PermissionError while its writer has it open
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # another recovery removed the folder
            return None
        except PermissionError:
            if wait or fcntl is not None:
                raise
            return None
        if fcntl is None:
            return cls(path, fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            if os.path.samestat(os.fstat(fd), os.stat(path)):  # still the folder's lock file
                return cls(path, fd)
        except OSError:  # held by a live process (BlockingIOError), or removed meanwhile
            pass
        os.close(fd)
        return None

    def release(self, remove: bool = True) -> None:
        """Unlock (once; later calls do nothing); `remove`: also remove the file (POSIX: while still holding it)."""
        if self.fd is None:
            return
        if remove and fcntl is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = None
        if remove and fcntl is None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _new_staging(folder: Path) -> tuple[Path, _Lock]:
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(10):
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
        lock = _Lock.take(staging, wait=True)
        if lock is not None:
            return staging, lock
        # a recovery in another process took the folder before we locked it: start again
    raise OSError(f"could not start writing files in {folder}: its staging folders keep vanishing")


def _finish(folder: Path, staging: Path) -> set[str]:
    """Roll forward or throw away a dead writer's staging folder; the names a live one touches."""
    lock = _Lock.take(staging, wait=False)
    if lock is None:
        return {target for _, target in _read_manifest(staging) or ()}
    steps = _read_manifest(staging)
    if steps is None:
        _drop_claims(folder, staging)
    else:
        _apply(folder, staging, steps)
    _remove_staging(staging, lock)
    return set()


def _apply(folder: Path, staging: Path, steps: list[tuple[str, str]]) -> None:
    """Replay the steps; a put whose staged file is gone was done by an earlier (crashed) try."""
    for step, name in steps:
        if step == _PUT:
            with contextlib.suppress(FileNotFoundError):
                os.replace(staging / name, folder / name)
        else:
            (folder / name).unlink(missing_ok=True)
    _fsync_folder(folder)


def _remove_staging(staging: Path, lock: _Lock) -> None:
    """The manifest first (from then on there is nothing to roll forward), the lock last."""
    (staging / _MANIFEST).unlink(missing_ok=True)
    for path in staging.iterdir():
        if path.name != _LOCK:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    lock.release()
    with contextlib.suppress(OSError):  # Windows: a process still opening the lock
        staging.rmdir()


def _read_manifest(staging: Path) -> list[tuple[str, str]] | None:
    """The steps of a complete manifest; None when there is none (or it is not ours)."""
    try:
        steps = json.loads((staging / _MANIFEST).read_text(encoding="utf-8"))["steps"]
        steps = [(step, _plain(name)) for step, name in steps if step in (_PUT, _REMOVE)]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return steps


def _read_claims(staging: Path) -> list[str]:
    try:
        names = os.listdir(staging / _CLAIMS)
    except OSError:
        return []
    return [name for name in names if _is_plain(name)]


def _drop_claims(folder: Path, staging: Path) -> None:
    """Remove the placeholders a thrown-away set reserved: the files that are its own placeholder
    (without hard links: an empty file of that name)."""
    for name in _read_claims(staging):
        target, placeholder = folder / name, staging / _CLAIMS / name
        with contextlib.suppress(OSError):
            stat = target.stat()
            if os.path.samefile(target, placeholder) or (stat.st_nlink == 1 and stat.st_size == 0):
                target.unlink()


def _plain(name: str) -> str:
    if not _is_plain(name):
        raise ValueError(f"{name!r} is not a plain file name")
    return name


def _is_plain(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and Path(name).name == name
    )


def _fsync_folder(folder: Path) -> None:
    """Make renames in `folder` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

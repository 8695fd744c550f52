"""Saving several voices as one transaction: all or nothing.

Everything is checked before the first write (names, free slots); if a write fails, every file
this call wrote is removed and every voice it overwrote is put back as it was. Files this call did
not write (say, a voice another user saved a moment ago) are never touched.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.fileio import atomic_write_bytes
from core.library import SIDECAR_SUFFIX, VOICE_SUFFIX, VoiceInfo, VoiceLibrary, sanitize_voice_name
from core.voice import VoicePrompt


@dataclass(frozen=True, eq=False)
class PendingVoice:
    name: str
    prompt: VoicePrompt
    metadata: dict


def variant_names(name: str, count: int) -> list[str]:
    """`name`, `name-2`, ... `name-<count>`, each a valid voice name (InputError otherwise)."""
    base = sanitize_voice_name(name)
    names = [base] + [f"{base}-{i}" for i in range(2, count + 1)]
    try:
        return [sanitize_voice_name(n) for n in names]
    except InputError as e:
        raise InputError(f"{e} (the name of variant {len(names)}); use a shorter name or fewer variants") from e


def check_free(library: VoiceLibrary, names: list[str], overwrite: bool) -> None:
    """InputError naming the first voice that is taken, unless overwriting is allowed."""
    if overwrite:
        return
    taken = [n for n in names if library.exists(n)]
    if taken:
        listed = ", ".join(repr(n) for n in taken)
        raise InputError(
            f"the voice library ({library.root}) already has {listed}; choose another name or allow overwriting "
            "(--overwrite)"
        )


def save_all(library: VoiceLibrary, voices: list[PendingVoice], overwrite: bool) -> list[VoiceInfo]:
    """Save every voice, or none: on any failure the library is left as it was found."""
    check_free(library, [v.name for v in voices], overwrite)
    snapshots = {v.name: {path: _read_or_none(path) for path in _files(library, v.name)} for v in voices}
    saved, touched = [], []
    try:
        for voice in voices:
            touched.append(voice.name)
            saved.append(library.save(voice.name, voice.prompt, voice.metadata, overwrite=overwrite))
    except BaseException as e:
        if isinstance(e, InputError):  # library.save refuses before its first write: that voice is untouched
            touched.pop()
        for name in touched:
            _restore(snapshots[name])
        raise
    return saved


def _files(library: VoiceLibrary, name: str) -> tuple[Path, Path]:
    npz = library.root / f"{name}{VOICE_SUFFIX}"
    return npz, npz.with_suffix(SIDECAR_SUFFIX)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _restore(snapshots: dict[Path, bytes | None]) -> None:
    for path, data in snapshots.items():
        with contextlib.suppress(OSError):
            if data is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_bytes(path, data)

"""Saving several voices as one set: all or nothing.

Everything is checked before the first write (names, free slots). The voices are then one
`VoiceLibrary.save_many`: a failed write, or the process dying at any moment, leaves the library
as it was found (voices it would have overwritten included), or with every voice saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InputError, NameTakenError
from core.library import VoiceInfo, VoiceLibrary, sanitize_voice_name
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
    """InputError naming the voices that are taken, unless overwriting is allowed."""
    if overwrite:
        return
    taken = [n for n in names if library.exists(n)]
    if taken:
        listed = ", ".join(repr(n) for n in taken)
        raise NameTakenError(f"your voice library already has {listed}; choose another name or allow overwriting")


def save_all(library: VoiceLibrary, voices: list[PendingVoice], overwrite: bool) -> list[VoiceInfo]:
    """Save every voice, or none: on any failure the library is left as it was found."""
    check_free(library, [v.name for v in voices], overwrite)
    return library.save_many([(v.name, v.prompt, v.metadata) for v in voices], overwrite=overwrite)

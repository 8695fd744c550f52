"""What a generation leaves on disk, shared by the command line and the web app.

Each output is `<timestamp>_<slug of the text>.<format>` in the output directory with a `.json`
beside it (the text, the voice, every setting and the seed: enough to generate it again) and,
when asked for, a `.npz` holding the generation's own voice prompt. The output directory is
also the history: `list_outputs` reads it back, newest first.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .audio import write_audio
from .engine import Engine, GenerationResult
from .errors import BarkError, InputError
from .fileio import atomic_write_text
from .options import GenerationOptions
from .textsplit import Segment
from .voice import VoicePrompt

MAX_SLUG_CHARS = 48
CHARS_PER_SECOND = 14  # Bark speaks about this many characters a second (dry-run estimates)
VOICE_SUFFIX = ".npz"
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


# Dry runs


def estimate_seconds(segment: Segment) -> float:
    """About how long Bark takes to say a segment, in seconds."""
    return len(segment.clean) / CHARS_PER_SECOND


# Naming and writing


def slugify(text: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    """A file-name-safe summary of text: lower-case ASCII words joined by '-', at most max_chars."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = words[0][:max_chars] if words else "audio"
    for word in words[1:]:  # whole words only
        if len(slug) + 1 + len(word) > max_chars:
            break
        slug = f"{slug}-{word}"
    return slug


def reserve_output(directory: Path, stem: str, fmt: str) -> tuple[Path, Path]:
    """(audio, json) paths that did not exist, created empty so no other run takes them."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        name = stem if n == 1 else f"{stem}-{n}"
        audio, sidecar = directory / f"{name}.{fmt}", directory / f"{name}.json"
        try:
            audio.open("x").close()
        except FileExistsError:
            continue
        try:
            sidecar.open("x").close()
        except FileExistsError:
            audio.unlink()
            continue
        return audio, sidecar
    raise BarkError(f"could not find a free file name for {stem} in {directory}")


def output_record(result: GenerationResult, engine: Engine, fmt: str, audio: Path) -> dict:
    """The JSON saved beside an output: the generation's settings plus the file and model settings."""
    record = result.settings()
    settings = dataclasses.replace(engine.settings, models_dir=engine.locator.models_dir)
    record["engine"] = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()}
    record["runtime"] = {"device": str(engine.device), "dtype": str(engine.dtype).removeprefix("torch.")}
    record.update(
        audio_file=audio.name,
        format=fmt,
        sample_rate=result.sample_rate,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return record


def write_outputs(
    result: GenerationResult,
    engine: Engine,
    directory: Path,
    fmt: str,
    *,
    save_voice: bool = False,
    extra: dict | None = None,
) -> tuple[Path, Path, dict]:
    """Write the audio and its JSON under a fresh name; returns (audio path, JSON path, the record).

    save_voice: also write the generation's voice prompt as `<name>.npz` (when it has one).
    extra: more keys for the JSON (e.g. where the voice came from).
    """
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}_{slugify(result.text)}"
    audio, sidecar = reserve_output(directory, stem, fmt)
    record = {**output_record(result, engine, fmt, audio), **(extra or {})}
    voice = audio.with_suffix(VOICE_SUFFIX) if save_voice and result.voice is not None else None
    try:
        write_audio(audio, result.audio, result.sample_rate, fmt)
        if voice is not None:
            result.voice.save(voice)
            record["voice_file"] = voice.name
        atomic_write_text(sidecar, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    except BaseException:
        for path in (audio, sidecar):  # drop the placeholders that were never written
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        if voice is not None:
            voice.unlink(missing_ok=True)
        raise
    return audio, sidecar, record


# Reading the history back


@dataclass(frozen=True)
class OutputEntry:
    """One past generation in the output directory."""

    id: str  # the file stem, e.g. "20250101-120000_hello-world"
    audio: Path
    sidecar: Path
    voice: Path | None  # the generation's voice prompt, when it was saved
    record: dict

    @property
    def text(self) -> str:
        return str(self.record.get("text", ""))

    @property
    def created(self) -> str:
        return str(self.record.get("created", ""))

    @property
    def seed(self) -> int | None:
        seed = self.record.get("seed")
        return seed if isinstance(seed, int) else None

    @property
    def voice_name(self) -> str | None:
        voice = self.record.get("voice")
        return voice if isinstance(voice, str) else None

    @property
    def duration_s(self) -> float | None:
        duration = self.record.get("duration_s")
        return float(duration) if isinstance(duration, int | float) else None

    def options(self) -> GenerationOptions:
        """The generation's options (with its seed); InputError when the JSON holds none that fit."""
        options = self.record.get("options")
        if not isinstance(options, dict):
            raise InputError(f"the settings of {self.id!r} hold no generation options")
        return GenerationOptions.from_dict(options)

    def voice_prompt(self) -> VoicePrompt:
        if self.voice is None:
            raise InputError(f"the voice of {self.id!r} was not saved; generate it again to keep its voice")
        return VoicePrompt.load(self.voice)


def list_outputs(directory: Path) -> list[OutputEntry]:
    """Every complete output in `directory`, newest first. Unreadable or half-written ones are skipped."""
    if not directory.is_dir():
        return []
    entries = [_read_entry(directory, path) for path in directory.glob("*.json")]
    return sorted((e for e in entries if e is not None), key=lambda e: (e.created, e.id), reverse=True)


def get_output(directory: Path, entry_id: str) -> OutputEntry:
    """The output named `entry_id` (a file stem, never a path); InputError when there is none."""
    if not isinstance(entry_id, str) or not _ENTRY_ID.match(entry_id) or ".." in entry_id:
        raise InputError(f"{entry_id!r} is not the name of an output")
    entry = _read_entry(directory, directory / f"{entry_id}.json")
    if entry is None:
        raise InputError(f"no output named {entry_id!r} in {directory}; it may have been deleted")
    return entry


def delete_output(directory: Path, entry_id: str) -> None:
    """Delete an output's audio, voice and JSON (the JSON last, so a failure leaves it listed)."""
    entry = get_output(directory, entry_id)
    entry.audio.unlink(missing_ok=True)
    if entry.voice is not None:
        entry.voice.unlink(missing_ok=True)
    entry.sidecar.unlink(missing_ok=True)


def _read_entry(directory: Path, sidecar: Path) -> OutputEntry | None:
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    audio = _sibling(directory, record.get("audio_file"))
    if audio is None or audio.stem != sidecar.stem:
        return None
    voice = _sibling(directory, record.get("voice_file"))
    return OutputEntry(sidecar.stem, audio, sidecar, voice, record)


def _sibling(directory: Path, name: object) -> Path | None:
    """directory/name when name is a plain file name of an existing file there, else None."""
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        return None
    path = directory / name
    return path if path.is_file() else None

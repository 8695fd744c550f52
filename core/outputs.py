"""What a generation leaves on disk, shared by the command line and the web app.

Each output is `<timestamp>_<slug of the text>.<format>` in the output directory with a `.json`
beside it (the text, the voice, every setting and the seed: enough to generate it again) and,
when asked for, a `.npz` holding the generation's own voice prompt. The output directory is
also the history: `list_outputs` reads it back, newest first.

An output's files are one `FileSet`, the .json published last: they appear (and go) whole or not
at all, whenever the process dies; what a crashed run left is finished or thrown away by
`recover_outputs` (which every write runs first), and never listed meanwhile.
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

from .audio import encode_audio
from .constants import CHARS_PER_SECOND
from .engine import Engine, GenerationResult
from .errors import BarkError, InputError
from .fileio import FileSet, recover
from .options import GenerationOptions
from .textsplit import Segment
from .voice import VoicePrompt

MAX_SLUG_CHARS = 48
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


def reserve_output(files: FileSet, stem: str, fmt: str) -> tuple[str, str]:
    """(audio, json) names that did not exist in `files.folder`, claimed so that no other run takes them."""
    for n in range(1, 10_000):
        name = stem if n == 1 else f"{stem}-{n}"
        audio, sidecar = f"{name}.{fmt}", f"{name}.json"
        # the json first: it names the output. A claim left unused is removed when the set is published.
        if files.claim(sidecar) and files.claim(audio):
            return audio, sidecar
    raise BarkError(f"could not find a free file name for {stem} in the outputs folder")


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
    encoded = encode_audio(result.audio, result.sample_rate, fmt)  # a bad format fails before any write
    recover_outputs(directory)
    with FileSet(directory) as files:
        audio, sidecar = (directory / name for name in reserve_output(files, stem, fmt))
        record = {**output_record(result, engine, fmt, audio), **(extra or {})}
        files.write(audio.name, encoded)
        if save_voice and result.voice is not None:
            record["voice_file"] = audio.with_suffix(VOICE_SUFFIX).name
            files.write(record["voice_file"], result.voice.to_bytes())
        files.write(sidecar.name, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return audio, sidecar, record


def recover_outputs(directory: Path) -> None:
    """Finish, or throw away, the outputs that crashed runs left half written (see core.fileio)."""
    recover(directory)


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
        raise InputError(f"no output named {entry_id!r} in the outputs folder; it may have been deleted")
    return entry


def delete_output(directory: Path, entry_id: str) -> None:
    """Delete an output's JSON, audio and voice, as one set (the JSON first: it is gone from the history)."""
    entry = get_output(directory, entry_id)
    with FileSet(directory) as files:
        for path in (entry.sidecar, entry.audio, entry.voice):
            if path is not None:
                files.remove(path.name)


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

"""A project's folder: its text and settings, its segments and each segment's takes.

    FOLDER/project.json          name, text, settings, the segments' order, whether a run is wanted
    FOLDER/seg-<id>.json         a segment: text, speaker, voice, section, seed, takes, the chosen take
    FOLDER/seg-<id>-<n>.wav/.npz take n: its audio (16-bit, 24 kHz) and its tokens (a voice prompt)
    FOLDER/exports/              what export_project wrote

Every change is one FileSet (core.fileio): a take's audio, tokens and its segment's record appear
together or not at all, whenever the process dies; opening a project finishes or throws away what a
killed writer left. Audio stays on disk: a project in memory is its JSON only.

Writes re-read what they change under a lock (a thread lock, and flock across processes on POSIX), so
a tab, the REST API and a run working on one project do not undo each other's changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import encode_audio
from ..constants import SAMPLE_RATE
from ..engine import SegmentResult, clean_text, voice_name
from ..errors import BarkError, InputError
from ..fileio import FileSet, recover
from ..options import MAX_SEED, GenerationOptions
from ..outputs import slugify
from ..qc import Flag
from ..script import DIALOGUE_MODES, parse_script
from ..textsplit import split_text
from ..voice import COARSE_KEY, FINE_KEY, SEMANTIC_KEY, VoicePrompt

try:
    import fcntl
except ImportError:  # Windows: the thread lock only
    fcntl = None

PROJECT_FILE = "project.json"
FORMAT_VERSION = 1
EXPORTS = "exports"
MAX_SEGMENTS = 5000  # about ten hours of audio
MAX_TAKES = 50  # of one segment
MAX_BEST_OF = 10
_WRITE_LOCK, _RUN_LOCK = ".write.lock", ".run.lock"
_DELETED = ".deleted-"
_SEGMENT_ID = re.compile(r"^[0-9a-f]{8}$")
_PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
WRITE_WAIT_S = 30.0  # the longest a write waits for another writer (a stopped process may hold the lock)
STALE_S = 3600.0  # what a killed export, delete or create left is swept once this old
_locks: dict[tuple[Path, str], object] = {}
MAX_CACHED_SEGMENTS = 50_000
_read_segments: dict[Path, tuple[tuple[int, int, int], ProjectSegment]] = {}  # Project._read_segment's
_locks_guard = threading.Lock()

PENDING, DONE, EDITED, BROKEN = "pending", "done", "edited", "not continuous"
STATUSES = (PENDING, DONE, EDITED, BROKEN)


class ProjectBusy(BarkError):
    """Another run (in this process or another) is generating this project."""


@dataclass(frozen=True)
class ProjectSettings:
    """What a project generates with. `voice`: lines without a speaker (and plain text); `speakers`:
    speaker -> voice for a script (names compared without case); options.seed: the project's seed
    (random when None at creation), from which every take's seed is derived; best_of: takes a flagged
    segment gets at most, automatically (1: none)."""

    voice: str | None = None
    speakers: Mapping[str, str | None] = field(default_factory=dict)
    options: GenerationOptions = field(default_factory=GenerationOptions)
    dialogue: str = "auto"
    best_of: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.speakers, Mapping) or not all(isinstance(k, str) for k in self.speakers):
            raise InputError("speakers must map speaker names to voices", "speakers")
        # "none" and "random" are no voice, as None is: the first take of a speaker becomes its voice
        object.__setattr__(self, "voice", _voice_name(self.voice))
        object.__setattr__(self, "speakers", {k: _voice_name(v) for k, v in self.speakers.items()})
        if self.dialogue not in DIALOGUE_MODES:
            raise InputError(f"dialogue must be one of {', '.join(DIALOGUE_MODES)}; got {self.dialogue!r}", "dialogue")
        if isinstance(self.best_of, bool) or not isinstance(self.best_of, int) or not 1 <= self.best_of <= MAX_BEST_OF:
            raise InputError(f"best_of must be a whole number from 1 to {MAX_BEST_OF}, got {self.best_of!r}", "best_of")
        if not isinstance(self.name, str) or len(self.name) > 200:
            raise InputError("the project name must be text of at most 200 characters", "name")

    def speaker_voice(self, speaker: str) -> tuple[bool, str | None]:
        """(whether the map names this speaker, its voice)."""
        for name, voice in self.speakers.items():
            if name.casefold() == speaker.casefold():
                return True, voice
        return False, None

    def to_dict(self) -> dict:
        return {
            "voice": self.voice,
            "speakers": dict(self.speakers),
            "options": self.options.to_dict(),
            "dialogue": self.dialogue,
            "best_of": self.best_of,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ProjectSettings:
        return cls(
            voice=data.get("voice"),
            speakers=data.get("speakers") or {},
            options=GenerationOptions.from_dict(dict(data.get("options") or {})),
            dialogue=data.get("dialogue", "auto"),
            best_of=data.get("best_of", 1),
            name=data.get("name", ""),
        )


@dataclass(frozen=True)
class Take:
    """One generation of a segment, kept on disk."""

    number: int  # 1, 2, ... within its segment
    seed: int
    text: str  # what it says (a segment edited later keeps its takes)
    voice: str | None  # the voice it was made in
    after: str | None  # the take it continued from ("<segment id>/<n>"); None: from its voice alone
    samples: int  # of audio at 24 kHz
    semantic_tokens: int
    usable: bool  # its tokens make a voice prompt (a take with too little speech is not continued from)
    flags: tuple[Flag, ...]  # what the quality checks found (core.qc)
    created: str
    compute_s: float

    @property
    def duration_s(self) -> float:
        return self.samples / SAMPLE_RATE

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["flags"] = [{"code": f.code, "message": f.message} for f in self.flags]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Take:
        flags = tuple(Flag(str(f["code"]), str(f["message"])) for f in data.get("flags", ()))
        return cls(**{**data, "flags": flags})


@dataclass(frozen=True)
class ProjectSegment:
    id: str
    text: str
    speaker: str | None  # of a dialogue script
    voice: str | None  # a voice of its own, instead of its speaker's (None: its speaker's)
    section: str | None  # starts a section (a chapter) with this title
    seed: int  # of its first take
    takes: tuple[Take, ...] = ()
    chosen: int | None = None  # the number of the take kept
    picked: bool = False  # chosen by the user (best-of never changes it)

    def take(self, number: int) -> Take:
        for take in self.takes:
            if take.number == number:
                return take
        raise InputError(f"segment {self.id} has no take {number}; it has {len(self.takes)}", "take")

    @property
    def chosen_take(self) -> Take | None:
        return self.take(self.chosen) if self.chosen is not None else None

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["takes"] = [t.to_dict() for t in self.takes]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ProjectSegment:
        takes = tuple(Take.from_dict(t) for t in data.get("takes", ()))
        return cls(**{**data, "takes": takes})


@dataclass(frozen=True)
class SegmentState:
    """A segment as review shows it: its place, the voice it speaks in, and where it stands."""

    index: int
    segment: ProjectSegment
    voice: str | None
    status: str  # pending | done | edited (text or voice changed since its take) | not continuous
    after: str | None  # the take it would continue from now (continuity), None: from its voice
    ready: bool  # what it continues from exists (a take before it in continuous mode may be pending)

    @property
    def flags(self) -> tuple[Flag, ...]:
        take = self.segment.chosen_take
        return take.flags if take is not None else ()


def take_ref(segment_id: str, number: int) -> str:
    return f"{segment_id}/{number}"


def derived_seed(seed: int, segment_id: str, number: int) -> int:
    """The seed of take `number` of a segment: fixed by the project's seed, so re-rolls are reproducible."""
    digest = hashlib.blake2b(f"{seed}/{segment_id}/{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (MAX_SEED + 1)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_id() -> str:
    return secrets.token_hex(4)


class Project:
    """One project folder. Read methods use what was last loaded (`reload` reads the folder again);
    write methods re-read what they change first."""

    def __init__(self, folder: Path, record: dict, segments: dict[str, ProjectSegment]):
        self.folder = folder
        self._record = record
        self._segments = segments
        self._parsed: tuple[dict, ProjectSettings] | None = None  # (the record's settings, parsed)

    # Opening

    @classmethod
    def create(cls, folder: str | os.PathLike, text: str, settings: ProjectSettings) -> Project:
        """A new project in `folder` (made if needed; it must hold no project): its text split into
        segments (a script into its speakers' lines). Nothing is generated yet."""
        folder = Path(folder)
        if (folder / PROJECT_FILE).exists():
            raise InputError(f"{folder.name} already holds a project: open it, or choose another folder")
        text = clean_text(text)
        options = settings.options
        if options.seed is None:
            options = options.replace(seed=secrets.randbelow(MAX_SEED + 1))
            settings = replace(settings, options=options)
        segments = plan_segments(text, settings)
        record = {
            "version": FORMAT_VERSION,
            "name": settings.name or slugify(text).replace("-", " "),
            "created": _now(),
            "text": text,
            "settings": settings.to_dict(),
            "order": [s.id for s in segments],
            "wanted": False,
        }
        folder.mkdir(parents=True, exist_ok=True)
        project = cls(folder, record, {s.id: s for s in segments})
        with project._writing(), FileSet(folder) as files:
            for segment in segments:
                files.write(_segment_file(segment.id), _json(segment.to_dict()))
            files.write(PROJECT_FILE, _json(record))  # last: the folder is a project once this is there
        return project

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Project:
        folder = Path(folder)
        if not (folder / PROJECT_FILE).is_file():
            recover(folder)
            if not (folder / PROJECT_FILE).is_file():
                raise InputError(f"{folder.name} holds no project: create one there first")
        project = cls(folder, {}, {})
        project.reload()
        return project

    def reload(self) -> None:
        """Read the whole project again (under the write lock: never half of another writer's change)."""
        with self._writing():
            self._reload()

    def _reload(self) -> None:
        recover(self.folder)
        record = _read_json(self.folder / PROJECT_FILE, self.folder.name)
        try:
            order = [str(i) for i in record["order"]]
            ProjectSettings.from_dict(record["settings"])
        except (KeyError, TypeError, ValueError) as e:
            raise _damaged(self.folder, f"its project.json is incomplete ({e})") from None
        self._record = record
        self._segments = {i: self._read_segment(i) for i in order}

    def _read_segment(self, segment_id: str) -> ProjectSegment:
        """A segment's file, parsed; a file that has not changed since it was last read (the same inode,
        time and size: every write replaces the file) is not read again (a page polls its project)."""
        if not _SEGMENT_ID.match(segment_id):
            raise _damaged(self.folder, f"it names a segment {segment_id!r}")
        path = self.folder / _segment_file(segment_id)
        try:
            stat = path.stat()
        except OSError:
            stat = None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size) if stat is not None else None
        cached = _read_segments.get(path)
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        data = _read_json(path, self.folder.name)
        try:
            segment = ProjectSegment.from_dict(data)
        except (KeyError, TypeError, ValueError) as e:
            raise _damaged(self.folder, f"segment {segment_id} is unreadable ({e})") from None
        if key is not None:
            if len(_read_segments) >= MAX_CACHED_SEGMENTS:
                _read_segments.clear()
            _read_segments[path] = (key, segment)
        return segment

    # Reading

    @property
    def name(self) -> str:
        return str(self._record.get("name", self.folder.name))

    @property
    def text(self) -> str:
        return str(self._record.get("text", ""))

    @property
    def created(self) -> str:
        return str(self._record.get("created", ""))

    @property
    def settings(self) -> ProjectSettings:
        """Parsed once per version of project.json (every segment's voice and state reads it)."""
        record = self._record["settings"]
        if self._parsed is None or self._parsed[0] is not record:
            self._parsed = (record, ProjectSettings.from_dict(record))
        return self._parsed[1]

    @property
    def seed(self) -> int:
        return int(self.settings.options.seed)

    @property
    def wanted(self) -> bool:
        """A run was asked for and has not finished (a server restarted meanwhile resumes it)."""
        return bool(self._record.get("wanted"))

    def segments(self) -> list[ProjectSegment]:
        return [self._segments[i] for i in self._record["order"]]

    def segment(self, segment_id: str) -> ProjectSegment:
        segment = self._segments.get(segment_id) if isinstance(segment_id, str) else None
        if segment is None:
            raise InputError(f"this project has no segment {segment_id!r}; it may have been deleted", "segment")
        return segment

    def index_of(self, segment_id: str) -> int:
        self.segment(segment_id)
        return self._record["order"].index(segment_id)

    def voice_of(self, segment: ProjectSegment, settings: ProjectSettings | None = None) -> str | None:
        """The voice a segment speaks in: its own, else its speaker's, else the project's."""
        if segment.voice is not None:
            return _voice_name(segment.voice)
        settings = settings or self.settings
        if segment.speaker is not None:
            return settings.speaker_voice(segment.speaker)[1]
        return settings.voice

    def speakers(self) -> list[str]:
        seen: dict[str, str] = {}
        for segment in self.segments():
            if segment.speaker is not None:
                seen.setdefault(segment.speaker.casefold(), segment.speaker)
        return list(seen.values())

    def unknown_speakers(self) -> list[str]:
        """Speakers of the script that the speaker map gives no voice (listed before anything is generated)."""
        settings = self.settings
        return [s for s in self.speakers() if not settings.speaker_voice(s)[0]]

    def states(self) -> list[SegmentState]:
        """Every segment's state, in order, with the continuity rule of the project's options applied to the
        chosen takes as they are now (one pass)."""
        settings = self.settings
        tracks: dict[tuple, list[tuple[str, bool, Take | None]]] = {}
        states = []
        for index, segment in enumerate(self.segments()):
            voice = self.voice_of(segment, settings)
            key = ((segment.speaker or "").casefold(), voice)
            track = tracks.setdefault(key, [])
            ready, after = _continues_from(track, voice, settings.options)
            states.append(SegmentState(index, segment, voice, _status(segment, voice, after), after, ready))
            take = segment.chosen_take
            track.append((segment.id, take is None, take))
        return states

    def take_audio(self, segment_id: str, number: int) -> Path:
        """The take's audio file (wav)."""
        self.segment(segment_id).take(number)
        return self.folder / _take_file(segment_id, number, "wav")

    def read_take_audio(self, segment_id: str, number: int) -> np.ndarray:
        audio, _ = sf.read(self.take_audio(segment_id, number), dtype="float32")
        return audio

    def take_prompt(self, ref: str) -> VoicePrompt:
        """The take `ref` ("<segment id>/<n>") as a voice prompt, for the segment that continues from it."""
        segment_id, _, number = ref.partition("/")
        self.segment(segment_id).take(int(number))
        return VoicePrompt.load(self.folder / _take_file(segment_id, int(number), "npz"))

    # Writing

    def add_take(
        self,
        segment_id: str,
        result: SegmentResult,
        after: str | None,
        flags: tuple[Flag, ...],
        compute_s: float,
        voice: str | None,
        keep_pick: bool = False,
    ) -> Take | None:
        """Keep a generated take (audio, tokens, record as one set), made in `voice` from what `after`
        names, as the chosen take; keep_pick: not when the user picked a take meanwhile. None when the
        segment was deleted meanwhile (the take is dropped)."""
        with self._writing():
            self.refresh()
            if segment_id not in self._segments:
                return None
            segment = self._fresh(segment_id)
            if len(segment.takes) >= MAX_TAKES:
                raise InputError(f"segment {segment_id} has {MAX_TAKES} takes, the most one may have: delete some")
            number = max((t.number for t in segment.takes), default=0) + 1
            take = Take(
                number=number,
                seed=result.seed,
                text=result.text,
                voice=voice,
                after=after,
                samples=len(result.audio),
                semantic_tokens=len(result.semantic),
                usable=result.voice is not None,
                flags=flags,
                created=_now(),
                compute_s=round(compute_s, 3),
            )
            kept = {} if keep_pick and segment.picked else {"chosen": number, "picked": False}
            segment = replace(segment, takes=(*segment.takes, take), **kept)
            with FileSet(self.folder) as files:
                files.write(_take_file(segment_id, number, "wav"), encode_audio(result.audio, SAMPLE_RATE, "wav"))
                files.write(_take_file(segment_id, number, "npz"), _tokens(result))
                files.write(_segment_file(segment_id), _json(segment.to_dict()))
            self._segments[segment_id] = segment
            return take

    def choose(self, segment_id: str, number: int, picked: bool = True) -> ProjectSegment:
        """Keep take `number` of the segment (picked: by the user, so best-of leaves it)."""
        with self._writing():
            segment = self._fresh(segment_id)
            segment.take(number)
            return self._put(replace(segment, chosen=number, picked=picked))

    def edit(self, segment_id: str, **changes) -> ProjectSegment:
        """Change a segment's text, speaker, voice or section title; its takes are kept (the chosen one is
        then offered for a re-roll: its status is 'edited')."""
        unknown = set(changes) - {"text", "speaker", "voice", "section"}
        if unknown:
            raise InputError(f"a segment has no {', '.join(sorted(unknown))} to change")
        if "text" in changes:
            changes["text"] = _segment_text(changes["text"])
        for key in ("speaker", "voice", "section"):
            if key in changes:
                changes[key] = _optional_text(changes[key], key)
        with self._writing():
            return self._put(replace(self._fresh(segment_id), **changes))

    def insert(self, index: int, text: str, speaker: str | None = None) -> ProjectSegment:
        """A new segment at position `index` (0: first; the number of segments: last), pending."""
        with self._writing():
            self.refresh()
            order = self._record["order"]
            if not isinstance(index, int) or not 0 <= index <= len(order):
                raise InputError(f"a segment can be inserted at positions 0 to {len(order)}, not {index!r}")
            segment = self._new_segment(_segment_text(text), _optional_text(speaker, "speaker"), None)
            self._restructure([*order[:index], segment.id, *order[index:]], [segment], [])
            return segment

    def split(self, segment_id: str, at: int) -> tuple[ProjectSegment, ProjectSegment]:
        """Cut a segment's text at character `at` into two pending segments (its takes are removed with it)."""
        with self._writing():
            self.refresh()
            old = self._fresh(segment_id)
            inside = isinstance(at, int) and not isinstance(at, bool) and 0 < at < len(old.text)
            head, tail = (old.text[:at].strip(), old.text[at:].strip()) if inside else ("", "")
            if not head or not tail:
                raise InputError(f"split at a character between 1 and {len(old.text) - 1} so that both parts have text")
            first = self._new_segment(head, old.speaker, old.voice, old.section)
            second = self._new_segment(tail, old.speaker, old.voice)
            order = self._record["order"]
            i = order.index(segment_id)
            self._restructure([*order[:i], first.id, second.id, *order[i + 1 :]], [first, second], [old])
            return first, second

    def merge(self, segment_id: str) -> ProjectSegment:
        """Join a segment with the next one into one pending segment (same speaker and voice only)."""
        with self._writing():
            self.refresh()
            order = self._record["order"]
            i = self.index_of(segment_id)
            if i + 1 >= len(order):
                raise InputError("the last segment has no next segment to merge with")
            a, b = self._fresh(order[i]), self._fresh(order[i + 1])
            if (a.speaker or "").casefold() != (b.speaker or "").casefold() or a.voice != b.voice:
                raise InputError("only segments of the same speaker and voice can be merged")
            merged = self._new_segment(f"{a.text} {b.text}", a.speaker, a.voice, a.section or b.section)
            self._restructure([*order[:i], merged.id, *order[i + 2 :]], [merged], [a, b])
            return merged

    def delete(self, segment_id: str) -> None:
        """Remove a segment and its takes."""
        with self._writing():
            self.refresh()
            old = self._fresh(segment_id)
            if len(self._record["order"]) == 1:
                raise InputError("a project keeps at least one segment: delete the project instead")
            self._restructure([i for i in self._record["order"] if i != segment_id], [], [old])

    def update_settings(self, **changes) -> ProjectSettings:
        """New voice, speaker map, best_of, name or options (fields of ProjectSettings). The seed stays."""
        with self._writing():
            self.refresh()
            old = self.settings
            if "options" in changes:
                changes["options"] = changes["options"].replace(seed=old.options.seed)
            settings = replace(old, **changes)
            name = {"name": settings.name} if settings.name and "name" in changes else {}
            self._write_record({**self._record, **name, "settings": settings.to_dict()})
            return settings

    def set_wanted(self, wanted: bool) -> None:
        with self._writing():
            self.refresh()
            if self.wanted != wanted:
                self._write_record({**self._record, "wanted": wanted})

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Held while a run generates this project; ProjectBusy when another run has it."""
        lock = _lock_for(self.folder, threading.Lock)  # not re-entrant: a second run in one thread is refused too
        if not lock.acquire(blocking=False):
            raise ProjectBusy(f"the project {self.name!r} is being generated already; wait for that run or cancel it")
        try:
            fd = _take_flock(self.folder / _RUN_LOCK, wait_s=0.0)
            try:
                yield
            finally:
                _release_flock(fd)
        finally:
            lock.release()

    # Helpers

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with _lock_for(self.folder, _WriteLock).hold(self.folder / _WRITE_LOCK):
            yield

    def _fresh(self, segment_id: str) -> ProjectSegment:
        self.segment(segment_id)
        segment = self._read_segment(segment_id)
        self._segments[segment_id] = segment
        return segment

    def refresh(self) -> None:
        """Read project.json again, and the segments too when another writer changed their order."""
        record = _read_json(self.folder / PROJECT_FILE, self.folder.name)
        if record.get("order") != self._record.get("order"):
            self.reload()
        else:
            self._record = record

    def _put(self, segment: ProjectSegment) -> ProjectSegment:
        with FileSet(self.folder) as files:
            files.write(_segment_file(segment.id), _json(segment.to_dict()))
        self._segments[segment.id] = segment
        return segment

    def _write_record(self, record: dict) -> None:
        with FileSet(self.folder) as files:
            files.write(PROJECT_FILE, _json(record))
        self._record = record

    def _new_segment(self, text, speaker, voice, section=None) -> ProjectSegment:
        if len(self._record["order"]) >= MAX_SEGMENTS:
            raise InputError(f"a project has at most {MAX_SEGMENTS} segments: start a second project")
        segment_id = _new_id()
        return ProjectSegment(segment_id, text, speaker, voice, section, derived_seed(self.seed, segment_id, 1))

    def _restructure(self, order: list[str], new: list[ProjectSegment], gone: list[ProjectSegment]) -> None:
        """The new order, the new segments and the removal of the gone ones (with their take files), as one set."""
        record = {**self._record, "order": order}
        with FileSet(self.folder) as files:
            for segment in new:
                files.write(_segment_file(segment.id), _json(segment.to_dict()))
            files.write(PROJECT_FILE, _json(record))
            for segment in gone:
                files.remove(_segment_file(segment.id))
                for take in segment.takes:
                    files.remove(_take_file(segment.id, take.number, "wav"))
                    files.remove(_take_file(segment.id, take.number, "npz"))
        self._record = record
        for segment in gone:
            self._segments.pop(segment.id, None)
        self._segments.update({s.id: s for s in new})


def plan_segments(text: str, settings: ProjectSettings) -> list[ProjectSegment]:
    """A text (or script) as the segments of a new project, seeded as Engine.generate seeds a long text
    (the project's seed + the segment's position), so a plain text's first takes are what Generate makes."""
    options = settings.options
    segments: list[ProjectSegment] = []
    for line in parse_script(text, settings.dialogue):
        pieces = split_text(line.text, options.split, seed=options.seed)
        for n, piece in enumerate(pieces):
            seed = (options.seed + len(segments)) % (MAX_SEED + 1)
            section = line.section if n == 0 else None
            segments.append(ProjectSegment(_new_id(), piece.clean, line.speaker, None, section, seed))
    if not segments:
        raise InputError("The text is empty: type something for Bark to say.")
    if len(segments) > MAX_SEGMENTS:
        raise InputError(f"the text makes {len(segments)} segments; a project has at most {MAX_SEGMENTS}: split it")
    return segments


def _continues_from(track: list[tuple[str, bool, Take | None]], voice: str | None, options) -> tuple[bool, str | None]:
    """(ready, the take to continue from or None for the voice itself) of the next segment of a track
    (the earlier segments of one speaker in one voice: id, pending, chosen take), as Engine's continuity
    modes choose for a long text: stable keeps to the voice (without one, to the first segment's take),
    continuous follows the segment before, reset goes back to the voice every reset_every segments."""

    def usable(take: Take | None) -> bool:
        return take is not None and take.usable

    def previous() -> tuple[bool, str | None] | None:
        for segment_id, pending, take in reversed(track):
            if pending:
                return False, None
            if usable(take):
                return True, take_ref(segment_id, take.number)
        return None

    def anchor() -> tuple[bool, str | None]:
        if voice is not None:
            return True, None
        for segment_id, pending, take in track:
            if pending:
                return False, None
            if usable(take):
                return True, take_ref(segment_id, take.number)
        return True, None

    if options.continuity == "continuous" or (options.continuity == "reset" and len(track) % options.reset_every):
        found = previous()
        if found is not None:
            return found
        return (True, None) if options.continuity == "continuous" else anchor()
    return anchor()


def _status(segment: ProjectSegment, voice: str | None, after: str | None) -> str:
    take = segment.chosen_take
    if take is None:
        return PENDING
    if take.text != segment.text or take.voice != voice:
        return EDITED
    return DONE if take.after == after else BROKEN


def _voice_name(voice: object) -> str | None:
    """A voice name as stored: None for no voice (None, "", "none", "random")."""
    if voice is None:
        return None
    if not isinstance(voice, str) or len(voice) > 300:
        raise InputError(f"a voice is named by text, got {voice!r:.40}", "voice")
    return voice_name(voice)


def _segment_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("a segment's text is empty: type what it says", "text")
    text = " ".join(clean_text(text).split())
    if len(text) > 1000:
        raise InputError(f"a segment's text is {len(text)} characters; keep one under 1000 (about a minute)", "text")
    return text


def _optional_text(value: object, what: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InputError(f"{what} must be text of at most 200 characters", what)
    return " ".join(value.split())


def _tokens(result: SegmentResult) -> bytes:
    """The take's tokens as a voice prompt .npz (Suno's keys), so a later segment can continue from it."""
    if result.voice is not None:
        return result.voice.to_bytes()
    buffer = io.BytesIO()  # too little speech to be a prompt: the tokens as they are
    np.savez(buffer, **{SEMANTIC_KEY: result.semantic, COARSE_KEY: result.coarse, FINE_KEY: result.fine})
    return buffer.getvalue()


def _segment_file(segment_id: str) -> str:
    return f"seg-{segment_id}.json"


def _take_file(segment_id: str, number: int, suffix: str) -> str:
    return f"seg-{segment_id}-{number}.{suffix}"


def _json(data: dict) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _read_json(path: Path, project: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"the project {project} is damaged: {path.name} is missing") from None
    except (OSError, ValueError) as e:
        raise InputError(f"the project {project} is damaged: {path.name} cannot be read ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"the project {project} is damaged: {path.name} is not a JSON object")
    return data


def _damaged(folder: Path, why: str) -> InputError:
    return InputError(f"the project {folder.name} is damaged: {why}")


class _WriteLock:
    """A project's write lock: one thread of this process at a time (re-entrant), and one process at a
    time through flock on FOLDER/.write.lock, taken by the outermost hold only (a second flock of the same
    file from this process would wait for itself)."""

    def __init__(self) -> None:
        self._thread = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def hold(self, path: Path) -> Iterator[None]:
        if not self._thread.acquire(timeout=WRITE_WAIT_S):
            raise ProjectBusy("the project is busy being written (a long export?); try again in a moment")
        try:
            if self._depth == 0:
                self._fd = _take_flock(path, WRITE_WAIT_S)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    _release_flock(self._fd)
        finally:
            self._thread.release()


def _lock_for(folder: Path, kind: type):
    key = (folder.resolve(), kind.__name__)
    with _locks_guard:
        return _locks.setdefault(key, kind())


def _take_flock(path: Path, wait_s: float) -> int | None:
    """An exclusive flock on `path` (POSIX; None elsewhere), waiting at most wait_s: ProjectBusy then."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise InputError(f"the project {path.parent.name} was deleted meanwhile", "project") from None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise ProjectBusy(
                    "another program is generating or writing this project; wait for it or stop it"
                ) from None
            time.sleep(0.02)


def _release_flock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


@dataclass(frozen=True)
class ProjectSummary:
    id: str
    name: str
    created: str
    segments: int
    generated: int  # segments with at least one take
    wanted: bool


class ProjectStore:
    """The projects folder: one project per sub-folder, named by id (`<time>_<slug>`)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def create(self, text: str, settings: ProjectSettings) -> Project:
        clean_text(text)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}_{slugify(settings.name or text, 40)}"
        self.root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            folder = self.root / (stem if n == 1 else f"{stem}-{n}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            try:
                return Project.create(folder, text, settings)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        raise BarkError(f"could not find a free name for the project {stem}")

    def folder(self, project_id: str) -> Path:
        if not isinstance(project_id, str) or not _PROJECT_ID.match(project_id) or ".." in project_id:
            raise InputError(f"{project_id!r} is not the id of a project", "project")
        return self.root / project_id

    def open(self, project_id: str) -> Project:
        folder = self.folder(project_id)
        if not (folder / PROJECT_FILE).is_file():
            raise InputError(f"there is no project {project_id!r}; it may have been deleted", "project")
        return Project.open(folder)

    def list(self) -> list[ProjectSummary]:
        """Every project, newest first, from its project.json and its file names (no segment is read)."""
        if not self.root.is_dir():
            return []
        summaries = []
        for folder in self.root.iterdir():
            summary = _summary(folder)
            if summary is not None:
                summaries.append(summary)
        return sorted(summaries, key=lambda s: (s.created, s.id), reverse=True)

    def delete(self, project_id: str) -> None:
        """Remove a project and all its takes (not while a run generates it)."""
        project = self.open(project_id)
        with project.running(), project._writing():
            gone = self.root / f"{_DELETED}{secrets.token_hex(4)}"
            os.replace(project.folder, gone)  # one rename: the project is gone whole
        shutil.rmtree(gone, ignore_errors=True)

    def sweep(self) -> None:
        """Remove what killed processes left: deleted projects not yet removed, and (once STALE_S old)
        exports never published and folders where no project was ever completed."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.name.startswith(_DELETED):
                shutil.rmtree(folder, ignore_errors=True)
            elif folder.is_dir() and not folder.name.startswith("."):
                if not (folder / PROJECT_FILE).exists() and _stale(folder):
                    recover(folder)
                    if not (folder / PROJECT_FILE).exists():
                        shutil.rmtree(folder, ignore_errors=True)
                for export in (folder / EXPORTS).glob(".export-*"):
                    if _stale(export):
                        shutil.rmtree(export, ignore_errors=True)


def _stale(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime > STALE_S
    except OSError:
        return False


def _summary(folder: Path) -> ProjectSummary | None:
    if folder.name.startswith(".") or not folder.is_dir() or not _PROJECT_ID.match(folder.name):
        return None
    try:
        record = json.loads((folder / PROJECT_FILE).read_text(encoding="utf-8"))
        order = set(record["order"])
        names = os.listdir(folder)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    with_takes = {n[4:12] for n in names if n.startswith("seg-") and n.endswith(".wav")}
    return ProjectSummary(
        folder.name,
        str(record.get("name", folder.name)),
        str(record.get("created", "")),
        len(order),
        len(with_takes & order),
        bool(record.get("wanted")),
    )

"""The one service behind both doors of the web app, the Gradio tabs (webui/tabs) and the REST routes
(webui/api): one method per user action, no Gradio and no HTTP in here.

Everything goes through core/ (the engine, its voice library, the outputs folder) and cloning/.
Voice names never name files here: whoever sends them may be on another machine. Mistakes a user
can make raise core.errors.InputError (or another BarkError) with a message that says what to do;
each door shows them its own way, and neither decides anything itself.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from cloning import CloneOptions, CloneResult, VoiceCloner
from cloning.audio import BLOCK_S, prepare, read_audio
from core.activity import Loading
from core.constants import SEMANTIC_RATE_HZ
from core.engine import SEGMENT_STAGES, Engine, GenerationResult, Progress, ProgressCallback, SegmentResult
from core.errors import Cancelled, InputError, NameTakenError
from core.library import VoiceInfo, sanitize_voice_name
from core.loading import STAGES
from core.model_cache import CODEC
from core.options import GenerationOptions
from core.outputs import (
    OutputEntry,
    delete_output,
    estimate_seconds,
    get_output,
    list_outputs,
    recover_outputs,
    write_outputs,
)
from core.presets import is_preset, presets_by_language
from core.semantic import max_semantic_tokens
from core.textsplit import Segment
from core.voice import VoicePrompt

from .projects import ProjectService
from .redact import folder_redactor

NO_VOICE = "none"
MAX_VOICE_UPLOAD_BYTES = 16 * 1024 * 1024  # a real prompt is a few hundred KiB
CLONE_SAMPLE_TEXT = "Hello! This is how my new voice sounds."
BEST_CLIP_SECONDS = (5.0, 15.0)  # of speech, for cloning: shorter gives a vaguer voice, longer is cut
QUIET_CLIP_DBFS = -40.0  # a clip whose RMS is below this was recorded far from the microphone

ProgressFn = Callable[[str, float], None]  # (message, fraction 0..1)
SPEED_SAMPLES = 10  # the last finished generations the speed is measured over


@dataclass(frozen=True)
class VoiceSample:
    """A cloned voice with a short sample spoken in it."""

    info: VoiceInfo
    audio: np.ndarray  # float32 at sample_rate
    sample_rate: int


@dataclass(frozen=True)
class ClipCheck:
    """A clip to clone, read and checked as cloning reads it (cloning.audio), before any model runs."""

    seconds: float  # the whole clip
    sound_seconds: float  # without the silence at its ends
    rms_dbfs: float  # level of the sound (RMS)
    peak_dbfs: float
    notes: tuple[str, ...]  # what to know before cloning it, in words

    def summary(self) -> str:
        """'4.5 s (4.1 s of sound) · level −23 dBFS RMS, peak −3 dBFS'."""
        return (
            f"{self.seconds:.1f} s ({self.sound_seconds:.1f} s of sound) · "
            f"level {self.rms_dbfs:.0f} dBFS RMS, peak {self.peak_dbfs:.0f} dBFS".replace("-", "−")
        )


@dataclass(frozen=True)
class Estimate:
    """What a generation would make, before it runs."""

    segments: list[Segment]
    seconds: list[float]  # about how much audio each makes: Bark speaks ~14 characters a second, up to its cap
    audio_s: float  # their sum
    work_s: float | None  # about how long it takes at the measured speed; None before any measurement
    measured: int  # how many finished generations work_s comes from


class Speed:
    """How fast this server generates: seconds of work per second of audio, the median of its last
    finished generations (from either door; the first one includes loading the models)."""

    def __init__(self) -> None:
        self._ratios: deque[float] = deque(maxlen=SPEED_SAMPLES)
        self._lock = threading.Lock()

    def record(self, result: GenerationResult) -> None:
        if result.duration_s > 0 and result.compute_s > 0:
            with self._lock:
                self._ratios.append(result.compute_s / result.duration_s)

    def measure(self, audio_s: float) -> tuple[float | None, int]:
        """(about how long `audio_s` seconds of audio take, None before any measurement; how many
        generations that comes from)."""
        with self._lock:
            if not self._ratios:
                return None, 0
            return statistics.median(self._ratios) * audio_s, len(self._ratios)


@dataclass(eq=False)
class Job:
    """One generation as others may watch it: its estimate (None when its text cannot be planned: the
    engine says why), its cancel switch, when it joined the line for the engine and, once it has the
    engine, when it started and its last progress report (written by the generation's thread, read by any)."""

    estimate: Estimate | None
    cancel: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    progress: Progress | None = None
    fraction: float = 0.0  # how much of it is done, 0..1, as of its last report of a segment's stage

    def report(self, p: Progress) -> None:
        """An engine progress report: a model's load or download (stage "load") is shown, but it
        leaves how much of the generation is done as it was."""
        self.started_at = self.started_at or time.monotonic()
        self.progress = p
        if p.stage in SEGMENT_STAGES:
            self.fraction = p.fraction()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at if self.started_at is not None else 0.0

    def left_s(self) -> float | None:
        """About how long until it ends: from its own progress once it has made some, else from the
        measured speed; None when neither tells."""
        if self.fraction >= 0.05:
            return self.elapsed_s() * (1 - self.fraction) / self.fraction
        if self.estimate is None or self.estimate.work_s is None:
            return None
        return max(0.0, self.estimate.work_s - self.elapsed_s())


class Line:
    """The generations waiting for the engine or holding it, in the order they came: a tab's from when
    its Generate is pressed (it waits in Gradio's queue, then for the engine), the REST API's from when
    it has the API's turn. One that was cancelled before it started has left it."""

    def __init__(self) -> None:
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def join(self, job: Job) -> None:
        with self._lock:
            if job not in self._jobs:
                self._jobs.append(job)

    def leave(self, job: Job) -> None:
        with self._lock:
            if job in self._jobs:
                self._jobs.remove(job)

    def ahead_of(self, job: Job) -> list[Job]:
        """The jobs that will have the engine before `job`: those that run now, then those that came
        before it."""
        with self._lock:
            self._jobs = [j for j in self._jobs if j.started_at is not None or not j.cancel.is_set()]
            jobs = [j for j in self._jobs if j is not job]
            earlier = self._jobs[: self._jobs.index(job)] if job in self._jobs else jobs
        running = [j for j in jobs if j.started_at is not None]
        return running + [j for j in earlier if j.started_at is None]


class Studio:
    """Bark Studio's actions on one engine and one output folder, shared by every browser session and
    every API client."""

    def __init__(
        self,
        engine: Engine,
        output_dir: Path | None,
        cloner: VoiceCloner | None = None,
        allow_paths: bool = True,
        projects_dir: Path | None = None,
    ):
        """output_dir: the history of generations (None: the REST API alone keeps none).
        cloner: the VoiceCloner to clone with (by default one on `engine`).
        allow_paths: let the Settings tab change the models directory (a path on this machine);
        False when the app is reachable from other machines.
        projects_dir: the long-form projects (webui.projects; None: no projects)."""
        self.engine = engine
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.cloner = cloner if cloner is not None else VoiceCloner(engine)
        self.allow_paths = allow_paths
        self.redact = folder_redactor(engine, self.output_dir, projects_dir)  # messages name folders, never show them
        self._exports: Path | None = None
        self.speed = Speed()  # measured from this process's generations, for estimates
        self.line = Line()  # the generations waiting for the engine or holding it
        self.projects = ProjectService(self, Path(projects_dir)) if projects_dir is not None else None
        if self.output_dir is not None:
            recover_outputs(self.output_dir)  # a crash's half-written outputs, finished or thrown away, at start

    # Voices to pick from

    def check_voice(self, voice: str | None) -> str | None:
        """The voice `voice` names (one of Suno's presets or a library voice, never a file), checked
        without loading it; None for no voice. VoiceError (an InputError) when there is no such voice."""
        return self.engine.check_voice(voice, allow_paths=False)

    def voices(self) -> list[VoiceInfo]:
        """The library's voices, by name."""
        return self.engine.library.list()

    def voice_choices(self) -> list[tuple[str, str]]:
        """(label, value) of every voice: none, the user's library, then Suno's presets by language."""
        choices = [("None (a random voice)", NO_VOICE)]
        choices += [(f"My voices › {info.name}", info.name) for info in self.voices()]
        for language, names in presets_by_language().items():
            choices += [(f"{language} › {name}", name) for name in names]
        return choices

    # Generate

    def plan(self, text: str, options: GenerationOptions) -> list[Segment]:
        """The segments a generation would make, without generating; InputError for text (or split
        options) that cannot be generated."""
        return self.engine.plan(text, options, options.seed or 0)

    def estimate(self, text: str, options: GenerationOptions) -> Estimate:
        """The plan of a generation, with about how much audio it makes and how long that takes here."""
        segments = self.plan(text, options)
        longest = max_semantic_tokens(options.max_duration_s) / SEMANTIC_RATE_HZ  # Bark's cap, or the option's
        seconds = [min(estimate_seconds(s), longest) for s in segments]
        return Estimate(segments, seconds, sum(seconds), *self.speed.measure(sum(seconds)))

    def read_voice_file(self, path: str | os.PathLike) -> VoicePrompt:
        """A voice prompt uploaded from the browser, validated."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise InputError(f"{path.name} is not a voice prompt: upload an .npz file")
        if not path.is_file():  # a folder, a device or a pipe is never opened
            raise InputError(f"{path.name} is not a file: upload a voice prompt (.npz)")
        if path.stat().st_size > MAX_VOICE_UPLOAD_BYTES:
            raise InputError(f"{path.name} is too large for a voice prompt (the limit is 16 MB)")
        return VoicePrompt.from_bytes(path.read_bytes(), source=f"uploaded voice {path.name!r}")

    def generate(
        self,
        text: str,
        voice: str | VoicePrompt | None,
        options: GenerationOptions,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
        on_segment: Callable[[SegmentResult], None] | None = None,
        job: Job | None = None,
    ) -> GenerationResult:
        """Generate `text` in `voice` (a name check_voice accepts, or an uploaded prompt); `cancel`
        stops it within a step, `on_segment` gets each segment as soon as its audio is ready.

        Meanwhile it is in the line for the engine as `job` (the one a tab made when its Generate was
        pressed) or as a new one, kept up to date with its progress; its time, when it finishes,
        measures the speed that estimates use."""
        if job is None:
            job = Job(self._estimate_or_none(text, options), cancel or threading.Event())
        cancel = cancel or job.cancel

        def report(p: Progress) -> None:
            job.report(p)
            if progress is not None:
                progress(p)

        self.line.join(job)
        try:
            result = self.engine.generate(
                text, voice, options, report, cancel, allow_paths=False, on_segment=on_segment
            )
        finally:
            self.line.leave(job)
        self.speed.record(result)
        return result

    def _estimate_or_none(self, text: str, options: GenerationOptions) -> Estimate | None:
        try:
            return self.estimate(text, options)
        except InputError:  # the engine says it, in its own order of checks
            return None

    def stream(
        self,
        text: str,
        voice: str | VoicePrompt | None,
        options: GenerationOptions,
        cancel: threading.Event,
        job: Job | None = None,
    ) -> Iterator[Progress | SegmentResult | GenerationResult]:
        """Generate, yielding progress reports and each finished segment, then the whole result.

        The engine runs in a worker thread; closing the iterator early cancels it.
        """
        events: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                result = self.generate(text, voice, options, cancel, events.put, on_segment=events.put, job=job)
                events.put(result)
            except BaseException as e:  # handed to the caller's thread, raised there
                events.put(e)

        worker = threading.Thread(target=work, name="bark-generate", daemon=True)
        worker.start()
        try:
            while True:
                event = events.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, GenerationResult):
                    return
        finally:
            if worker.is_alive():  # the caller went away (closed the iterator) before the end
                cancel.set()
            worker.join()

    def save_output(self, result: GenerationResult, fmt: str, voice_upload: str | None = None) -> OutputEntry:
        """Write a generation into the history: audio, its voice .npz and the settings JSON."""
        extra = {"source": "webui"}
        if voice_upload is not None:
            extra["voice_upload"] = Path(voice_upload).name
        _, sidecar, _ = write_outputs(result, self.engine, self._outputs, fmt, save_voice=True, extra=extra)
        return get_output(self._outputs, sidecar.stem)

    def save_voice(self, entry_id: str, name: str, overwrite: bool = False) -> VoiceInfo:
        """Keep the voice of a past generation in the library as `name`."""
        name = sanitize_voice_name(name)
        entry = get_output(self._outputs, entry_id)
        metadata = {"source": "webui", "text": entry.text, "voice": entry.voice_name, "seed": entry.seed}
        return self.engine.library.save(
            name, entry.voice_prompt(), {**metadata, "settings": entry.record}, overwrite=overwrite
        )

    # Voices

    def voice_rows(self) -> list[list]:
        return [[v.name, v.language or "", v.source or "", short_time(v.created)] for v in self.voices()]

    def voice_names(self) -> list[str]:
        return [v.name for v in self.voices()]

    def voice_file(self, name: str) -> tuple[str, bytes]:
        """(file name, contents) of a preset or a library voice as Suno's .npz; VoiceError when there
        is no such voice (InputError for a name no voice can have)."""
        if is_preset(name):
            prompt, _ = self.engine.resolve_voice(name, allow_paths=False)
            return name.replace("/", "_") + ".npz", prompt.to_bytes()
        info = self.engine.library.info(name)
        return info.path.name, info.path.read_bytes()

    def preview_voice(self, name: str) -> np.ndarray:
        """The voice's own prompt decoded: what it sounds like, float32 at 24 kHz."""
        return self.engine.decode(self.engine.library.get(name).fine)

    def rename_voice(self, old: str, new: str) -> VoiceInfo:
        """NameTakenError when `new` is taken: renaming never replaces a voice."""
        try:
            return self.engine.library.rename(old, new)
        except NameTakenError as e:  # the library's message offers to overwrite, which renaming does not
            raise NameTakenError(
                f"{sanitize_voice_name(new)!r} is already in your voice library; "
                "choose another name, or delete that voice first"
            ) from e

    def delete_voice(self, name: str) -> None:
        self.engine.library.delete(name)

    def import_voice(self, data: bytes, name: str, overwrite: bool = False, source: str = "upload") -> VoiceInfo:
        """The bytes of a voice .npz, validated, into the library as `name`; NameTakenError when the
        name is taken and overwrite is off."""
        return self.engine.library.import_bytes(data, name, overwrite=overwrite, source=source)

    def import_voice_file(self, path: str | os.PathLike, name: str | None, overwrite: bool = False) -> VoiceInfo:
        """An uploaded .npz into the library, named `name` or after the uploaded file."""
        prompt_name = name.strip() if name and name.strip() else Path(path).stem
        try:
            prompt_name = sanitize_voice_name(prompt_name)
        except InputError as e:
            raise InputError(f"{e}; type a name for the voice") from e
        return self.import_voice(self.read_voice_file(path).to_bytes(), prompt_name, overwrite, source="import")

    def export_voice(self, name: str) -> Path:
        """A copy of the voice's .npz to hand to the browser."""
        if self._exports is None:
            self._exports = Path(tempfile.mkdtemp(prefix="bark-webui-export-"))
        return self.engine.library.export(name, self._exports)

    # History

    def history(self) -> list[OutputEntry]:
        return list_outputs(self._outputs)

    def entry(self, entry_id: str) -> OutputEntry:
        return get_output(self._outputs, entry_id)

    def entry_view(self, entry_id: str) -> tuple[Path, list[Path], dict]:
        """(audio, files to download, settings) of a past generation as this app's user may see them:
        someone on another machine gets the settings with the server's folders named, not shown, and
        not the settings file itself (it keeps them whole, for `python bark_perform.py` here)."""
        entry = self.entry(entry_id)
        files = [p for p in (entry.audio, entry.voice, entry.sidecar) if p is not None]
        if self.allow_paths:
            return entry.audio, files, entry.record
        return entry.audio, [p for p in files if p != entry.sidecar], _redacted(entry.record, self.redact)

    def delete_entry(self, entry_id: str) -> None:
        delete_output(self._outputs, entry_id)

    def reuse(self, entry_id: str) -> tuple[str, str, GenerationOptions, str, list[str]]:
        """(text, voice, options, format, notes) to generate a past entry again."""
        entry = self.entry(entry_id)
        options, notes = entry.options(), []
        try:
            voice = self.check_voice(entry.voice_name) or NO_VOICE
        except InputError:
            notes.append(f"The voice {entry.voice_name!r} is no longer in the library; choose a voice.")
            voice = NO_VOICE
        if entry.record.get("voice_upload"):  # an uploaded prompt has no name: voice_name is None
            notes.append(f"That generation used the uploaded voice {entry.record['voice_upload']}; upload it again.")
        return entry.text, voice, options, str(entry.record.get("format", "wav")), notes

    @property
    def _outputs(self) -> Path:
        if self.output_dir is None:
            raise InputError("This server keeps no history of generations: it runs without the web UI.")
        return self.output_dir

    # Cloning

    def clone(
        self,
        audio: str | Path | tuple[np.ndarray, int],
        name: str,
        options: CloneOptions,
        *,
        overwrite: bool = False,
        source_name: str | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> CloneResult:
        """Clone `audio` (a file, or (samples, rate)) into the library, one voice per variant, all saved
        or none. `cancel`, like a server that stops (Engine.cancel_running), ends it at its next step,
        before anything is saved."""
        cancel = cancel or threading.Event()

        def report(stage: str, fraction: float) -> None:  # between the clone's steps
            if cancel.is_set():
                raise Cancelled("the clone was cancelled")
            if progress is not None:
                progress(stage, fraction)

        with self.engine.cancellable(cancel):
            return self.cloner.clone(
                audio, name, options, overwrite=overwrite, source_name=source_name, progress=report
            )

    def clone_with_samples(
        self,
        audio: str | tuple[np.ndarray, int],
        name: str,
        options: CloneOptions,
        sample_text: str,
        sample_seconds: float,
        source_name: str | None,
        progress: ProgressFn,
        overwrite: bool = False,
    ) -> tuple[list[VoiceSample], tuple[str, ...]]:
        """Clone `audio` into the library (one voice per variant), each with a short sample in its voice;
        NameTakenError when a name is taken and overwrite is off."""
        result = self.clone(
            audio,
            name,
            options,
            overwrite=overwrite,
            source_name=source_name,
            progress=lambda m, f: progress(m, 0.7 * f),
        )
        samples = []
        sample_options = GenerationOptions(max_duration_s=sample_seconds, seed=0)
        for i, info in enumerate(result.voices):
            progress(f"Sample of {info.name}", 0.7 + 0.3 * i / len(result.voices))
            spoken = self.generate(sample_text or CLONE_SAMPLE_TEXT, info.name, sample_options)
            samples.append(VoiceSample(info, spoken.audio, spoken.sample_rate))
        return samples, tuple(result.notes)

    def check_clip(self, audio: str | Path, source_name: str | None = None, max_seconds: float = 15.0) -> ClipCheck:
        """Read a clip and check it as a clone would (what it is, its length, silence, clipping), without
        cloning: InputError with what to do for a clip that cannot be cloned, notes for one that can but
        may clone badly. max_seconds: the most of it a clone would use."""
        source = read_audio(audio, name=source_name, max_bytes=self.cloner.max_file_bytes)
        whole = prepare(source, trim=False, normalize=False)  # its notes: clipping; refuses silence
        sound = prepare(source, trim=True, normalize=False)  # refuses a clip with too little sound
        mono = sound.audio24.astype(np.float64)
        rms = 10 * np.log10(np.mean(mono**2) + 1e-12)
        peak = 20 * np.log10(np.abs(source.samples).max() + 1e-12)
        seconds, sound_seconds = source.seconds, sound.blocks * BLOCK_S
        notes = list(whole.notes)
        low, high = BEST_CLIP_SECONDS
        if sound_seconds < low:
            notes.append(
                f"{sound_seconds:.1f} s of sound is short: {low:g}–{high:g} s clones best (it can still be tried)"
            )
        elif sound_seconds > max_seconds:
            notes.append(f"only its last {max_seconds:g} s will be used (Use at most)")
        if rms < QUIET_CLIP_DBFS:
            notes.append(
                "it is quiet: Normalise raises it (and its noise); a recording closer to the microphone clones better"
            )
        return ClipCheck(round(seconds, 2), round(sound_seconds, 2), float(rms), float(peak), tuple(notes))

    def delete_voices(self, names: list[str]) -> None:
        for name in names:
            self.engine.library.delete(name)

    # Models and settings

    def apply_settings(self, **changes) -> list[str]:
        """New engine settings (fields of EngineSettings); the names of the fields that changed, in
        field order. When any did, the loaded models are dropped (they load again on first use); when
        none did, nothing is unloaded."""
        if "models_dir" in changes:
            models_dir = changes.pop("models_dir")
            current = self.engine.settings.models_dir
            new = Path(models_dir).expanduser() if models_dir and str(models_dir).strip() else None
            if new != current:
                if not self.allow_paths:
                    raise InputError("The models folder can be changed only on the machine running the app.")
                if new is not None and not new.is_dir():
                    raise InputError(f"{new} is not a folder; give the folder that holds the model files")
                changes["models_dir"] = new
        old = self.engine.settings
        settings = dataclasses.replace(old, **changes)
        changed = [f.name for f in dataclasses.fields(settings) if getattr(settings, f.name) != getattr(old, f.name)]
        if changed:
            self.engine.update_settings(settings)
        return changed

    def prepare_models(self, progress: ProgressFn) -> None:
        """Find (download when allowed) and load every model of the current settings; a damaged
        or missing file raises a ModelFileError that names it."""
        models, settings = self.engine.models, self.engine.settings
        steps = [("tokenizer", models.tokenizer)]
        steps += [(f"{stage} model", lambda s=stage: models.get(s, settings.small(s))) for stage in STAGES]
        steps += [("codec", lambda: models.get(CODEC, False))]
        for i, (what, load) in enumerate(steps):
            progress(f"Loading the {what}", i / len(steps))

            def loading(now: Loading, done: int = i) -> None:  # a download: its file, size and percent
                progress(now.message(), (done + (now.fraction or 0)) / len(steps))

            with self.engine.watch.listen(loading):
                load()
        progress("All models are ready", 1.0)

    def unload(self) -> None:
        self.engine.unload()

    def status(self) -> str:
        """Device, precision, each stage's model (its size, its weights, whether it is loaded) and
        memory, as Markdown."""
        engine = self.engine
        loaded = [f"{k.stage}{' (small)' if k.small else ''}" for k in engine.models.loaded()]
        offload = " · offloaded to the CPU between stages" if engine.models.offload else ""
        head = [
            f"**Device** {engine.device} · **precision** {_dtype_name(engine.dtype)}{offload}",
            f"**Models loaded** {', '.join(loaded) if loaded else 'none (they load on first use)'}",
        ]
        tail = [f"**Memory** {_process_memory()}"]
        if self.allow_paths:  # where things are, for the person at this machine only
            tail.append(f"**Models folder** {engine.locator.models_dir or 'the Hugging Face cache'}")
            tail.append(f"**Voice library** {engine.library.root} · **outputs** {self.output_dir}")
        return "\n\n".join(["  \n".join(head), "\n".join(self._stage_table()), "  \n".join(tail)])

    def _stage_table(self) -> list[str]:
        """Markdown table rows: per stage, the model the settings ask for (or the one loaded), what it
        runs in, and whether it is in memory."""
        engine = self.engine
        settings, loaded = engine.settings, {k.stage: k for k in engine.models.loaded()}
        runs_in = _dtype_name(engine.dtype)
        if settings.fast:
            cpu = f"fast mode: {engine.models.quantize}/bf16"
            runs_in = cpu if engine.device.type == "cpu" else f"fast mode: {runs_in}"
        rows = ["| Stage | Model | Runs in | Now |", "|---|---|---|---|"]
        for stage in STAGES:
            key = loaded.get(stage)
            small = key.small if key is not None else settings.small(stage)
            now = "loaded" if key is not None else "loads on first use"
            rows.append(f"| {stage} | {'small' if small else 'full'} | {runs_in} | {now} |")
        now = "loaded" if CODEC in loaded else "loads on first use"
        rows.append(f"| codec | EnCodec | float32 | {now} |")  # decoded outside autocast
        return rows


def _redacted(value, redact: Callable[[str], str]):
    """`value` (JSON-like) with every string passed through `redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def short_time(iso: str | None) -> str:
    """'2025-01-01T12:00:00+00:00' -> '2025-01-01 13:00' in local time; '' when unknown."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _process_memory() -> str:
    """Memory this process holds (and the GPU's allocated memory when there is one)."""
    resident, what = _resident_bytes()
    text = f"{resident / 2**30:.2f} GiB of RAM ({what})" if resident else "RAM use unknown"
    if torch.cuda.is_available():
        text += f", {torch.cuda.memory_allocated() / 2**30:.2f} GiB on the GPU"
    return text


def _resident_bytes() -> tuple[int | None, str]:
    try:  # Linux: the current resident set
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), "now"
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource  # Unix only
    except ImportError:
        return None, ""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return (peak if sys.platform == "darwin" else peak * 1024), "peak"

"""The engine: owns the models and settings, turns text + voice + options into audio.

    engine = Engine(EngineSettings(small_models=True))
    result = engine.generate("Hello there.", voice="v2/en_speaker_6", options=GenerationOptions(seed=1))
    result.audio  # float32 at 24 kHz; result.voice is the generation's own VoicePrompt

One generation runs at a time per engine (a lock); others wait. Progress is reported through a
callback and a threading.Event cancels within one step.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .activity import Loading, LoadingWatch
from .audio import join_segments
from .coarse import generate_coarse
from .codec import Codec
from .constants import SAMPLE_RATE
from .devices import DEVICES, DTYPES, autocast, resolve_device, resolve_dtype
from .errors import Cancelled, InputError, VoiceError
from .fast import QUANTIZE, one_row_weights
from .fields import check_fields, one_of, option, ranged
from .fine import generate_fine
from .hub import MODELS_DIR_ENV, HubFile, ModelLocator, default_models_dir
from .library import VoiceLibrary
from .loading import STAGES, load_preset, model_files
from .model_cache import CODEC, ModelCache
from .options import MAX_SEED, MAX_TEXT_CHARS, GenerationOptions
from .presets import is_preset
from .qc import text_cut
from .semantic import encode_text, generate_semantic, max_semantic_tokens
from .textsplit import Segment, split_text
from .voice import VoicePrompt

NO_VOICE_NAMES = ("", "none", "random")
SEGMENT_STAGES = ("text", "coarse", "fine", "decode")  # what each segment goes through, in order
MAX_BATCH = 64  # the most segments generated together


@dataclass(frozen=True)
class EngineSettings:
    models_dir: Path | None = option(
        None,
        "Models folder",
        "a folder of model files read before the Hugging Face cache",
        off="BARK_MODELS_DIR, if set",
    )
    prompts_dir: Path = option(Path("prompts"), "Voice library", "the folder of your voices")
    device: str = one_of(
        "auto", DEVICES, "Device", "where the models run: auto takes a CUDA GPU, else Apple MPS, else the CPU"
    )
    dtype: str = one_of(
        "auto",
        DTYPES,
        "Precision",
        "compute precision (autocast on GPUs): auto is bfloat16 or float16 on a GPU, faster and half the memory "
        "of float32, and float32 on the CPU",
    )
    small_text: bool = option(
        False, "Small text model", "the small model for the text stage: less memory and faster, somewhat lower quality"
    )
    small_coarse: bool = option(
        False,
        "Small coarse model",
        "the small model for the coarse stage: less memory and faster, somewhat lower quality",
    )
    small_fine: bool = option(
        False, "Small fine model", "the small model for the fine stage: less memory and faster, somewhat lower quality"
    )
    offload_cpu: bool = option(
        False,
        "Offload to CPU",
        "keep models on the CPU between stages: less GPU memory, slower (each stage moves its model to the GPU)",
    )
    max_batch: int = ranged(
        8,
        1,
        MAX_BATCH,
        "Max batch",
        "segments of a long text generated together (stable continuity): more is faster and needs more memory; "
        "1: one at a time",
    )
    fast: bool = option(
        False,
        "Fast mode",
        "int8/bf16 weights: about 3x faster on a CPU; logits move 1-2%, so a seed sounds different",
    )  # core.fast
    quantize: str = one_of(
        "int8",
        QUANTIZE,
        "Fast-mode weights",
        "in fast mode on a CPU, the weights of each one-row decode step: int8, or int4 (those steps about 1.3x faster "
        "again; logits move about 22% instead of 2%, a rougher approximation of the model)",
    )
    cuda_graphs: bool = option(
        False,
        "CUDA graphs",
        "on a CUDA GPU, replay decode steps as CUDA graphs: less time launching kernels per token, some GPU memory "
        "for the graphs (opt-in)",
    )
    allow_download: bool = option(True, "Download models", "fetch missing model files from the Hugging Face hub")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.quantize != "int8" and not self.fast:
            raise InputError(f"quantize {self.quantize} is a fast-mode setting: turn fast mode on too", "quantize")

    @classmethod
    def all_small(cls, **kwargs) -> EngineSettings:
        return cls(small_text=True, small_coarse=True, small_fine=True, **kwargs)

    def small(self, stage: str) -> bool:
        return getattr(self, f"small_{stage}")


@dataclass(frozen=True)
class Progress:
    stage: str  # text | coarse | fine | decode, or load: a model is read or downloaded (detail says which)
    segment: int  # 0-based; with count > 1 the first of the segments running together
    segments: int
    step: int  # of a download: bytes so far
    total: int  # of a download: its bytes (0: not a download, or its size is unknown)
    count: int = 1  # segments in this step (long texts in stable mode run as a batch)
    detail: str = ""  # of stage load: "Downloading suno/bark/text_2.pt for the text model: 1.2 of 5.4 GB (22%)"

    def fraction(self) -> float:
        """How much of the whole call (all its segments) is done, 0..1, at this report."""
        stage = SEGMENT_STAGES.index(self.stage) if self.stage in SEGMENT_STAGES else 0
        within = (stage + (self.step / self.total if self.total else 1.0)) / len(SEGMENT_STAGES)
        return (self.segment + self.count * within) / max(self.segments, 1)


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, eq=False)
class SegmentResult:
    index: int
    text: str
    seed: int
    semantic: np.ndarray  # (S,) int64
    coarse: np.ndarray  # (2, T) int64
    fine: np.ndarray  # (8, T) int64
    audio: np.ndarray  # (320 * T,) float32 at 24 kHz
    text_tokens: int  # BERT tokens of the text (only the first 256 are read)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @functools.cached_property
    def voice(self) -> VoicePrompt | None:
        """This segment as a voice prompt; None when Bark produced too little speech to be one.

        Cached: the continuity modes ask for the voices of every earlier segment at each new one."""
        try:
            return VoicePrompt.from_arrays(self.semantic, self.coarse, self.fine, source=f"segment {self.index + 1}")
        except VoiceError:
            return None


@dataclass(frozen=True, eq=False)
class GenerationResult:
    audio: np.ndarray  # float32 mono
    sample_rate: int
    seed: int
    text: str
    voice_name: str | None
    options: GenerationOptions
    segments: tuple[SegmentResult, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    compute_s: float = 0.0  # seconds it took, loading models on first use included (not the wait for the engine)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def timing(self) -> str:
        """How long it took, for people: 'made in 15.3 s (3.1 s per second of audio)'."""
        text = f"made in {self.compute_s:.1f} s"
        return text + (f" ({self.compute_s / self.duration_s:.1f} s per second of audio)" if self.duration_s else "")

    @property
    def voice(self) -> VoicePrompt | None:
        """The voice of what was generated (its last usable segment), to save as a new voice."""
        for segment in reversed(self.segments):
            prompt = segment.voice
            if prompt is not None:
                return prompt
        return None

    def settings(self) -> dict:
        """Everything needed to run this generation again (the JSON saved beside the audio)."""
        return {
            "text": self.text,
            "voice": self.voice_name,
            "seed": self.seed,
            "options": self.options.replace(seed=self.seed).to_dict(),
            "duration_s": round(self.duration_s, 3),
            "segments": [{"text": s.text, "seed": s.seed, "duration_s": round(s.duration_s, 3)} for s in self.segments],
            "warnings": list(self.warnings),
            "compute_s": round(self.compute_s, 2),
        }


def _segment_warnings(result: SegmentResult) -> list[str]:
    n = result.index + 1
    warnings = []
    cut = text_cut(result.text_tokens)
    if cut:
        warnings.append(f"Segment {n} is {cut}. Use a smaller split length.")
    if len(result.semantic) == 0:
        warnings.append(f"Bark produced no speech for segment {n}; try another seed.")
    return warnings


SUNO_ENVIRONMENT = ("SUNO_USE_SMALL_MODELS", "SUNO_OFFLOAD_CPU", "SUNO_ENABLE_MPS")


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The EngineSettings fields that Suno's environment variables ask for, read when called (never at
    import): SUNO_USE_SMALL_MODELS (all three small models), SUNO_OFFLOAD_CPU, SUNO_ENABLE_MPS (the Apple
    GPU, when there is one). 1, true, yes or on switch one on."""
    environ = os.environ if environ is None else environ
    on = {name for name in SUNO_ENVIRONMENT if environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")}
    values: dict[str, object] = {}
    if "SUNO_USE_SMALL_MODELS" in on:
        values.update(small_text=True, small_coarse=True, small_fine=True)
    if "SUNO_OFFLOAD_CPU" in on:
        values["offload_cpu"] = True
    if "SUNO_ENABLE_MPS" in on and torch.backends.mps.is_available():
        values["device"] = "mps"
    return values


def voice_name(voice: str | Path | None) -> str | None:
    """A voice as named (stripped), None for no voice: None, "", "none" or "random" (any case)."""
    if voice is None:
        return None
    name = str(voice).strip()
    return None if name.lower() in NO_VOICE_NAMES else name


def _models_dir(settings: EngineSettings) -> Path | None:
    """The models directory to read (core.hub): a named one must be a folder, or nothing would be read."""
    folder = settings.models_dir or default_models_dir()
    if folder is not None and not Path(folder).expanduser().is_dir():
        named = "The models folder" if settings.models_dir else f"The models folder of {MODELS_DIR_ENV}"
        raise InputError(
            f"{named} {folder} is not a folder: name one that exists (it may be empty), "
            "or none to use the Hugging Face cache",
            "models_dir",
        )
    return folder


def _looks_like_path(name: str) -> bool:
    """A voice given as a file (an .npz, or a name with a folder in it) rather than by name."""
    return Path(name).suffix.lower() == ".npz" or "/" in name or "\\" in name


def clean_text(text: str) -> str:
    """Control characters (other than newlines and tabs) become spaces; empty or huge text is refused."""
    if not isinstance(text, str):
        raise InputError("text must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"The text is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}. Split it into several files."
        )
    text = "".join(" " if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in text)
    if not text.strip():
        raise InputError("The text is empty: type something for Bark to say.")
    return text


class Engine:
    def __init__(self, settings: EngineSettings | None = None):
        self.settings = settings or EngineSettings()
        self._lock = threading.Lock()
        self._running: set[threading.Event] = set()  # the cancel events of the generations under way
        self.watch = LoadingWatch()  # what is being loaded or downloaded now (core.activity)
        self._configure(self.settings)

    def _configure(self, settings: EngineSettings) -> None:
        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device)
        if settings.fast and device.type == "cpu" and dtype != torch.float32:
            raise InputError(
                "Fast mode on the CPU sets its own precision (int8 and bf16 weights): "
                "leave the precision at auto (or float32), or turn fast mode off."
            )
        self.device, self.dtype = device, dtype
        self.locator = ModelLocator(_models_dir(settings), allow_download=settings.allow_download, watch=self.watch)
        self.library = VoiceLibrary(settings.prompts_dir)
        quantize = one_row_weights(settings.quantize) if settings.fast and device.type == "cpu" else "int8"
        self.models = ModelCache(
            self.locator, device, self.dtype, settings.offload_cpu, settings.fast, quantize, self.watch
        )
        self._presets: dict[str, VoicePrompt] = {}  # read through this locator

    def update_settings(self, settings: EngineSettings) -> None:
        """Apply new settings; loaded models are dropped (they reload lazily under the new key)."""
        with self._lock:
            old = self.models
            self._configure(settings)
            self.settings = settings
            old.unload()

    # Voices

    def check_voice(self, voice: str | Path | None, allow_paths: bool = True) -> str | None:
        """The name of the voice `voice` names, checked without loading it: one of Suno's presets, an
        .npz file (allow_paths) or a library voice; None for no voice. VoiceError when it is none of
        these (InputError for a name no voice can have).

        Servers pass allow_paths=False so that a remote user cannot name files on this machine.
        """
        name = voice_name(voice)
        if name is None:
            return None
        if is_preset(name):
            return name
        if _looks_like_path(name):
            if not allow_paths:
                raise VoiceError(f"'{name}' looks like a file path; paths are not accepted here, use a voice name")
            path = Path(name).expanduser()
            if not path.is_file():
                raise VoiceError(f"Voice file not found: {path}")
            return name
        if self.library.exists(name):
            return name
        raise VoiceError(
            f"No voice named '{name}': it is not one of Suno's presets (like v2/en_speaker_6), not an .npz file, "
            "and not in your voice library. Pick one of the presets or of your voices."
        )

    def resolve_voice(
        self, voice: VoicePrompt | str | Path | None, allow_paths: bool = True
    ) -> tuple[VoicePrompt | None, str | None]:
        """(prompt, name) from a VoicePrompt or from what check_voice accepts (a preset name, an .npz
        path, a library name)."""
        if isinstance(voice, VoicePrompt):
            return voice, None
        name = self.check_voice(voice, allow_paths)
        if name is None:
            return None, None
        if is_preset(name):
            if name not in self._presets:
                with self.watch.loading(f"the voice {name}"):
                    self._presets[name] = load_preset(self.locator, name)
            return self._presets[name], name
        if _looks_like_path(name):
            return VoicePrompt.load(Path(name).expanduser()), name
        return self.library.get(name), name

    # Planning

    def plan(self, text: str, options: GenerationOptions | None = None, seed: int = 0) -> list[Segment]:
        """The segments a generation would produce, without generating (a dry run)."""
        options = options or GenerationOptions()
        text = clean_text(text)
        try:
            return split_text(text, options.split, seed=seed)
        except InputError as e:  # a split option that does not work on this text (a pattern that takes too long)
            raise InputError(str(e), e.field and f"split.{e.field}") from None

    # Generation

    def generate(
        self,
        text: str,
        voice: VoicePrompt | str | Path | None = None,
        options: GenerationOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        allow_paths: bool = True,
        on_segment: Callable[[SegmentResult], None] | None = None,
    ) -> GenerationResult:
        """Generate `text` in `voice` (see resolve_voice); long texts are split per options.split.

        on_segment gets each segment as soon as its audio is ready, in order (for streaming).
        """
        options = options or GenerationOptions()
        seed = options.seed if options.seed is not None else secrets.randbelow(MAX_SEED + 1)
        segments = self.plan(text, options, seed)
        cancel = cancel or threading.Event()
        with self._turn(voice, allow_paths, progress, len(segments), cancel) as (base_voice, voice_name):
            started = time.perf_counter()
            results, warnings = self._generate_segments(
                segments, base_voice, options, seed, progress, cancel, on_segment
            )
            compute_s = time.perf_counter() - started
        audio = join_segments([r.audio for r in results], SAMPLE_RATE, options.silence_s, options.crossfade_s)
        return GenerationResult(
            audio=audio,
            sample_rate=SAMPLE_RATE,
            seed=seed,
            text=text,
            voice_name=voice_name,
            options=options,
            segments=tuple(results),
            warnings=tuple(warnings),
            compute_s=compute_s,
        )

    def generate_segments(
        self,
        texts: list[str],
        seeds: list[int],
        voice: VoicePrompt | str | Path | None,
        options: GenerationOptions,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        allow_paths: bool = True,
        on_segment: Callable[[SegmentResult], None] | None = None,
    ) -> list[SegmentResult]:
        """Texts that share one voice prompt, each with its own seed, generated independently of each
        other (in batches of max_batch): the segments of a project. Results in order, index = position
        in `texts`; on_segment gets each as soon as its audio is ready. No splitting and no continuity:
        the caller decides each segment's voice."""
        if len(texts) != len(seeds):
            raise ValueError("one seed per text")
        texts = [" ".join(clean_text(text).split()) for text in texts]
        cancel = cancel or threading.Event()
        results: list[SegmentResult] = []
        size = self.settings.max_batch
        with self._turn(voice, allow_paths, progress, len(texts), cancel) as (prompt, _):
            for first in range(0, len(texts), size):
                batch = list(range(first, min(first + size, len(texts))))
                reporter = _StepReporter(progress, cancel, first, len(batch), len(texts))
                rows = [texts[i] for i in batch]
                for result in self._generate_batch(batch, rows, prompt, options, [seeds[i] for i in batch], reporter):
                    results.append(result)
                    if on_segment is not None:
                        on_segment(result)
        return results

    @contextlib.contextmanager
    def _turn(self, voice, allow_paths: bool, progress: ProgressCallback | None, segments: int, cancel):
        """(prompt, name) of `voice`, resolved before the engine is taken (a preset's first load is
        reported), then the engine held, cancellable, for the block; loads meanwhile reported too."""
        report_loading = _loading_reporter(progress, segments)
        with self.watch.listen(report_loading):
            resolved = self.resolve_voice(voice, allow_paths)
        with self.cancellable(cancel), self._lock, self.watch.listen(report_loading):
            yield resolved

    def _generate_segments(self, segments, base_voice, options, seed, progress, cancel, on_segment):
        results: list[SegmentResult] = []
        warnings: list[str] = []
        for batch in self._batches(len(segments), base_voice, options):
            voice = self._segment_voice(batch[0], base_voice, results, options)
            reporter = _StepReporter(progress, cancel, batch[0], len(batch), len(segments))
            texts = [segments[i].clean for i in batch]
            seeds = [(seed + i) % (MAX_SEED + 1) for i in batch]
            for result in self._generate_batch(batch, texts, voice, options, seeds, reporter):
                warnings += _segment_warnings(result)
                results.append(result)
                if on_segment is not None:
                    on_segment(result)
        return results, warnings

    def _batches(self, n: int, base: VoicePrompt | None, options: GenerationOptions) -> list[list[int]]:
        """Segments generated together. Only in stable mode are segments independent of each other;
        without a base voice the first one runs alone, since the rest speak in its voice."""
        size = self.settings.max_batch
        if options.continuity != "stable" or size == 1:
            return [[i] for i in range(n)]
        first = [[0]] if base is None and n > 0 else []
        rest = range(len(first), n)
        return first + [list(rest[i : i + size]) for i in range(0, len(rest), size)]

    @staticmethod
    def _segment_voice(i: int, base: VoicePrompt | None, done: list[SegmentResult], options: GenerationOptions):
        """The voice prompt of segment i under the continuity mode."""
        previous = next((p for p in (r.voice for r in reversed(done)) if p is not None), None)
        first = next((p for p in (r.voice for r in done) if p is not None), None)
        anchor = base if base is not None else first  # without a voice, the first segment's voice is kept
        if options.continuity == "continuous":
            return previous if previous is not None else base
        if options.continuity == "reset" and i % options.reset_every != 0:
            return previous if previous is not None else anchor
        return anchor

    def _generate_batch(self, indices, texts, voice, options, seeds, reporter) -> Iterator[SegmentResult]:
        """Segments that share a voice, through every stage; yielded one by one as each is decoded."""
        generators = [torch.Generator(device=self.device).manual_seed(seed) for seed in seeds]
        tokenizer = self.models.tokenizer()
        encoded = [encode_text(tokenizer, text) for text in texts]
        text_ids = torch.stack([ids for ids, _ in encoded])
        with autocast(self.device, self.dtype):
            semantic = self._semantic(text_ids, voice, options, generators, reporter)
            coarse = self._coarse(semantic, voice, options, generators, reporter)
            with self.models.use("fine", self.settings.small("fine")) as model:
                fine = [
                    generate_fine(
                        model, c, voice, options.fine_sampling, generator=g, on_step=reporter.stage("fine", b)
                    )
                    for b, (c, g) in enumerate(zip(coarse, generators, strict=True))
                ]
        with self.models.use(CODEC, False) as model:  # one visit to the device for the whole batch
            codec = Codec(model)
            for b, index in enumerate(indices):
                reporter.stage("decode", b)(0, 1)
                audio = codec.decode(fine[b])
                reporter.stage("decode", b)(1, 1)
                yield SegmentResult(
                    index=index,
                    text=texts[b],
                    seed=seeds[b],
                    semantic=semantic[b].numpy(),
                    coarse=coarse[b].numpy(),
                    fine=fine[b].numpy(),
                    audio=audio,
                    text_tokens=encoded[b][1],
                )

    def _semantic(self, text_ids, voice, options, generators, reporter) -> list[torch.Tensor]:
        with self.models.use("text", self.settings.small("text")) as model:
            return generate_semantic(
                model,
                text_ids,
                voice,
                options.text_sampling,
                min_eos_p=options.min_eos_p,
                allow_early_stop=options.allow_early_stop,
                max_tokens=max_semantic_tokens(options.max_duration_s),
                step_mode=self._step_mode(),
                generators=generators,
                on_step=reporter.stage("text"),
            )

    def _coarse(self, semantic, voice, options, generators, reporter) -> list[torch.Tensor]:
        with self.models.use("coarse", self.settings.small("coarse")) as model:
            return generate_coarse(
                model,
                semantic,
                voice,
                options.coarse_sampling,
                history=options.coarse_history,
                window=options.coarse_window,
                step_mode=self._step_mode(),
                generators=generators,
                on_step=reporter.stage("coarse"),
            )

    # One stage at a time (Suno's lower-level functions: bark_studio.suno). Each draws from `generator`
    # (None: torch's global generator, as Suno's do), so stages run in turn with one generator seeded S
    # give what generate() gives for seed S.

    def text_to_semantic(self, text: str, voice=None, options=None, generator=None, on_step=None) -> np.ndarray:
        """Text -> (S,) int64 semantic tokens (stage 1), per options' text sampling and end rules."""
        ids, _ = encode_text(self.models.tokenizer(), text)
        with self._one_stage(voice, options) as (prompt, options):
            return self._semantic(ids[None], prompt, options, [generator], _StepHook(on_step))[0].numpy()

    def semantic_to_coarse(self, semantic, voice=None, options=None, generator=None, on_step=None) -> np.ndarray:
        """(S,) semantic tokens -> (2, T) coarse codes (stage 2), with options' window and history."""
        tokens = torch.as_tensor(np.asarray(semantic, dtype=np.int64))
        with self._one_stage(voice, options) as (prompt, options):
            return self._coarse([tokens], prompt, options, [generator], _StepHook(on_step))[0].numpy()

    def coarse_to_fine(self, coarse, voice=None, options=None, generator=None, on_step=None) -> np.ndarray:
        """(2, T) coarse codes -> (8, T) fine codes (stage 3), at options' fine temperature."""
        codes = torch.as_tensor(np.asarray(coarse, dtype=np.int64))
        with (
            self._one_stage(voice, options) as (prompt, options),
            self.models.use("fine", self.settings.small("fine")) as model,
        ):
            fine = generate_fine(model, codes, prompt, options.fine_sampling, generator=generator, on_step=on_step)
        return fine.numpy()

    @contextlib.contextmanager
    def _one_stage(self, voice, options: GenerationOptions | None):
        """(prompt, options) for one stage run on its own: the voice resolved, then the engine held, in autocast."""
        prompt, _ = self.resolve_voice(voice)
        with self._lock, autocast(self.device, self.dtype):
            yield prompt, options or GenerationOptions()

    def _step_mode(self) -> str:
        return "graph" if self.device.type == "cuda" and self.settings.cuda_graphs else "eager"

    def decode(self, fine: torch.Tensor | np.ndarray) -> np.ndarray:
        """(8, T) codes -> float32 audio at 24 kHz (also used to preview a voice's own prompt)."""
        with self.models.use(CODEC, False) as model:
            return Codec(model).decode(fine)

    # Models

    def missing_model_files(self) -> list[HubFile]:
        """The model files of the current settings not on this machine yet (fetched on first use when
        downloads are allowed); of alternatives (safetensors or .bin), the one that would be fetched."""
        local = self.locator.local_path
        return [files[0] for files in model_files(self.settings.small) if not any(local(f) for f in files)]

    def preload(self) -> None:
        """Load every model now instead of on first use."""
        self.models.tokenizer()
        for stage in STAGES:
            self.models.get(stage, self.settings.small(stage))
        self.models.get(CODEC, False)

    def unload(self) -> None:
        self.models.unload()

    def status(self) -> dict:
        """What /health reports of the engine: its device, the models in memory, what loads now
        (a first run reads or downloads models for minutes: which file, how far). Never waits for a load."""
        loaded = sorted({key.stage for key in self.models.loaded()})
        loading = self.watch.current
        return {
            "device": str(self.device),
            "models_loaded": bool(loaded),
            "models": loaded,
            "loading": loading.as_dict() if loading is not None else None,
        }

    @contextlib.contextmanager
    def cancellable(self, cancel: threading.Event) -> Iterator[None]:
        """Work on this engine (a generation, a clone) that `cancel` stops: cancel_running sets it."""
        self._running.add(cancel)
        try:
            yield
        finally:
            self._running.discard(cancel)

    def cancel_running(self) -> int:
        """Cancel all work under way or waiting for the engine (a server shutting down); each
        stops within one step. Returns how many were cancelled."""
        running = list(self._running)
        for cancel in running:
            cancel.set()
        return len(running)


@dataclass(frozen=True)
class _StepHook:
    """A _StepReporter's `stage` for a caller that gives one step hook for every stage."""

    on_step: Callable[[int, int], None] | None

    def stage(self, name: str, row: int | None = None) -> Callable[[int, int], None] | None:
        return self.on_step


def _loading_reporter(progress: ProgressCallback | None, segments: int) -> Callable[[Loading], None]:
    """A generation's progress told what the engine loads (a first run's downloads take minutes)."""

    def report(loading: Loading) -> None:
        if progress is not None:
            progress(
                Progress("load", 0, segments, loading.done_bytes, loading.total_bytes or 0, detail=loading.message())
            )

    return report


@dataclass(frozen=True)
class _StepReporter:
    """Makes each stage's step hook: it reports progress and stops the generation when cancel is set."""

    progress: ProgressCallback | None
    cancel: threading.Event | None
    first: int  # index of the batch's first segment
    count: int  # segments in the batch
    segments: int

    def stage(self, name: str, row: int | None = None) -> Callable[[int, int], None]:
        """The hook of a stage run for the whole batch, or for one row of it."""
        segment, count = (self.first, self.count) if row is None else (self.first + row, 1)

        def on_step(step: int, total: int) -> None:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("Generation cancelled.")
            if self.progress is not None:
                self.progress(Progress(name, segment, self.segments, step, total, count))

        return on_step

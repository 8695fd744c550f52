"""Command-line generation: text (or a file of prompts) -> audio files with their settings beside them.

    python bark_perform.py --text "Hello there." --voice v2/en_speaker_6 --seed 1
    python bark_perform.py --prompt-file lines.txt --iterations 3 --format flac
    python bark_perform.py --list-voices
    python bark_perform.py --text "A long text..." --dry-run

Each output is `<timestamp>_<slug of the text>.<format>` in --output-dir, with a `.json` beside it
holding the text, the voice, every setting and the seed, enough to generate it again exactly.
There is one flag per field of GenerationOptions and SplitOptions; their defaults come from
those dataclasses, and their values are validated there.

Exit status: 0 done; 2 bad arguments or input (one line on stderr); 1 any other failure,
including a missing model file or Ctrl-C ("cancelled").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core.audio import AUDIO_FORMATS, check_format
from core.devices import DEVICES, DTYPES
from core.engine import MAX_BATCH, Engine, EngineSettings, GenerationResult, Progress
from core.errors import BarkError, Cancelled, InputError
from core.library import VoiceLibrary, sanitize_voice_name
from core.options import CONTINUITY_MODES, MAX_SEED, GenerationOptions
from core.outputs import estimate_seconds, write_outputs
from core.presets import presets_by_language
from core.textsplit import SPLIT_MODES, Segment, SplitOptions, pattern_spans

PROG = "bark_perform.py"
DEFAULT_OUTPUT_DIR = Path("outputs")
_BLANK_LINES = re.compile(r"\n[^\S\n]*\n")  # prompts in a --prompt-file, by default


# Flags of the generation options


def _optional(convert: Callable[[str], float]) -> Callable[[str], float | None]:
    """An argparse type that also accepts "none" (meaning: off / argmax / Bark's default)."""

    def parse(text: str) -> float | None:
        if text.strip().lower() == "none":
            return None
        try:
            return convert(text)
        except ValueError:
            kind = "a whole number" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind} or 'none', got {text!r}") from None

    parse.metavar = ("N" if convert is int else "X") + "|none"
    return parse


@dataclass(frozen=True)
class _Flag:
    """One command-line flag for one options field; `kind` bool makes a --x / --no-x pair."""

    field: str
    flag: str
    kind: Callable[[str], object] | type[bool]
    help: str
    metavar: str | None = None  # default: from the kind (X for a number, N for a whole number)


# GenerationOptions fields, by help group. The argparse dest is the field name.
_GENERATION_FLAGS: dict[str, tuple[_Flag, ...]] = {
    "seed": (
        _Flag("seed", "--seed", _optional(int), "the same seed and settings give the same audio (default: random)"),
    ),
    "text (semantic) stage": (
        _Flag("text_temp", "--text-temp", float, "temperature: higher is more varied, lower more stable"),
        _Flag(
            "text_top_k", "--text-top-k", _optional(int), "sample from the K likeliest tokens only (default: none, all)"
        ),
        _Flag(
            "text_top_p",
            "--text-top-p",
            _optional(float),
            "sample from the likeliest tokens holding P (default: none, off)",
        ),
        _Flag("min_eos_p", "--min-eos-p", float, "end a segment once end-of-speech is at least this likely"),
        _Flag("allow_early_stop", "--early-stop", bool, "let a segment end when Bark is done speaking"),
        _Flag(
            "max_duration_s",
            "--max-duration",
            _optional(float),
            "cap on each segment, seconds (default: none, Bark's ~15 s)",
        ),
    ),
    "coarse stage": (
        _Flag("waveform_temp", "--waveform-temp", float, "temperature of the coarse (waveform) stage"),
        _Flag(
            "coarse_top_k",
            "--coarse-top-k",
            _optional(int),
            "sample from the K likeliest tokens only (default: none, all)",
        ),
        _Flag(
            "coarse_top_p",
            "--coarse-top-p",
            _optional(float),
            "sample from the likeliest tokens holding P (default: none, off)",
        ),
        _Flag("coarse_history", "--coarse-history", int, "coarse tokens of context each window sees"),
        _Flag("coarse_window", "--coarse-window", int, "steps per sliding window"),
    ),
    "fine stage and engine": (
        _Flag("fine_temp", "--fine-temp", _optional(float), "temperature of the fine stage ('none': argmax)"),
        _Flag("use_kv_cache", "--kv-cache", bool, "reuse attention keys and values between steps (faster)"),
    ),
    "long text": (
        _Flag("continuity", "--continuity", str, f"voice across segments: {' | '.join(CONTINUITY_MODES)}", "MODE"),
        _Flag("reset_every", "--reset-every", int, "with --continuity reset: back to the voice every N segments"),
        _Flag("silence_s", "--silence", float, "seconds of silence between segments"),
        _Flag("crossfade_s", "--crossfade", float, "seconds of crossfade between neighbouring parts"),
    ),
}

# SplitOptions fields. The argparse dest is "split_" + the field name.
_SPLIT_FLAGS: tuple[_Flag, ...] = (
    _Flag("mode", "--split-mode", str, f"how to cut long text: {' | '.join(SPLIT_MODES)}", "MODE"),
    _Flag("goal_length", "--split-goal", int, "target segment size (characters; words in mode 'word')"),
    _Flag("max_length", "--split-max", int, "hard cap on a segment, characters"),
    _Flag("jitter", "--split-jitter", float, "vary each segment's goal by up to this fraction (0..0.5)"),
    _Flag("separator", "--split-separator", str, "with --split-mode separator: cut after this string", "STR"),
    _Flag("pattern", "--split-regex", str, "with --split-mode regex: cut after each match of this regex", "RE"),
)


def _field_defaults(cls: type) -> dict[str, object]:
    return {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(cls)
    }


def _add_flags(group: argparse._ArgumentGroup, flags: tuple[_Flag, ...], defaults: dict, prefix: str = "") -> None:
    for spec in flags:
        dest, default = prefix + spec.field, defaults[spec.field]
        if spec.kind is bool:
            group.add_argument(
                spec.flag, dest=dest, action=argparse.BooleanOptionalAction, default=default, help=spec.help
            )
        else:
            metavar = spec.metavar or getattr(spec.kind, "metavar", {int: "N", float: "X"}.get(spec.kind))
            group.add_argument(spec.flag, dest=dest, type=spec.kind, default=default, metavar=metavar, help=spec.help)


def _flag_names() -> dict[str, str]:
    """Field name -> its flag, to name the flag in validation messages."""
    names = {s.field: s.flag for flags in _GENERATION_FLAGS.values() for s in flags}
    names.update({s.field: s.flag for s in _SPLIT_FLAGS if s.field not in names})
    return names


# The parser


class _UsageError(Exception):
    """A bad command line; reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage and exits; we want one line
        raise _UsageError(f"{message} (see --help)")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == "" or action.help is None:
            return action.help
        return super()._get_help_string(action)


def _positive_int(text: str, most: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or (most is not None and value > most):
        wanted = "of 1 or more" if most is None else f"from 1 to {most}"
        raise argparse.ArgumentTypeError(f"expected a whole number {wanted}, got {text!r}")
    return value


def _batch_size(text: str) -> int:
    return _positive_int(text, MAX_BATCH)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__, formatter_class=_HelpFormatter)
    _add_input_args(parser)
    _add_voice_and_output_args(parser)
    defaults = _field_defaults(GenerationOptions)
    for title, flags in _GENERATION_FLAGS.items():
        _add_flags(parser.add_argument_group(title), flags, defaults)
    split_group = parser.add_argument_group("splitting long text into segments")
    _add_flags(split_group, _SPLIT_FLAGS, _field_defaults(SplitOptions), prefix="split_")
    _add_model_args(parser)
    return parser


def _add_input_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--text", help="the text to speak")
    source.add_argument("--prompt-file", type=Path, metavar="FILE", help="a UTF-8 file of prompts, one output each")
    split = group.add_mutually_exclusive_group()
    split.add_argument("--prompt-separator", metavar="STR", help="prompts in --prompt-file are separated by STR")
    split.add_argument("--prompt-regex", metavar="RE", help="prompts in --prompt-file are separated by matches of RE")
    group.add_argument("--iterations", type=_positive_int, default=1, metavar="N", help="outputs per prompt")
    group.add_argument("--dry-run", action="store_true", help="print the segments and their estimated length only")


def _add_voice_and_output_args(parser: argparse.ArgumentParser) -> None:
    voice = parser.add_argument_group("voice")
    voice.add_argument("--voice", metavar="NAME|PATH", help="a Suno preset, a library voice or an .npz file")
    voice.add_argument("--list-voices", action="store_true", help="list the presets and your voice library")
    voice.add_argument("--save-voice", metavar="NAME", help="save the generated voice into the library as NAME")
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, metavar="DIR", help="where outputs go")
    output.add_argument("--format", choices=AUDIO_FORMATS, default="wav", help="audio file format")
    output.add_argument("--quiet", action="store_true", help="no progress bars and no timing line")


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    defaults = _field_defaults(EngineSettings)
    group = parser.add_argument_group("models and device")
    group.add_argument("--models-dir", type=Path, metavar="DIR", help="folder of model files (default: HF cache)")
    group.add_argument("--prompts-dir", type=Path, default=defaults["prompts_dir"], metavar="DIR", help="voice library")
    group.add_argument("--device", default=defaults["device"], metavar="|".join(DEVICES), help="compute device")
    group.add_argument("--dtype", default=defaults["dtype"], metavar="|".join(DTYPES), help="compute precision")
    group.add_argument("--small-models", action="store_true", help="the small model for all three stages")
    for stage in ("text", "coarse", "fine"):
        group.add_argument(f"--small-{stage}", action="store_true", help=f"the small model for the {stage} stage")
    group.add_argument("--offload-cpu", action="store_true", help="keep models on the CPU between stages")
    group.add_argument(
        "--fast",
        action="store_true",
        help="int8/bf16 weights: about 2x faster on a CPU; logits move 1-2%%, so a seed sounds different",
    )
    group.add_argument(
        "--max-batch",
        type=_batch_size,
        default=defaults["max_batch"],
        metavar="N",
        help="segments of a long text generated together (stable continuity); 1 = one at a time",
    )
    group.add_argument(
        "--cuda-graphs", action="store_true", help="on a CUDA GPU, replay decode steps as CUDA graphs (opt-in)"
    )
    group.add_argument("--offline", action="store_true", help="never download; fail if a model file is missing")


# From arguments to settings


def options_from_args(args: argparse.Namespace) -> GenerationOptions:
    """The GenerationOptions the parsed flags describe (validated there: InputError when out of range)."""
    split = SplitOptions(**{s.field: getattr(args, "split_" + s.field) for s in _SPLIT_FLAGS})
    fields = [s.field for flags in _GENERATION_FLAGS.values() for s in flags]
    return GenerationOptions(split=split, **{name: getattr(args, name) for name in fields})


def settings_from_args(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(
        models_dir=args.models_dir,
        prompts_dir=args.prompts_dir,
        device=args.device,
        dtype=args.dtype,
        small_text=args.small_models or args.small_text,
        small_coarse=args.small_models or args.small_coarse,
        small_fine=args.small_models or args.small_fine,
        offload_cpu=args.offload_cpu,
        max_batch=args.max_batch,
        fast=args.fast,
        cuda_graphs=args.cuda_graphs,
        allow_download=not args.offline,
    )


def _check_args(args: argparse.Namespace) -> None:
    if args.list_voices:
        return
    if args.text is None and args.prompt_file is None:
        raise _UsageError("give --text or --prompt-file (or --list-voices); see --help")
    if args.prompt_file is None and (args.prompt_separator is not None or args.prompt_regex is not None):
        raise _UsageError("--prompt-separator and --prompt-regex apply only to --prompt-file")


def _options(args: argparse.Namespace) -> GenerationOptions:
    """options_from_args, with a bad value's message naming its flag."""
    try:
        return options_from_args(args)
    except InputError as e:
        raise InputError(_with_flag(e), e.field) from e


def _with_flag(error: InputError) -> str:
    """'text_temp must be ... or empty, got -1' -> '--text-temp must be ... or 'none', got -1' (the
    error's field, as data, named by its flag)."""
    message = str(error).replace(" or empty,", " or 'none',")
    flag = _flag_names().get(error.field or "")
    if flag is None:
        return message
    return flag + message.removeprefix(error.field) if message.startswith(error.field) else f"{flag}: {message}"


# Prompts


def read_prompts(path: Path, separator: str | None = None, regex: str | None = None) -> list[str]:
    """The prompts of a UTF-8 file: split by blank lines, or by `separator`, or by matches of `regex`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"cannot read the prompt file {path}: it is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read the prompt file {path}: {e.strerror or e}") from None
    if separator is not None:
        if not separator:
            raise InputError("--prompt-separator must not be empty")
        pieces = text.split(separator)
    else:
        pieces = _split_on_matches(text, regex)
    prompts = [p.strip() for p in pieces if p.strip()]
    if not prompts:
        raise InputError(f"the prompt file {path} holds no prompts")
    return prompts


def _split_on_matches(text: str, regex: str | None) -> list[str]:
    """Text cut at each non-empty match of `regex` (blank lines by default); the matches are dropped.
    The user's pattern runs bounded, like split mode regex (core.textsplit.pattern_spans)."""
    if regex is None:
        spans = [m.span() for m in _BLANK_LINES.finditer(text)]
    else:
        try:
            spans = list(pattern_spans(regex, text, empty_ok=True))
        except InputError as e:
            raise InputError(f"--prompt-regex: {e}") from None
    pieces, start = [], 0
    for match_start, match_end in spans:
        if match_end > match_start:
            pieces.append(text[start:match_start])
            start = match_end
    pieces.append(text[start:])
    return pieces


def _prompts(args: argparse.Namespace) -> list[str]:
    if args.prompt_file is None:
        return [args.text]
    return read_prompts(args.prompt_file, args.prompt_separator, args.prompt_regex)


# Progress and cancel


class TqdmProgress:
    """Engine progress as tqdm bars on stderr: one bar per stage of each segment."""

    def __init__(self, label: str = ""):
        self.label = label
        self._bar: tqdm | None = None
        self._key: tuple[int, str] | None = None

    def __call__(self, p: Progress) -> None:
        if (p.segment, p.stage) != self._key:
            self.finish()
            self._key = (p.segment, p.stage)
            which = f"{p.segment + 1}" if p.count == 1 else f"{p.segment + 1}-{p.segment + p.count}"
            desc = f"{self.label}segment {which}/{p.segments} {p.stage}"
            self._bar = tqdm(total=p.total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)
        self._bar.update(p.step - self._bar.n)

    def finish(self, complete: bool = True) -> None:
        """Close the current bar; complete: as done (the text stage may end before its maximum)."""
        if self._bar is not None:
            if complete:
                self._bar.total = self._bar.n
            self._bar.close()
        self._bar, self._key = None, None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.finish(complete=kind is None)


@contextlib.contextmanager
def _cancel_on_interrupt() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C (the engine stops within a step); a second one interrupts at once."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def on_interrupt(signum, frame) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


# Commands


def list_voices(library: VoiceLibrary) -> None:
    print("Suno presets (--voice NAME):")
    for language, names in presets_by_language().items():
        lines = textwrap.wrap(" ".join(names), width=100, subsequent_indent=" " * 4)
        print(f"  {language}:")
        print("    " + "\n".join(lines))
    voices = library.list()
    print(f"\nYour voice library ({library.root}): {len(voices)} voice(s)")
    for info in voices:
        details = ", ".join(f"{k} {v}" for k, v in (("created", info.created), ("source", info.source)) if v)
        print(f"  {info.name}" + (f"  ({details})" if details else ""))


def print_plan(prompts: list[str], plans: list[list[Segment]]) -> None:
    """The dry run: each prompt's segments with their estimated seconds of speech."""
    for i, segments in enumerate(plans):
        total = sum(estimate_seconds(s) for s in segments)
        print(f"prompt {i + 1}/{len(prompts)}: {len(segments)} segment(s), about {total:.1f} s")
        for n, segment in enumerate(segments, 1):
            print(f"  {n:>3}. [~{estimate_seconds(segment):4.1f} s] {segment.clean}")


def _check_save_voice(args: argparse.Namespace, engine: Engine, n_outputs: int) -> str | None:
    """The checked --save-voice name, refused before anything is generated."""
    if args.save_voice is None:
        return None
    name = sanitize_voice_name(args.save_voice)
    if n_outputs != 1:
        raise InputError(f"--save-voice saves the voice of one generation, but this run makes {n_outputs}")
    if engine.library.exists(name):
        raise InputError(f"a voice named {name!r} is already in {engine.library.root}; choose another --save-voice")
    return name


def save_voice(engine: Engine, name: str, result: GenerationResult, record: dict) -> Path:
    prompt = result.voice
    if prompt is None:
        raise BarkError("Bark produced too little speech to save as a voice; try another seed or a longer text")
    metadata = {"source": "bark_perform", "text": result.text, "voice": result.voice_name, "seed": result.seed}
    return engine.library.save(name, prompt, {**metadata, "settings": record}).path


def _jobs(prompts: list[str], iterations: int, seed: int | None) -> list[tuple[str, int | None]]:
    """(text, seed) of every output: seeds seed, seed+1, ... for each prompt when a seed is given."""
    return [
        (text, None if seed is None else (seed + k) % (MAX_SEED + 1)) for text in prompts for k in range(iterations)
    ]


def generate_all(args: argparse.Namespace, engine: Engine, prompts: list[str], options: GenerationOptions) -> None:
    voice_name = _check_save_voice(args, engine, len(prompts) * args.iterations)
    engine.resolve_voice(args.voice)  # an unknown voice fails before any model is loaded
    jobs = _jobs(prompts, args.iterations, options.seed)
    with _cancel_on_interrupt() as cancel:
        for n, (text, seed) in enumerate(jobs, 1):
            if cancel.is_set():
                raise Cancelled("cancelled")
            label = f"[{n}/{len(jobs)}] " if len(jobs) > 1 else ""
            with contextlib.nullcontext() if args.quiet else TqdmProgress(label) as progress:
                result = engine.generate(text, args.voice, options.replace(seed=seed), progress, cancel)
            for warning in result.warnings:
                print(f"{PROG}: warning: {warning}", file=sys.stderr)
            audio, sidecar, record = write_outputs(result, engine, args.output_dir, args.format)
            if not args.quiet:
                print(f"{PROG}: {result.duration_s:.1f} s of audio, {result.timing()}", file=sys.stderr)
            print(audio, sidecar, sep="\n", flush=True)
            if voice_name is not None:
                print(save_voice(engine, voice_name, result, record), flush=True)


def run(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    if args.list_voices:
        list_voices(VoiceLibrary(settings.prompts_dir))
        return
    options = _options(args)
    check_format(args.format)  # a format this machine cannot write fails now, not after generating
    prompts = _prompts(args)
    engine = Engine(settings)
    plans = [engine.plan(text, options, options.seed or 0) for text in prompts]  # checks every prompt first
    if args.dry_run:
        print_plan(prompts, plans)
        return
    generate_all(args, engine, prompts, options)


def _fail(status: int, message: str) -> int:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _check_args(args)
        run(args)
        return 0
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (_UsageError, InputError) as e:
        return _fail(2, f"error: {e}")
    except (Cancelled, KeyboardInterrupt):
        return _fail(1, "cancelled")
    except BarkError as e:
        return _fail(1, f"error: {e}")
    except BrokenPipeError:  # e.g. `--list-voices | head`: stop quietly, and let exit not flush again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        return _fail(1, f"error: {e}")


if __name__ == "__main__":
    sys.exit(main())

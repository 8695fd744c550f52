"""Command-line generation: text (or a file of prompts) -> audio files with their settings beside them.

    python bark_perform.py --text "Hello there." --voice v2/en_speaker_6 --seed 1
    python bark_perform.py --prompt-file lines.txt --iterations 3 --format flac
    python bark_perform.py --list-voices
    python bark_perform.py --text "A long text..." --dry-run
    python bark_perform.py --project book --prompt-file book.txt --voice v2/en_speaker_6 --subtitles srt,vtt

Each output is `<timestamp>_<slug of the text>.<format>` in --output-dir, with a `.json` beside it
holding the text, the voice, every setting and the seed, enough to generate it again exactly, and
an `.npz` of the output's own voice (--no-voice-file: without), usable as --voice PATH.
With --project DIR a long text or a dialogue script is a project kept in DIR: generated segment by
segment (resumed where a killed or cancelled run stopped), reviewed (--list), re-rolled (--reroll) and
exported with subtitles (see the group "long-form projects" below, and perform_projects.py).
There is one flag per field of GenerationOptions and SplitOptions; their defaults come from
those dataclasses, and their values are validated there.

Exit status: 0 done; 2 bad arguments or input (one line on stderr); 1 any other failure,
including a missing model file or Ctrl-C ("cancelled"; a project's run says how to resume it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from core.audio import AUDIO_FORMATS, check_format
from core.engine import Engine, EngineSettings, GenerationResult, Progress
from core.errors import BarkError, Cancelled, InputError, VoiceError
from core.flags import (
    HelpFormatter,
    add_engine_flags,
    add_flags,
    engine_flag_names,
    engine_settings,
    flag_names,
    flag_values,
    naming_flag,
)
from core.library import VoiceLibrary, sanitize_voice_name
from core.options import MAX_SEED, GenerationOptions
from core.outputs import estimate_seconds, write_outputs
from core.presets import presets_by_language
from core.textsplit import Segment, SplitOptions, pattern_spans
from perform_aliases import add_aliases, apply_aliases
from perform_projects import add_project_args, check_project_args, run_project_command

PROG = "bark_perform.py"
DEFAULT_OUTPUT_DIR = Path("outputs")
_BLANK_LINES = re.compile(r"\n[^\S\n]*\n")  # prompts in a --prompt-file, by default


# Flags of the options (core.flags: one per field, described with the field)

# Flags whose names are shorter than their fields'. The argparse dest is the field name ("split_" + it).
_RENAMED = {
    "allow_early_stop": "--early-stop",
    "max_duration_s": "--max-duration",
    "silence_s": "--silence",
    "crossfade_s": "--crossfade",
}
_SPLIT_RENAMED = {"goal_length": "--split-goal", "max_length": "--split-max", "pattern": "--split-regex"}
SPLIT_PREFIX = "split_"


def _option_dests() -> dict[str, str]:
    """argparse dest -> flag of the generation and split options (what only a new project reads)."""
    split = {SPLIT_PREFIX + k: v for k, v in flag_names(SplitOptions, SPLIT_PREFIX, _SPLIT_RENAMED).items()}
    return {**flag_names(GenerationOptions, renamed=_RENAMED), **split}


def _flag_names() -> dict[str, str]:
    """Field name -> its flag, to name the flag in validation messages."""
    return {
        **engine_flag_names(),
        **flag_names(SplitOptions, SPLIT_PREFIX, _SPLIT_RENAMED),
        **flag_names(GenerationOptions, renamed=_RENAMED),
    }


# The parser


class _UsageError(Exception):
    """A bad command line; reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage and exits; we want one line
        raise _UsageError(f"{message} (see --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    _add_input_args(parser)
    _add_voice_and_output_args(parser)
    add_flags(parser, GenerationOptions, renamed=_RENAMED)
    split_group = parser.add_argument_group("splitting long text into segments")
    add_flags(parser, SplitOptions, group=split_group, prefix=SPLIT_PREFIX, renamed=_SPLIT_RENAMED)
    add_project_args(parser)
    add_engine_flags(parser)
    add_aliases(parser)  # Bark Infinity's flags
    return parser


def _add_input_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--text", help="the text to speak")
    source.add_argument(
        "--prompt-file",
        type=Path,
        metavar="FILE",
        help="a UTF-8 file of prompts, one output each; prompts are separated by blank lines, "
        "or by --prompt-separator / --prompt-regex",
    )
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
    output.add_argument(
        "--voice-file",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep each output's voice as an .npz beside it (use it with --voice PATH, or import it)",
    )
    output.add_argument("--quiet", action="store_true", help="no progress bars and no timing line")


# From arguments to settings


def options_from_args(args: argparse.Namespace) -> GenerationOptions:
    """The GenerationOptions the parsed flags describe (validated there: InputError when out of range)."""
    split = SplitOptions(**flag_values(args, SplitOptions, SPLIT_PREFIX))
    return GenerationOptions(split=split, **flag_values(args, GenerationOptions))


def settings_from_args(args: argparse.Namespace) -> EngineSettings:
    """The EngineSettings of the flags (InputError naming the flag when one is out of range)."""
    try:
        return engine_settings(args)
    except InputError as e:
        raise naming_flag(e, _flag_names()) from e


def _check_args(args: argparse.Namespace) -> None:
    if args.list_voices:
        return
    if args.text is None and args.prompt_file is None and args.project is None:
        raise _UsageError("give --text or --prompt-file (or --project DIR, or --list-voices); see --help")
    if args.prompt_file is None and (args.prompt_separator is not None or args.prompt_regex is not None):
        raise _UsageError("--prompt-separator and --prompt-regex apply only to --prompt-file")


def _options(args: argparse.Namespace) -> GenerationOptions:
    """options_from_args, with a bad value's message naming its flag."""
    try:
        return options_from_args(args)
    except InputError as e:
        raise naming_flag(e, _flag_names()) from e


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
        self._loading = ""  # the last load reported

    def __call__(self, p: Progress) -> None:
        if p.stage == "load":  # a model is read (a line) or downloaded (huggingface_hub draws that bar)
            if not p.detail.startswith("Downloading") and p.detail != self._loading:
                self.finish()
                tqdm.write(f"{self.label}{p.detail} ...", file=sys.stderr)
            self._loading = p.detail
            return
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
    try:
        engine.check_voice(args.voice)  # an unknown voice fails before any model is loaded
    except VoiceError as e:
        raise VoiceError(f"{e} (--list-voices lists them)") from e
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
            audio, sidecar, record = write_outputs(
                result, engine, args.output_dir, args.format, save_voice=args.voice_file
            )
            if not args.quiet:
                print(f"{PROG}: {result.duration_s:.1f} s of audio, {result.timing()}", file=sys.stderr)
            voice_file = [audio.with_name(record["voice_file"])] if "voice_file" in record else []
            print(audio, sidecar, *voice_file, sep="\n", flush=True)
            if voice_name is not None:
                print(save_voice(engine, voice_name, result, record), flush=True)


def run(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    if args.list_voices:
        list_voices(VoiceLibrary(settings.prompts_dir))
        return
    options = _options(args)
    check_format(args.format)  # a format this machine cannot write fails now, not after generating
    prompts = _prompts(args) if args.project is None else []
    try:
        engine = Engine(settings)
    except InputError as e:  # a device that is not here, a models folder that does not exist
        raise naming_flag(e, _flag_names()) from e
    if args.project is not None:
        with _cancel_on_interrupt() as cancel:
            run_project_command(args, engine, options, cancel)
        return
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
        parser = build_parser()
        args = parser.parse_args(argv)
        apply_aliases(parser, args)
        check_project_args(parser, args, _option_dests())
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

"""Command line: clone the voice in an audio clip into the voice library.

    python -m cloning me.wav --name me
    python -m cloning interview.mp3 --name guest --language de --variants 3
    python bark_perform.py --text "Hello." --voice me

Writes PROMPTS/NAME.npz (+ NAME.json), and NAME-2 ... for variants. Exit status: 0 done;
2 a bad argument or input (one line saying what to fix); 1 a model-file or other failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.engine import Engine
from core.errors import BarkError, InputError
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

from .clone import CloneResult, VoiceCloner
from .options import CloneOptions
from .quantizer import QUANTIZERS

PROG = "python -m cloning"
_RENAMED = {"trim_silence": "--trim"}


class _UsageError(Exception):
    """A bad command line; reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage and exits; we want one line
        raise _UsageError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    languages = ", ".join(f"{code} ({spec.display_name})" for code, spec in QUANTIZERS.items())
    parser = _Parser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
        epilog=f"Languages: {languages}. Best clips: 5-15 s of one clean speaker, ending at the end of a sentence.",
    )
    parser.add_argument("clip", type=Path, help="audio file: wav, flac, ogg, opus or mp3 (any rate, mono or stereo)")
    parser.add_argument("--name", required=True, help="name of the new voice in the library")
    add_flags(parser, CloneOptions, group=parser.add_argument_group("cloning"), renamed=_RENAMED)
    parser.add_argument("--overwrite", action="store_true", help="replace voices of the same name")
    add_engine_flags(parser, models=False)
    parser.add_argument("--hubert", type=Path, metavar="PATH", help="HuBERT: a transformers folder or fairseq's .pt")
    parser.add_argument("--quantizer", type=Path, metavar="PATH", help="a quantizer file instead of the language's")
    parser.add_argument("--quiet", action="store_true", help="print only the saved voices")
    return parser


def run(args: argparse.Namespace) -> CloneResult:
    try:
        options = CloneOptions(**flag_values(args, CloneOptions))
        settings = engine_settings(args)
    except InputError as e:
        raise naming_flag(e, {**engine_flag_names(), **flag_names(CloneOptions, renamed=_RENAMED)}) from e
    cloner = VoiceCloner(Engine(settings), hubert_path=args.hubert, quantizer_path=args.quantizer)
    progress = None if args.quiet else _print_stage
    return cloner.clone(args.clip, args.name, options, overwrite=args.overwrite, progress=progress)


def _print_stage(stage: str, fraction: float) -> None:
    if stage != "done":
        print(f"{stage} ...", file=sys.stderr)


def report(result: CloneResult, args: argparse.Namespace) -> None:
    if not args.quiet:
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    for voice in result.voices:
        seconds = voice.metadata.get("duration_s", "?")
        print(f"Saved voice '{voice.name}' ({seconds} s) to {voice.path} (+ {voice.path.with_suffix('.json').name})")
    if not args.quiet:
        library = "" if args.prompts_dir == Path("prompts") else f' --prompts-dir "{args.prompts_dir}"'
        first = result.voices[0].name
        print(f'Use it: python bark_perform.py --voice "{first}"{library} --text "Hello there."', file=sys.stderr)


def _fail(status: int, message: str) -> int:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        report(run(args), args)
        return 0
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (_UsageError, InputError) as e:
        return _fail(2, f"error: {e}")
    except KeyboardInterrupt:
        return _fail(1, "cancelled")
    except (BarkError, OSError) as e:
        return _fail(1, f"error: {e}")


if __name__ == "__main__":
    sys.exit(main())

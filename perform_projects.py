"""Long-form projects from bark_perform.py: a text or a dialogue script kept in a folder, generated segment
by segment (resumed after a kill or Ctrl-C), reviewed, re-rolled and exported (core.projects).

    python bark_perform.py --project book --prompt-file book.txt --voice v2/en_speaker_6   # create, generate, export
    python bark_perform.py --project book                         # resume: generate what is missing, export
    python bark_perform.py --project book --list                  # the segments, their takes and flags
    python bark_perform.py --project book --reroll 3,5-7 --pick 2=1 --text-of 4="New words."
    python bark_perform.py --project book --export --format flac --subtitles srt,vtt --chapters

Segments are numbered from 1, as --list prints them. Every command on a project makes its changes
(--speaker, --voice, --best-of, --pick, --text-of), generates what is missing and what --reroll asks
for, and exports the finished project (--no-export: not); --list and --export generate nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from core.engine import Engine, voice_name
from core.errors import Cancelled, InputError, VoiceError
from core.options import GenerationOptions
from core.projects import Project, ProjectSettings, RunReport, SegmentState, export_project, run_project
from core.projects.run import RunProgress
from core.projects.store import DIALOGUE_MODES, MAX_BEST_OF, PENDING, PROJECT_FILE
from core.script import parse_script
from core.subtitles import SUBTITLE_FORMATS

GROUP = "long-form projects"
PROG = "bark_perform.py"
# Flags that only a new project reads (its text and how it is cut): refused when DIR holds a project.
_CREATE_ONLY = {"text": "--text", "prompt_file": "--prompt-file", "dialogue": "--dialogue"}
# Flags of bark_perform that a project never reads.
_NOT_FOR_PROJECTS = {
    "prompt_separator": "--prompt-separator",
    "prompt_regex": "--prompt-regex",
    "iterations": "--iterations",
    "dry_run": "--dry-run",
    "save_voice": "--save-voice",
    "output_dir": "--output-dir",
    "voice_file": "--voice-file",
}
# Flags that work on a project that exists.
_REVIEW = {"reroll": "--reroll", "text_of": "--text-of", "pick": "--pick", "list": "--list", "export": "--export"}
_CHANGED = ("edited", "not continuous")


# The flags


def add_project_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        GROUP,
        "--project DIR creates a project in DIR from --text or --prompt-file (the whole file, plain text or a "
        "script of 'Name: line' and '[Name] line', '# Title' starting a chapter), or resumes the project DIR "
        "holds. A run that completes ends with an export under DIR/exports/ (--no-export: without); a run "
        "cancelled with Ctrl-C keeps every finished take and exits 1: run the same --project DIR to resume.",
    )
    group.add_argument("--project", type=Path, metavar="DIR", help="the project's folder (created if it has none)")
    group.add_argument(
        "--speaker",
        action="append",
        type=_speaker,
        default=[],
        metavar="NAME=VOICE",
        help="the voice of a script's speaker (repeatable); VOICE 'none': a random voice, kept for that speaker",
    )
    group.add_argument("--dialogue", choices=DIALOGUE_MODES, help="read speaker labels: auto (2 or more), on, off")
    group.add_argument("--best-of", type=_best_of, metavar="N", help="takes a flagged segment gets at most (1-10)")
    group.add_argument("--list", action="store_true", help="print the segments (number, status, speaker, takes, flags)")
    group.add_argument(
        "--reroll",
        action="append",
        default=[],
        metavar="LIST",
        help="a new take of segments: numbers and ranges (3,5-7), 'flagged' or 'changed' (edited, not continuous)",
    )
    group.add_argument(
        "--text-of",
        action="append",
        type=_numbered,
        default=[],
        metavar="N=TEXT",
        help="new text of segment N (re-rolled)",
    )
    group.add_argument(
        "--pick", action="append", type=_numbered, default=[], metavar="N=TAKE", help="keep take TAKE of segment N"
    )
    export = group.add_mutually_exclusive_group()
    export.add_argument("--export", action="store_true", help="only export (the project must be finished)")
    export.add_argument("--no-export", action="store_true", help="generate without exporting at the end")
    group.add_argument(
        "--subtitles",
        action="append",
        type=_subtitle_formats,
        metavar="srt|vtt|none",
        help="subtitle files of the export (repeatable or a comma list; default srt)",
    )
    group.add_argument("--chapters", action="store_true", help="export one audio file per '# section' of the script")


def _speaker(text: str) -> tuple[str, str | None]:
    name, equals, voice = text.partition("=")
    if not equals or not name.strip() or not voice.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VOICE (like Alice=v2/en_speaker_6), got {text!r}")
    voice = voice.strip()
    return " ".join(name.split()), voice_name(voice)


def _numbered(text: str) -> tuple[int, str]:
    number, equals, value = text.partition("=")
    if not equals or not number.strip().isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"expected N=VALUE with N a segment number from 1, got {text!r}")
    return int(number), value


def _best_of(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_BEST_OF:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_BEST_OF}, got {text!r}")
    return int(text)


def _subtitle_formats(text: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    if names == ("none",):
        return ()
    bad = [name for name in names if name not in SUBTITLE_FORMATS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected srt, vtt (or a comma list, or none), got {text!r}")
    return names


def check_project_args(parser: argparse.ArgumentParser, args: argparse.Namespace, option_dests: dict[str, str]) -> None:
    """Refuse what a project would ignore (InputError, one line); option_dests: {dest: flag} of the
    generation and split flags, which only a new project reads."""
    defaults = vars(parser.parse_args([]))  # (parser.get_default may answer an alias's SUPPRESS)
    given = {dest for dest, value in vars(args).items() if value != defaults.get(dest)}
    if args.project is None:
        used = [flag for dest, flag in _project_flags().items() if dest in given and dest != "project"]
        if used:
            raise InputError(f"{used[0]} works on a project: give --project DIR")
        return
    for dest, flag in _NOT_FOR_PROJECTS.items():
        if dest in given:
            raise InputError(f"{flag} does not apply to --project (a project keeps its takes and exports in DIR)")
    exists = (args.project / PROJECT_FILE).is_file()
    if not exists:
        if args.text is None and args.prompt_file is None:
            raise InputError(f"{args.project} holds no project: create one with --text or --prompt-file")
        used = [flag for dest, flag in _REVIEW.items() if dest in given]
        if used:
            raise InputError(f"{used[0]} works on a project that exists; {args.project} holds none yet")
        return
    for dest, flag in _CREATE_ONLY.items():
        if dest in given:
            raise InputError(
                f"{flag}: {args.project} holds a project already, which keeps its text; change a segment with "
                "--text-of N=TEXT, or create a new project in another folder"
            )
    for dest, flag in option_dests.items():
        if dest in given:
            raise InputError(
                f"{flag}: the project in {args.project} keeps the options it was created with; create a new "
                "project to change them (--voice, --speaker and --best-of do change a project)"
            )
    if args.list and given & {"reroll", "text_of", "export", "no_export"}:
        raise InputError("--list only prints the segments; give --reroll, --text-of or --export without it")
    if args.export and given & {"reroll", "text_of"}:
        raise InputError("--export generates nothing; give --reroll or --text-of without it (the run exports)")


def _project_flags() -> dict[str, str]:
    return {
        "project": "--project",
        "speaker": "--speaker",
        "dialogue": "--dialogue",
        "best_of": "--best-of",
        **_REVIEW,
        "no_export": "--no-export",
        "subtitles": "--subtitles",
        "chapters": "--chapters",
    }


# The command


def run_project_command(args: argparse.Namespace, engine: Engine, options: GenerationOptions, cancel) -> None:
    """Create or open args.project, make the changes the flags ask for, then list, export, or generate
    (and export what is finished)."""
    _check_voices(args, engine)
    project = _open_or_create(args, options)
    _change_settings(project, args)
    reroll = _apply_edits(project, args)
    if args.list:
        print_segments(project)
        return
    if not args.export:
        report = _generate(project, engine, reroll, cancel, quiet=args.quiet)
        print_summary(project, report)
        if report.cancelled:
            pending = sum(state.status == PENDING for state in project.states())
            print(
                f"{PROG}: {pending} segment(s) have no take yet; resume with --project {args.project}", file=sys.stderr
            )
            raise Cancelled("cancelled")
        if args.no_export:
            return
    _export(project, args)


def _check_voices(args: argparse.Namespace, engine: Engine) -> None:
    checks = [("--voice", args.voice)] + [(f"--speaker {name}={voice}", voice) for name, voice in args.speaker]
    for flag, voice in checks:
        try:
            engine.check_voice(voice)
        except VoiceError as e:
            raise VoiceError(f"{flag}: {e} (--list-voices lists them)") from e


def _open_or_create(args: argparse.Namespace, options: GenerationOptions) -> Project:
    if (args.project / PROJECT_FILE).is_file():
        return Project.open(args.project)
    text = args.text if args.prompt_file is None else _read_text(args.prompt_file)
    settings = ProjectSettings(
        voice=voice_name(args.voice),
        speakers=dict(args.speaker),
        options=options,
        dialogue=args.dialogue or "auto",
        best_of=args.best_of or 1,
        name=args.project.resolve().name[:200],
    )
    speakers = {line.speaker for line in parse_script(text, settings.dialogue) if line.speaker is not None}
    _refuse_unknown(sorted(s for s in speakers if not settings.speaker_voice(s)[0]))  # before anything is written
    project = Project.create(args.project, text, settings)
    print(f"{PROG}: created the project {project.name!r} in {project.folder}: {len(project.segments())} segment(s)")
    return project


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"cannot read the prompt file {path}: it is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read the prompt file {path}: {e.strerror or e}") from None


def _refuse_unknown(unknown: list[str]) -> None:
    if unknown:
        flags = " ".join(f'--speaker "{n}=VOICE"' if " " in n else f"--speaker {n}=VOICE" for n in unknown)
        raise InputError(
            f"these speakers have no voice: {', '.join(unknown)}; give each one with {flags} "
            "(a voice name, or none for a random one)",
            "speakers",
        )


def _change_settings(project: Project, args: argparse.Namespace) -> None:
    """--voice, --speaker and --best-of on a project that exists (a new one has them already)."""
    old = project.settings
    changes: dict = {}
    if args.voice is not None and voice_name(args.voice) != old.voice:
        changes["voice"] = voice_name(args.voice)
    if args.speaker:
        speakers = dict(old.speakers)
        for name, voice in args.speaker:
            speakers = {k: v for k, v in speakers.items() if k.casefold() != name.casefold()}
            speakers[name] = voice
        if speakers != dict(old.speakers):
            changes["speakers"] = speakers
    if args.best_of is not None and args.best_of != old.best_of:
        changes["best_of"] = args.best_of
    if changes:
        project.update_settings(**changes)


def _apply_edits(project: Project, args: argparse.Namespace) -> list[str]:
    """--pick and --text-of made; the ids of the segments to re-roll (--reroll, and the edited ones)."""
    states = project.states()
    for number, take in args.pick:
        segment = _segment(states, number, "--pick").segment
        if not take.strip().isdigit() or not any(t.number == int(take) for t in segment.takes):
            have = ", ".join(str(t.number) for t in segment.takes) or "none yet"
            raise InputError(f"--pick {number}={take}: segment {number} has no take {take.strip()} (its takes: {have})")
        project.choose(segment.id, int(take))
    reroll = [state.segment.id for state in _reroll_states(project.states(), args.reroll)]
    for number, text in args.text_of:
        segment = _segment(states, number, "--text-of").segment
        try:
            project.edit(segment.id, text=text)
        except InputError as e:
            raise InputError(f"--text-of {number}: {e}") from e
        if segment.takes:  # a pending one is generated anyway
            reroll.append(segment.id)
    return list(dict.fromkeys(reroll))


def _segment(states: list[SegmentState], number: int, flag: str) -> SegmentState:
    if not 1 <= number <= len(states):
        raise InputError(f"{flag}: there is no segment {number}; the project has 1 to {len(states)} (see --list)")
    return states[number - 1]


def _reroll_states(states: list[SegmentState], lists: list[str]) -> list[SegmentState]:
    """The segments of --reroll values: '3,5-7', 'flagged', 'changed'."""
    chosen: dict[int, SegmentState] = {}
    for item in (part.strip().lower() for text in lists for part in text.split(",")):
        if item == "flagged":
            chosen.update((s.index, s) for s in states if s.flags)
        elif item == "changed":
            chosen.update((s.index, s) for s in states if s.status in _CHANGED)
        else:
            first, dash, last = item.partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                raise InputError(f"--reroll: expected segment numbers like 3,5-7, 'flagged' or 'changed'; got {item!r}")
            low, high = int(first), int(last) if dash else int(first)
            if low > high:
                raise InputError(f"--reroll: the range {item} runs backwards; write {high}-{low}")
            for number in (low, high):
                _segment(states, number, "--reroll")
            chosen.update((n - 1, states[n - 1]) for n in range(low, high + 1))
    return [chosen[i] for i in sorted(chosen)]


def _generate(project: Project, engine: Engine, reroll: list[str], cancel: threading.Event, quiet: bool) -> RunReport:
    _refuse_unknown(project.unknown_speakers())
    with TakePrinter(project, quiet) as progress:
        return run_project(engine, project, reroll, progress, cancel)


def _export(project: Project, args: argparse.Namespace) -> None:
    subtitles = ("srt",) if args.subtitles is None else tuple(dict.fromkeys(f for fs in args.subtitles for f in fs))
    result = export_project(project, args.format, subtitles, chapters=args.chapters)
    for note in result.notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    print(f"exported {result.duration_s:.1f} s to {result.folder}:")
    print(*result.audio, *result.subtitles, result.timeline, sep="\n", flush=True)


# Printing


class TakePrinter:
    """A run's progress: one tqdm bar of takes on stderr (unless quiet), and a line on stdout for each
    take as it is made (segment n of N, its seconds, its flags in words)."""

    def __init__(self, project: Project, quiet: bool):
        self.project = project
        self.quiet = quiet
        self._bar: tqdm | None = None
        self._takes = {s.id: len(s.takes) for s in project.segments()}
        self._done = 0

    def __call__(self, p: RunProgress) -> None:
        if p.done != self._done:
            self._done = p.done
            self._print_new_takes()
        if self.quiet:
            return
        if self._bar is None:
            self._bar = tqdm(total=p.total, desc="takes", unit="take", file=sys.stderr, dynamic_ncols=True)
        self._bar.total = p.total
        self._bar.n = p.done
        step = p.step
        where = f"segment {p.index + 1}" + (f" {step.stage} {step.step}/{step.total}" if step and step.total else "")
        self._bar.set_postfix_str(where, refresh=True)

    def _print_new_takes(self) -> None:
        states = self.project.states()
        for state in states:
            segment = state.segment
            if len(segment.takes) > self._takes.get(segment.id, 0):
                self._takes[segment.id] = len(segment.takes)
                take = segment.takes[-1]
                line = f"segment {state.index + 1}/{len(states)}: take {take.number}, {take.duration_s:.1f} s"
                line += f" (made in {take.compute_s:.1f} s)"
                line += "".join(f"\n  flagged: {flag.message}" for flag in take.flags)
                tqdm.write(line, file=sys.stdout)

    def __enter__(self) -> TakePrinter:
        return self

    def __exit__(self, *exc) -> None:
        self._print_new_takes()
        if self._bar is not None:
            self._bar.close()


def print_segments(project: Project) -> None:
    """--list: one line per segment: number, status, speaker, chosen take / takes, flags, text."""
    states = project.states()
    print(f"{project.name} ({project.folder}): {len(states)} segment(s)")
    print(f"{'#':>4}  {'status':<14}  {'speaker':<12}  {'take':<5}  {'flags':<20}  text")
    for state in states:
        segment = state.segment
        take = f"{segment.chosen}/{len(segment.takes)}" if segment.takes else "-"
        flags = ", ".join(flag.code.replace("_", " ") for flag in state.flags) or "-"
        speaker = segment.speaker or "-"
        section = f"# {segment.section} | " if segment.section else ""
        print(
            f"{state.index + 1:>4}  {state.status:<14}  {speaker:<12}  {take:<5}  {flags:<20}  {section}{segment.text}"
        )


def print_summary(project: Project, report: RunReport) -> None:
    states = project.states()
    have = sum(s.status != PENDING for s in states)
    print(f"made {len(report.takes)} take(s); {have} of {len(states)} segments have one")
    flagged = [s.index + 1 for s in states if s.flags]
    if flagged:
        print(f"flagged: segment(s) {_numbers(flagged)} (see --list; re-roll with --reroll flagged)")
    changed = [s.index + 1 for s in states if s.status in _CHANGED]
    if changed:
        print(f"edited or not continuous: segment(s) {_numbers(changed)} (re-roll with --reroll {_numbers(changed)})")


def _numbers(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3,5'."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)

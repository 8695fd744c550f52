"""Command-line flags built from the options' descriptions (core.fields): one flag per field.

    add_flags(parser, GenerationOptions, renamed={"allow_early_stop": "--early-stop"})
    options = GenerationOptions(**flag_values(parser.parse_args(), GenerationOptions))

A field's flag is `--` + its name with dashes (or `renamed`), its help the field's label, help, unit,
range and what "none" means, its type the field's: a number, a choice, a path, or a --x / --no-x pair
for a yes/no field. The values are checked by the dataclass itself, whose errors name the field;
`flag_names` gives {field: flag} to name the flag instead. The launchers share `add_engine_flags`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from .engine import EngineSettings, environment_settings
from .errors import InputError
from .fields import Described, described

METAVARS = {int: "N", float: "X", str: "TEXT", Path: "DIR"}
# EngineSettings fields whose flags say what they do the other way round, or for all stages at once.
_HAND_MADE = {"allow_download", "small_text", "small_coarse", "small_fine"}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help with each flag's default, where it has one worth saying (not None, False or "")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == "" or action.help is None:
            return action.help
        return super()._get_help_string(action)


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    group: argparse._ArgumentGroup | None = None,
    prefix: str = "",
    renamed: dict[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> None:
    """Add a flag for each described field of `cls` (or those in `only`), in `group` or else in the
    argument group its About.group names; the argparse dest is prefix + field name."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    flags = flag_names(cls, prefix, renamed)
    for name, d in described(cls).items():
        if only is not None and name not in only:
            continue
        if group is None and d.about.group not in groups:
            groups[d.about.group] = parser.add_argument_group(d.about.group or None)
        _add_flag(group or groups[d.about.group], flags[name], prefix + name, d)


def flag_names(cls: type, prefix: str = "", renamed: dict[str, str] | None = None) -> dict[str, str]:
    """{field: its flag} as add_flags names them: `--` + prefix + name with dashes, unless renamed."""
    renamed = renamed or {}
    return {name: renamed.get(name, "--" + (prefix + name).replace("_", "-")) for name in described(cls)}


def flag_values(args: argparse.Namespace, cls: type, prefix: str = "") -> dict:
    """{field: value} of the flags add_flags made for `cls` (those the parser has)."""
    return {name: getattr(args, prefix + name) for name in described(cls) if hasattr(args, prefix + name)}


def naming_flag(error: InputError, flags: dict[str, str]) -> InputError:
    """'text_temp must be ... or empty, got -1' -> '--text-temp must be ... or 'none', got -1': the
    error's field (data, core.errors) named by its flag, from {field: flag}."""
    message = str(error).replace(" or empty,", " or 'none',")
    flag = flags.get(error.field or "")
    if flag is not None:
        message = flag + message.removeprefix(error.field) if message.startswith(error.field) else f"{flag}: {message}"
    return InputError(message, error.field)


def flag_help(d: Described) -> str:
    """'Text temperature: higher is more varied; from 0.01 to 5' ('%' escaped for argparse)."""
    unit = f" ({d.about.unit})" if d.about.unit else ""
    parts = [f"{d.about.label}{unit}" + (f": {d.about.help}" if d.about.help else "")]
    if d.about.range is not None:
        parts.append(d.allowed())
    if d.optional and d.about.off and d.kind is not Path:
        parts.append(f"'none': {d.about.off}")
    return "; ".join(parts).replace("%", "%%")


def _add_flag(group: argparse._ArgumentGroup, flag: str, dest: str, d: Described) -> None:
    if d.kind is bool:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=d.default, help=flag_help(d))
        return
    kind = d.kind if d.kind is Path or not d.optional else _optional(d.kind)
    metavar = None if d.about.choices else METAVARS.get(d.kind, "X") + ("|none" if kind is not d.kind else "")
    group.add_argument(
        flag, dest=dest, type=kind, choices=d.about.choices, default=d.default, metavar=metavar, help=flag_help(d)
    )


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

    parse.__name__ = convert.__name__  # argparse names the type in its "invalid ... value" message
    return parse


# The engine's flags, the same in every launcher


def add_engine_flags(parser: argparse.ArgumentParser, *, models: bool = True) -> None:
    """--models-dir, --prompts-dir, --device, --offline and, with `models`, the choice of models and how
    they run (--dtype, --small-models / --small-text ..., --offload-cpu, --fast, --max-batch, --cuda-graphs)."""
    group = parser.add_argument_group("models and device")
    files = {"models_dir", "prompts_dir", "device"}
    add_flags(
        parser, EngineSettings, group=group, only=set(described(EngineSettings)) - _HAND_MADE if models else files
    )
    if models:
        group.add_argument("--small-models", action="store_true", help="the small models for all three stages")
        for stage in ("text", "coarse", "fine"):
            group.add_argument(f"--small-{stage}", action="store_true", help=f"the small model for the {stage} stage")
    group.add_argument("--offline", action="store_true", help="never download; a missing model file is an error")


def engine_flag_names() -> dict[str, str]:
    """{EngineSettings field: its flag}, to name the flag in an error about the field."""
    return flag_names(EngineSettings, renamed={"allow_download": "--offline"})


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    """The EngineSettings of add_engine_flags' flags and Suno's environment variables (SUNO_USE_SMALL_MODELS,
    SUNO_OFFLOAD_CPU, SUNO_ENABLE_MPS: core.engine.environment_settings); InputError when one is bad."""
    values = flag_values(args, EngineSettings)
    small = getattr(args, "small_models", False)
    for stage in ("text", "coarse", "fine"):
        values[f"small_{stage}"] = small or getattr(args, f"small_{stage}", False)
    for name, wanted in environment_settings().items():  # Suno's variables, where the flags left the default
        if (name == "device" and values.get("device", "auto") == "auto") or wanted is True:
            values[name] = wanted
    return EngineSettings(**values, allow_download=not args.offline)

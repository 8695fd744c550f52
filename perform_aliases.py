"""Bark Infinity's command-line flags, accepted by bark_perform.py as aliases of its own.

    python bark_perform.py --prompt_file myprompts.txt --split_input_into_separate_prompts_by string \\
        --split_input_into_separate_prompts_by_value AAAAA --output_dir myprompts_samples

Each alias sets the same setting as our flag (same type, same checks); yes/no flags of theirs take
True/False (or nothing, meaning True), as Bark Infinity's do. A flag of theirs that has no equivalent
here is refused with one line naming the nearest flag of ours, never ignored.
"""

from __future__ import annotations

import argparse

GROUP = "Bark Infinity's flags (aliases of the ones above)"
SPLIT_BY = "split_input_into_separate_prompts_by"
SPLIT_VALUE = "split_input_into_separate_prompts_by_value"
SPLIT_BY_CHOICES = ("word", "line", "sentence", "char", "string", "random", "regex")

# Their flag -> the dest of our flag that means the same (its type and checks are copied).
VALUES = {
    "--text_prompt": "text",
    "--prompt_file": "prompt_file",
    "--history_prompt": "voice",
    "--output_iterations": "iterations",
    "--output_format": "format",
    "--output_dir": "output_dir",
    "--text_temp": "text_temp",
    "--semantic_temp": "text_temp",
    "--waveform_temp": "waveform_temp",
    "--coarse_temp": "waveform_temp",
    "--fine_temp": "fine_temp",
    "--semantic_top_k": "text_top_k",
    "--semantic_top_p": "text_top_p",
    "--coarse_top_k": "coarse_top_k",
    "--coarse_top_p": "coarse_top_p",
    "--semantic_min_eos_p": "min_eos_p",
    "--semantic_max_gen_duration_s": "max_duration_s",
    "--coarse_max_coarse_history": "coarse_history",
    "--coarse_sliding_window_len": "coarse_window",
    "--split_character_goal_length": "split_goal_length",
    "--split_character_max_length": "split_max_length",
    "--split_character_jitter": "split_jitter",
    "--add_silence_between_segments": "silence_s",
}
# Their yes/no flag -> the dest of ours.
SWITCHES = {
    "--list_speakers": "list_voices",
    "--dry_run": "dry_run",
    "--use_smaller_models": "small_models",
    "--USE_SMALL_MODELS": "small_models",
    "--text_use_small": "small_text",
    "--coarse_use_small": "small_coarse",
    "--fine_use_small": "small_fine",
    "--OFFLOAD_CPU": "offload_cpu",
    "--always_save_speaker": "voice_file",
    "--semantic_allow_early_stop": "allow_early_stop",
    "--silent": "quiet",
}
# Their flags with no equivalent here -> what to use instead.
NEAREST = {
    "--output_filename": "--output-dir (outputs are named by time and text)",
    "--hoarder_mode": "--voice-file (every output keeps its voice)",
    "--stable_mode_interval": "--continuity",
    "--single_starting_seed": "--seed",
    "--semantic_seed": "--seed",
    "--coarse_seed": "--seed",
    "--fine_seed": "--seed",
    "--text_use_gpu": "--device",
    "--coarse_use_gpu": "--device",
    "--fine_use_gpu": "--device",
    "--codec_use_gpu": "--device",
    "--GLOBAL_ENABLE_MPS": "--device mps",
    "--force_reload": "--models-dir (models load once per run)",
    "--process_text_by_each": "--split-mode",
    "--group_text_by_counting": "--split-mode",
    "--in_groups_of_size": "--split-goal",
    "--split_type_string": "--split-separator",
    "--text_splits_only": "--dry-run",
    "--semantic_use_kv_caching": "nothing: the KV cache is always used",
    "--coarse_kv_caching": "nothing: the KV cache is always used",
    "--audio_file_as_history_prompt": "python -m cloning CLIP --name NAME, then --voice NAME",
    "--bark_cloning_large_model": "python -m cloning",
    "--render_npz_samples": "--list-voices",
    "--extra_stats": "--quiet (without it, timings are shown)",
    "--show_generation_times": "--quiet (without it, timings are shown)",
    "--prompt_text_prefix": "--text",
    "--semantic_history_only": "--continuity",
    "--confused_travolta_mode": "--text-temp",
}


def truth(text: str) -> bool:
    """Bark Infinity's True/False values (also 1/0, yes/no, on/off)."""
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


class _Nearest(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is a Bark Infinity flag that Bark Studio does not have; use {self.default}")


def add_aliases(parser: argparse.ArgumentParser) -> None:
    """Their flags, in one group of --help; call after every flag of ours is added."""
    ours = {action.dest: action for action in parser._actions}
    group = parser.add_argument_group(GROUP)
    for flag, dest in VALUES.items():
        action = ours[dest]
        kind = {"type": action.type, "choices": action.choices, "metavar": action.metavar}
        group.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=f"= {action.option_strings[0]}", **kind)
    for flag, dest in SWITCHES.items():
        ours_flag = ours[dest].option_strings[0]
        group.add_argument(
            flag,
            dest=dest,
            type=truth,
            nargs="?",
            const=True,
            default=argparse.SUPPRESS,
            metavar="True|False",
            help=f"= {ours_flag}",
        )
    group.add_argument(
        f"--{SPLIT_BY}",
        choices=SPLIT_BY_CHOICES,
        default=None,
        help="string: = --prompt-separator, regex: = --prompt-regex, line: one prompt a line",
    )
    group.add_argument(f"--{SPLIT_VALUE}", metavar="VALUE", default=None, help="the string or regex to split by")
    for flag, nearest in NEAREST.items():
        group.add_argument(flag, action=_Nearest, nargs="?", default=nearest, help=argparse.SUPPRESS)


def apply_aliases(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Their way of separating the prompts of a --prompt_file, as ours (--prompt-separator / --prompt-regex)."""
    by, value = getattr(args, SPLIT_BY), getattr(args, SPLIT_VALUE)
    if by is None:
        if value is not None:
            parser.error(f"--{SPLIT_VALUE} needs --{SPLIT_BY}")
        return
    if by == "string" and value:
        args.prompt_separator = value
    elif by == "regex" and value:
        args.prompt_regex = value
    elif by == "line" and value in (None, "", "1"):
        args.prompt_regex = r"\n"
    else:
        parser.error(
            f"--{SPLIT_BY} {by} {value or ''}".rstrip() + ": separate prompts are cut by a string "
            "(--prompt-separator) or a regex (--prompt-regex); to cut one long prompt into segments use --split-mode"
        )

"""The command line, run in-process on the tiny models (plus one real `python bark_perform.py`)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
import soundfile as sf

import bark_perform
import perform_aliases
from bark_perform import (
    build_parser,
    main,
    options_from_args,
    read_prompts,
    settings_from_args,
)
from core.audio import encode_audio
from core.engine import Engine, EngineSettings
from core.errors import Cancelled, InputError
from core.options import GenerationOptions
from core.textsplit import SplitOptions

SCRIPT = Path(bark_perform.__file__)
FAST = ["--max-duration", "0.1", "--seed", "1", "--small-models"]  # tiny random models never stop early: cap them


@pytest.fixture()
def cli(tiny_models, tmp_path, capsys):
    """Run main() offline on the tiny models with tmp output and library folders: (status, stdout, stderr)."""

    def run(*args: str, quiet: bool = True) -> tuple[int, str, str]:
        base = ["--models-dir", str(tiny_models), "--prompts-dir", str(tmp_path / "prompts")]
        base += ["--output-dir", str(tmp_path / "out"), "--device", "cpu", "--offline"]
        status = main([*base, *(["--quiet"] if quiet else []), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def written(out: str) -> list[Path]:
    return [Path(line) for line in out.splitlines()]


def parse(*args: str):
    return build_parser().parse_args(["--text", "hi", *args])


# Flags and settings (no generation)


def test_defaults_come_from_the_dataclasses():
    assert options_from_args(parse()) == GenerationOptions()
    assert settings_from_args(parse()) == EngineSettings()


def test_flags_build_the_options():
    args = parse("--text-temp", "0.9", "--fine-temp", "none", "--text-top-k", "50", "--split-mode", "word")
    options = options_from_args(args)
    assert (options.text_temp, options.fine_temp, options.text_top_k) == (0.9, None, 50)
    assert options.split.mode == "word"


@pytest.mark.parametrize(("flags", "early_stop"), [([], True), (["--no-early-stop"], False), (["--early-stop"], True)])
def test_boolean_generation_flags(flags, early_stop):
    assert options_from_args(parse(*flags)).allow_early_stop is early_stop


def test_boolean_engine_flags():
    assert settings_from_args(parse("--small-models")) == EngineSettings.all_small()
    only_coarse = settings_from_args(parse("--small-coarse", "--offline", "--offload-cpu"))
    assert (only_coarse.small_text, only_coarse.small_coarse, only_coarse.small_fine) == (False, True, False)
    assert only_coarse.allow_download is False and only_coarse.offload_cpu is True
    tuned = settings_from_args(parse("--fast", "--max-batch", "2"))
    assert tuned.fast is True and tuned.max_batch == 2
    assert settings_from_args(parse()).fast is False and settings_from_args(parse()).cuda_graphs is False
    assert settings_from_args(parse("--cuda-graphs")).cuda_graphs is True


def test_quantize_flag():
    assert settings_from_args(parse("--fast", "--quantize", "int4")).quantize == "int4"
    assert settings_from_args(parse("--fast")).quantize == "int8"
    with pytest.raises(InputError, match=r"^--quantize int4 is a fast-mode setting"):
        settings_from_args(parse("--quantize", "int4"))


def test_a_boolean_flag_takes_no_value(capsys):
    assert main(["--text", "hi", "--no-early-stop", "false"]) == 2
    assert "unrecognized arguments: false" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-early-stop" in text
    assert "prompts are separated by blank lines, or by --prompt-separator / --prompt-regex" in text


def test_read_prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("One.\nstill one.\n\n \nTwo.\n\n\n", encoding="utf-8")
    assert read_prompts(path) == ["One.\nstill one.", "Two."]
    path.write_text("a ## b ##", encoding="utf-8")
    assert read_prompts(path, separator="##") == ["a", "b"]
    path.write_text("a\n---\nb\n-----\nc", encoding="utf-8")
    assert read_prompts(path, regex=r"\n-{3,}\n") == ["a", "b", "c"]
    assert read_prompts(path, regex=r"-*") == ["a", "b", "c"]  # its empty matches cut nothing


@pytest.mark.parametrize(("pattern", "words"), [("(a|a)+b", "took too long"), ("(", "not a valid regular")])
def test_a_prompt_regex_runs_bounded(tmp_path, pattern, words):
    """A backtracking --prompt-regex ends with a message (it once held the CLI, deaf to Ctrl-C)."""
    path = tmp_path / "prompts.txt"
    path.write_text("a" * 40, encoding="utf-8")
    with pytest.raises(InputError, match=f"^--prompt-regex: pattern .*{words}"):
        read_prompts(path, regex=pattern)


# Generation


def test_generation_writes_audio_and_settings_that_rerun_exactly(cli):
    status, out, err = cli("--text", "Hello world.", *FAST, quiet=False)
    assert status == 0
    audio_path, json_path, voice_path = written(out)
    assert audio_path.suffix == ".wav" and json_path == audio_path.with_suffix(".json")
    assert voice_path == audio_path.with_suffix(".npz") and voice_path.is_file()
    assert "hello-world" in audio_path.name
    assert "segment 1/1 text" in err and "segment 1/1 fine" in err  # tqdm progress on stderr
    assert "Loading the tokenizer ..." in err and "Loading the text model ..." in err  # before the first steps
    assert re.search(r"bark_perform\.py: \d+\.\d s of audio, made in \d+\.\d s", err)  # how long it took
    record = json.loads(json_path.read_text(encoding="utf-8"))
    assert (record["text"], record["seed"], record["format"], record["sample_rate"]) == (
        "Hello world.",
        1,
        "wav",
        24000,
    )

    settings = {k: Path(v) if k.endswith("_dir") and v else v for k, v in record["engine"].items()}
    again = Engine(EngineSettings(**settings)).generate(
        record["text"], record["voice"], GenerationOptions.from_dict(record["options"])
    )
    data, rate = sf.read(audio_path)
    assert rate == 24000 and len(data) == len(again.audio) > 0
    assert encode_audio(again.audio, 24000, "wav") == audio_path.read_bytes()


@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3"])
def test_each_format(cli, fmt):
    status, out, _ = cli("--text", "Hi.", "--format", fmt, *FAST)
    assert status == 0
    audio_path, json_path, _ = written(out)
    assert audio_path.suffix == f".{fmt}"
    info = sf.info(audio_path)
    expected = json.loads(json_path.read_text())["duration_s"] * 24000
    assert info.samplerate == 24000 and abs(info.frames - expected) < 2400  # mp3 pads a little


def test_prompt_file_with_iterations(cli, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("First prompt.\n\nSecond prompt.\n", encoding="utf-8")
    status, out, _ = cli("--prompt-file", str(prompts), "--iterations", "2", *FAST)
    assert status == 0
    paths = written(out)
    assert len(paths) == 12 and len(set(paths)) == 12 and all(p.is_file() for p in paths)
    records = [json.loads(p.read_text()) for p in paths if p.suffix == ".json"]
    assert [(r["text"], r["seed"]) for r in records] == [
        ("First prompt.", 1),
        ("First prompt.", 2),
        ("Second prompt.", 1),
        ("Second prompt.", 2),
    ]


def test_dry_run_prints_segments_and_writes_nothing(cli, tmp_path):
    text = "One sentence here. " * 20
    status, out, _ = cli("--text", text, "--dry-run", "--split-goal", "60")
    assert status == 0
    assert "prompt 1/1:" in out and "[~" in out and " s] One sentence here." in out
    assert len([line for line in out.splitlines() if "[~" in line]) > 1
    assert not (tmp_path / "out").exists()


def test_save_voice_then_use_it(cli, tmp_path):
    status, out, _ = cli("--text", "Keep this voice.", "--save-voice", "narrator", *FAST)
    assert status == 0
    npz = written(out)[-1]
    assert npz == tmp_path / "prompts" / "narrator.npz" and npz.is_file()
    metadata = json.loads(npz.with_suffix(".json").read_text())
    assert (metadata["text"], metadata["seed"]) == ("Keep this voice.", 1)
    assert metadata["settings"]["options"]["max_duration_s"] == 0.1

    status, out, _ = cli("--text", "Now speak.", "--voice", "narrator", *FAST)
    assert status == 0
    assert json.loads(written(out)[1].read_text())["voice"] == "narrator"

    status, out, _ = cli("--list-voices")
    assert status == 0 and "narrator" in out and "English:" in out and "v2/en_speaker_6" in out


def test_every_output_keeps_its_voice_for_reuse_unless_told_not_to(cli, tmp_path):
    """Bark Infinity's "infinite voices": any output's voice can speak again (--voice PATH, or imported)."""
    status, out, _ = cli("--text", "A voice worth keeping.", *FAST)
    assert status == 0
    _, json_path, voice_path = written(out)
    assert json.loads(json_path.read_text())["voice_file"] == voice_path.name
    status, out, _ = cli("--text", "Spoken again.", "--voice", str(voice_path), *FAST)
    assert status == 0 and json.loads(written(out)[1].read_text())["voice"] == str(voice_path)
    status, out, _ = cli("--text", "No voice file.", "--no-voice-file", *FAST)
    assert status == 0 and [p.suffix for p in written(out)] == [".wav", ".json"]
    assert not written(out)[0].with_suffix(".npz").exists()


def test_list_voices_with_an_empty_library(cli):
    status, out, _ = cli("--list-voices")
    assert status == 0 and "0 voice(s)" in out and "announcer" in out


# Failures


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--text", "hi", "--voice", "nobody"], "No voice named 'nobody'"),
        (["--text", "hi", "--voice", "nobody"], "(--list-voices lists them)"),
        (["--text", "hi", "--models-dir", "no-such-folder"], "--models-dir: The models folder no-such-folder"),
        (["--text", "  "], "text is empty"),
        (["--text", "hi", "--text-temp", "-1"], "--text-temp must be"),
        (["--text", "hi", "--fine-temp", "abc"], "--fine-temp"),
        (["--prompt-file", "no-such-file.txt"], "cannot read the prompt file"),
        (["--text", "hi", "--save-voice", "../x"], "must not contain"),
        (["--text", "hi", "--save-voice", "x", "--iterations", "2"], "one generation"),
        (["--text", "hi", "--split-goal", "500"], "--split-goal (500) must not exceed the max length (220)"),
        (["--text", "hi", "--format", "aiff"], "invalid choice"),
        (["--text", "hi", "--max-batch", "65"], "--max-batch must be a whole number from 1 to 64, got 65"),
        ([], "give --text or --prompt-file"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, tmp_path, args, words):
    status, _, err = cli(*args)
    assert status == 2
    assert err.startswith("bark_perform.py: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert words in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.npz").exists()


def test_missing_models_offline_exits_1_naming_the_file(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    empty = tmp_path / "no-models"
    empty.mkdir()
    status, _, err = cli("--text", "hi", "--models-dir", str(empty), *FAST)
    assert status == 1 and err.count("\n") == 1
    assert "Model file 'vocab.txt'" in err and "downloads are off" in err and "internet" not in err


def test_cancel_exits_1(cli, monkeypatch):
    def cancelled(*args, **kwargs):
        raise Cancelled("Generation cancelled.")

    monkeypatch.setattr(Engine, "generate", cancelled)
    status, _, err = cli("--text", "hi", *FAST)
    assert (status, err) == (1, "bark_perform.py: cancelled\n")


def test_script_runs_as_a_program(tiny_models, tmp_path):
    command = [sys.executable, str(SCRIPT), "--text", "Hello.", "--models-dir", str(tiny_models), "--offline"]
    command += ["--device", "cpu", "--quiet", "--output-dir", "out", "--prompts-dir", "prompts", *FAST]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    audio_path, json_path, _ = (tmp_path / line for line in done.stdout.splitlines())
    assert sf.info(audio_path).samplerate == 24000 and json.loads(json_path.read_text())["seed"] == 1


# Bark Infinity's flags (perform_aliases)

MYPROMPTS = """This is the first prompt.
Lots of text here maybe.
As long as you want.

AAAAA

This is the second prompt.

AAAAA

This is the third prompt.

AAAAA

This is the fourth prompt.
"""


def test_the_readme_command_of_bark_infinity_splits_the_prompt_file_by_its_string(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myprompts.txt").write_text(MYPROMPTS, encoding="utf-8")
    command = "--prompt_file myprompts.txt --split_input_into_separate_prompts_by string"
    command += " --split_input_into_separate_prompts_by_value AAAAA --output_dir myprompts_samples"
    status, out, _ = cli(*command.split(), "--dry_run", "True")
    assert status == 0 and out.count("prompt ") == 4 and "4/4" in out and "This is the fourth prompt." in out
    status, out, _ = cli(*command.split(), *FAST, "--output-dir", str(tmp_path / "myprompts_samples"))
    assert status == 0 and len(written(out)) == 12  # four outputs: audio, settings and voice each
    assert all(path.parent == tmp_path / "myprompts_samples" for path in written(out))


def parse_with_aliases(*args: str):
    parser = build_parser()
    parsed = parser.parse_args(["--text", "hi", *args])
    perform_aliases.apply_aliases(parser, parsed)
    return parsed


def test_their_flags_set_the_same_settings_as_ours():
    theirs = parse_with_aliases(
        *shlex.split("--text_prompt Hello --history_prompt v2/en_speaker_3 --output_iterations 3 --output_format flac"),
        *shlex.split(
            "--text_temp 0.6 --waveform_temp 0.5 --semantic_top_k 40 --coarse_top_p 0.9 --semantic_min_eos_p 0.1"
        ),
        *shlex.split(
            "--split_character_goal_length 90 --split_character_max_length 130 --add_silence_between_segments 0.5"
        ),
        *shlex.split("--use_smaller_models True --OFFLOAD_CPU --always_save_speaker False --seed 4"),
    )
    assert (theirs.text, theirs.voice, theirs.iterations, theirs.format) == ("Hello", "v2/en_speaker_3", 3, "flac")
    assert options_from_args(theirs) == GenerationOptions(
        text_temp=0.6,
        waveform_temp=0.5,
        text_top_k=40,
        coarse_top_p=0.9,
        min_eos_p=0.1,
        silence_s=0.5,
        seed=4,
        split=SplitOptions(goal_length=90, max_length=130),
    )
    assert settings_from_args(theirs) == EngineSettings.all_small(offload_cpu=True)
    assert theirs.voice_file is False


@pytest.mark.parametrize(("value", "expected"), [("True", True), ("False", False), ("1", True), ("no", False)])
def test_their_yes_no_flags_take_true_and_false(value, expected):
    args = parse_with_aliases("--dry_run", value, "--list_speakers", value, "--use_smaller_models", value)
    assert (args.dry_run, args.list_voices, args.small_models) == (expected,) * 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--hoarder_mode", "True"],
            "--hoarder_mode is a Bark Infinity flag that Bark Studio does not have; use --voice-file",
        ),
        (["--stable_mode_interval", "0"], "use --continuity"),
        (["--text_use_gpu", "True"], "use --device"),
        (["--dry_run", "maybe"], "expected True or False, got 'maybe'"),
        (
            ["--split_input_into_separate_prompts_by", "sentence", "--split_input_into_separate_prompts_by_value", "2"],
            "use --split-mode",
        ),
    ],
)
def test_their_flags_we_do_not_have_get_one_line_naming_ours(capsys, args, words):
    assert main(["--text", "hi", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_help_documents_them_in_one_group(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    group = out[out.index(perform_aliases.GROUP) :]
    for flag in ("--text_prompt", "--prompt_file", "--output_iterations", "--list_speakers", "--use_smaller_models"):
        assert flag in group
    assert "--hoarder_mode" not in out  # refused with a pointer, not offered


def test_a_prompts_folder_of_bare_npz_voices_is_the_library(cli, tmp_path):
    """Bark Infinity's prompts/ holds .npz files without our .json beside them."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    _, out, _ = cli("--text", "Keep it.", *FAST)
    voice = written(out)[2]
    shutil.copy(voice, prompts / "en_fiery.npz")
    status, out, _ = cli("--list_speakers", "True")
    assert status == 0 and "en_fiery" in out
    status, out, _ = cli("--text_prompt", "In that voice.", "--history_prompt", "en_fiery", *FAST)
    assert status == 0 and json.loads(written(out)[1].read_text())["voice"] == "en_fiery"

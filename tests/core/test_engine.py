"""The engine end to end on the tiny pack: options, seeds, voices, long texts, progress, cancel, threads."""

import threading

import numpy as np
import pytest
import torch

from core.constants import SAMPLE_RATE
from core.engine import Engine, EngineSettings, clean_text
from core.errors import Cancelled, InputError, ModelFileError, VoiceError
from core.options import GenerationOptions
from core.textsplit import SplitOptions

SHORT = GenerationOptions(seed=7, max_duration_s=0.3)  # tiny random models never stop on their own


def test_generation_result_is_complete(engine):
    result = engine.generate("hello world", voice="v2/en_speaker_6", options=SHORT)
    assert result.sample_rate == SAMPLE_RATE and result.audio.dtype == np.float32
    (segment,) = result.segments
    assert len(segment.semantic) == 15  # 0.3 s -> 15 tokens
    assert segment.coarse.shape == (2, 22) and segment.fine.shape == (8, 22)
    assert len(result.audio) == 22 * 320
    assert result.seed == 7 and segment.seed == 7 and result.voice_name == "v2/en_speaker_6"
    assert result.voice is not None and result.voice.fine.shape == (8, 22)
    settings = result.settings()
    assert settings["options"]["seed"] == 7 and settings["voice"] == "v2/en_speaker_6"
    assert GenerationOptions.from_dict(settings["options"]) == SHORT
    assert result.compute_s > 0 and settings["compute_s"] == round(result.compute_s, 2)
    assert (
        result.timing().startswith(f"made in {result.compute_s:.1f} s (") and "per second of audio" in result.timing()
    )


def test_same_seed_same_audio_and_a_drawn_seed_is_reported(engine):
    a = engine.generate("hello", options=SHORT)
    b = engine.generate("hello", options=SHORT)
    assert np.array_equal(a.audio, b.audio)
    drawn = engine.generate("hello", options=SHORT.replace(seed=None))
    again = engine.generate("hello", options=SHORT.replace(seed=drawn.seed))
    assert np.array_equal(drawn.audio, again.audio)


def test_voice_from_library_path_and_errors(engine, tmp_path):
    first = engine.generate("hello", options=SHORT)
    engine.library.save("mine", first.voice, {"seed": first.seed})
    prompt, name = engine.resolve_voice("mine")
    assert name == "mine" and prompt.equals(first.voice)
    path = tmp_path / "voice.npz"
    first.voice.save(path)
    assert engine.resolve_voice(str(path))[0].equals(first.voice)
    assert engine.resolve_voice("none") == (None, None)
    with pytest.raises(VoiceError, match="No voice named 'nobody'"):
        engine.generate("hello", voice="nobody", options=SHORT)
    with pytest.raises(VoiceError):
        engine.generate("hello", voice="../../etc/passwd", options=SHORT)
    with pytest.raises(VoiceError, match="paths are not accepted"):
        engine.resolve_voice(str(path), allow_paths=False)
    with pytest.raises(VoiceError, match="not found"):
        engine.generate("hello", voice=str(tmp_path / "missing.npz"), options=SHORT)


def test_check_voice_names_a_voice_without_loading_it(tmp_path):
    (tmp_path / "models").mkdir()
    engine = Engine(
        EngineSettings(models_dir=tmp_path / "models", prompts_dir=tmp_path / "prompts", allow_download=False)
    )
    assert engine.check_voice(" v2/en_speaker_6 ") == "v2/en_speaker_6"  # no preset file here, none read
    with pytest.raises(ModelFileError):
        engine.resolve_voice("v2/en_speaker_6")
    assert engine.check_voice(None) is None and engine.check_voice("Random") is None
    with pytest.raises(VoiceError, match="No voice named 'nobody'"):
        engine.check_voice("nobody")
    with pytest.raises(VoiceError, match="paths are not accepted"):
        engine.check_voice("../voice.npz", allow_paths=False)
    with pytest.raises(InputError, match="control or invisible"):
        engine.check_voice("bad\x07name")


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01\x02"])
def test_empty_text_is_refused(engine, text):
    with pytest.raises(InputError, match="empty"):
        engine.generate(text, options=SHORT)


def test_huge_text_is_refused_quickly(engine):
    with pytest.raises(InputError, match="limit"):
        engine.generate("word " * 200_000, options=SHORT)


def test_control_characters_become_spaces():
    assert clean_text("a\x00b\x07c\nd") == "a b c\nd"


def test_long_text_is_split_and_joined_with_silence(engine):
    text = "hello world. " * 6
    options = SHORT.replace(split=SplitOptions(mode="sentence", goal_length=30, max_length=60), silence_s=0.1)
    plan = engine.plan(text, options)
    result = engine.generate(text, options=options)
    assert len(result.segments) == len(plan) >= 3
    assert [s.text for s in result.segments] == [p.clean for p in plan]
    assert [s.seed for s in result.segments] == [7 + i for i in range(len(plan))]
    silence = int(0.1 * SAMPLE_RATE) * (len(plan) - 1)
    assert len(result.audio) == sum(len(s.audio) for s in result.segments) + silence


def _voices_used(engine, monkeypatch, continuity, base, n=5):
    seen = {}
    original = engine._generate_batch

    def spy(indices, texts, voice, options, seeds, reporter):
        seen.update((i, voice) for i in indices)
        return original(indices, texts, voice, options, seeds, reporter)

    monkeypatch.setattr(engine, "_generate_batch", spy)
    options = SHORT.replace(split=SplitOptions(mode="line"), continuity=continuity, reset_every=2, silence_s=0.0)
    result = engine.generate("\n".join(["hello"] * n), voice=base, options=options)
    return [seen[i] for i in range(n)], result


def test_stable_continuity_uses_the_base_voice_every_time(engine, monkeypatch):
    seen, _ = _voices_used(engine, monkeypatch, "stable", "v2/en_speaker_1")
    base = engine.resolve_voice("v2/en_speaker_1")[0]
    assert all(v is base for v in seen)


def test_stable_without_a_voice_keeps_the_first_segments_voice(engine, monkeypatch):
    seen, result = _voices_used(engine, monkeypatch, "stable", None)
    assert seen[0] is None
    assert all(v.equals(result.segments[0].voice) for v in seen[1:])


def test_continuous_and_reset_continuity(engine, monkeypatch):
    seen, result = _voices_used(engine, monkeypatch, "continuous", "v2/en_speaker_1")
    for i in range(1, 5):
        assert seen[i].equals(result.segments[i - 1].voice)
    base = engine.resolve_voice("v2/en_speaker_1")[0]
    seen, result = _voices_used(engine, monkeypatch, "reset", base)
    assert seen[0] is base and seen[2] is base and seen[4] is base
    assert seen[1].equals(result.segments[0].voice) and seen[3].equals(result.segments[2].voice)


def test_progress_reports_every_stage(engine):
    events = []
    engine.generate("hello", options=SHORT, progress=events.append)
    steps = [e for e in events if e.stage != "load"]  # loads are reported where they happen (core.activity)
    assert steps[0].stage == "text"
    assert {e.stage for e in steps} == {"text", "coarse", "fine", "decode"}
    last_text = [e for e in events if e.stage == "text"][-1]
    assert last_text.step == last_text.total == 15


def test_cancel_stops_within_a_step(engine):
    cancel = threading.Event()
    steps = []

    def progress(event):
        if event.stage != "load":
            steps.append(event)
        if len(steps) == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.generate("hello", options=SHORT.replace(max_duration_s=10), progress=progress, cancel=cancel)
    assert len(steps) == 3
    engine.generate("hello", options=SHORT)  # the engine is usable afterwards


def test_concurrent_generations_do_not_disturb_each_other(engine):
    expected = {seed: engine.generate("hello", options=SHORT.replace(seed=seed)).audio for seed in (1, 2, 3, 4)}
    got = {}

    def run(seed):
        got[seed] = engine.generate("hello", options=SHORT.replace(seed=seed)).audio

    threads = [threading.Thread(target=run, args=(s,)) for s in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[s], expected[s]) for s in expected)


def test_too_many_text_tokens_warn(engine):
    options = SHORT.replace(split=SplitOptions(mode="none", max_length=400))
    fits = engine.generate("h " * 200, options=options)  # one token per letter in the tiny vocabulary
    assert fits.segments[0].text_tokens == 200 and not fits.warnings
    # Words of 90 letters become WordPiece runs h ##h ##h ...: 360 tokens in 363 characters.
    cut = engine.generate(" ".join(["h" * 90] * 4), options=options)
    assert cut.segments[0].text_tokens == 360
    assert any("first 256" in w for w in cut.warnings)


def test_switching_to_small_models_really_switches(engine, tiny_models, tmp_path):
    engine.generate("hello", options=SHORT)
    assert {len(engine.models.get(s, False).transformer.h) for s in ("text", "coarse", "fine")} == {2}
    engine.update_settings(
        EngineSettings.all_small(models_dir=tiny_models, prompts_dir=tmp_path / "p", device="cpu", allow_download=False)
    )
    engine.generate("hello", options=SHORT)
    keys = engine.models.loaded()
    assert {k.stage for k in keys if k.small} == {"text", "coarse", "fine"}
    assert not any(k.small is False and k.stage != "codec" for k in keys)
    assert len(engine.models.get("text", True).transformer.h) == 1


def test_offload_moves_each_model_to_the_device_and_back(engine, monkeypatch):
    import torch

    cache = engine.models
    cache.offload = True
    cache.device = torch.device("cpu")
    model = cache.get("fine", False)
    moves = []
    monkeypatch.setattr(model, "to", lambda device: moves.append(str(device)) or model)
    with cache.use("fine", False) as used:
        assert used is model and moves == ["cpu"]
    assert moves == ["cpu", "cpu"]


def test_options_are_validated_once_with_the_field_named():
    with pytest.raises(InputError, match="text_temp"):
        GenerationOptions(text_temp=-1)
    with pytest.raises(InputError, match="coarse_history"):
        GenerationOptions(coarse_history=5000)
    with pytest.raises(InputError, match="continuity"):
        GenerationOptions(continuity="sometimes")
    with pytest.raises(InputError, match="unknown generation option"):
        GenerationOptions.from_dict({"temperature": 1})
    with pytest.raises(InputError, match="allow_early_stop"):
        GenerationOptions(allow_early_stop="False")


def test_unavailable_device_is_a_clear_error(tiny_models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(InputError, match="CUDA"):
        Engine(EngineSettings(models_dir=tiny_models, device="cuda"))


def test_stable_segments_run_as_a_batch_with_the_same_result(engine, tiny_models, tmp_path):
    text = "\n".join(["hello", "world", "a b", "music", "bark", "voice"])
    options = SHORT.replace(split=SplitOptions(mode="line"))
    events, streamed = [], []
    batched = engine.generate(text, "v2/en_speaker_3", options, progress=events.append, on_segment=streamed.append)
    assert max(e.count for e in events) == 6  # all in one batch
    assert [s.index for s in streamed] == list(range(6))
    one_by_one = Engine(
        EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path / "p", device="cpu", max_batch=1)
    ).generate(text, "v2/en_speaker_3", options)
    assert np.array_equal(batched.audio, one_by_one.audio)


def test_engine_settings_are_validated(tiny_models, tmp_path):
    with pytest.raises(InputError, match="max_batch"):
        EngineSettings(max_batch=0)
    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu"))
    for dtype in ("float16", "bfloat16"):  # fast mode's int8/bf16 weights and CPU autocast would fight
        with pytest.raises(InputError, match="Fast mode on the CPU sets its own precision"):
            engine.update_settings(EngineSettings(models_dir=tiny_models, device="cpu", dtype=dtype, fast=True))
    assert engine.dtype == torch.float32 and not engine.settings.fast  # the refused settings changed nothing


def test_each_model_visits_the_device_once_per_batch(engine, monkeypatch):
    visits = []
    original = engine.models.use

    def spy(stage, small):
        visits.append(stage)
        return original(stage, small)

    monkeypatch.setattr(engine.models, "use", spy)
    options = SHORT.replace(split=SplitOptions(mode="line"))
    engine.generate("hello\nworld\nmusic", "v2/en_speaker_3", options)
    assert visits == ["text", "coarse", "fine", "codec"]  # three segments, one batch

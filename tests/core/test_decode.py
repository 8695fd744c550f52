"""Fixed-shape decode steps (the CUDA-graph path, run here without capture) against the eager ones."""

import pytest
import torch

from core.coarse import generate_coarse
from core.decode_steps import DecodeSteps
from core.hub import ModelLocator
from core.loading import load_preset, load_stage_model, load_tokenizer
from core.model import GPT, GPTConfig
from core.sampling import Sampling
from core.semantic import encode_text, generate_semantic


@pytest.fixture(scope="module")
def locator(tiny_models):
    return ModelLocator(tiny_models, allow_download=False)


@pytest.fixture(scope="module")
def models(locator):
    return {stage: load_stage_model(locator, stage, small=True) for stage in ("text", "coarse")}


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@torch.inference_mode()
def test_a_static_step_matches_the_eager_step_and_writes_the_same_cache(models):
    model = models["text"]
    idx = torch.randint(0, 10_000, (2, 40), generator=torch.Generator().manual_seed(0))
    eager, static = model.new_cache(2), model.new_cache(2)
    model(idx[:, :39], cache=eager)
    model(idx[:, :39], cache=static)
    expected = model(idx[:, 39:], cache=eager)
    got = DecodeSteps(model, static, "static")(idx[:, 39:])
    torch.testing.assert_close(got, expected)
    assert static.length == eager.length == 40
    torch.testing.assert_close(static.k[:, :, :, :40], eager.k[:, :, :, :40])
    assert not static.k[:, :, :, 40:].any()  # nothing written past the position


@torch.inference_mode()
def test_a_prefill_starts_a_new_sequence_whatever_the_cache_held(models):
    model = models["text"]
    idx = torch.randint(0, 10_000, (2, 30), generator=torch.Generator().manual_seed(1))
    steps = DecodeSteps(model, model.new_cache(2), "static")
    steps.prefill(idx[:, :20])
    steps(idx[:, 20:21])
    torch.testing.assert_close(steps.prefill(idx[:, 21:]), model(idx[:, 21:]))
    assert steps.cache.length == 9


def test_static_steps_give_the_eager_tokens_in_both_stages(models, locator):
    voice = load_preset(locator, "v2/en_speaker_6")
    tokenizer = load_tokenizer(locator)
    ids = torch.stack([encode_text(tokenizer, t)[0] for t in ("hello", "world is music")])
    warm, args = Sampling(0.7), dict(allow_early_stop=False, max_tokens=30)
    semantic = {
        mode: generate_semantic(models["text"], ids, voice, warm, step_mode=mode, generators=gens(1, 2), **args)
        for mode in ("eager", "static")
    }
    assert all(torch.equal(a, b) for a, b in zip(semantic["eager"], semantic["static"], strict=True))
    coarse = {
        mode: generate_coarse(
            models["coarse"], semantic["eager"], voice, warm, window=20, step_mode=mode, generators=gens(3, 4)
        )
        for mode in ("eager", "static")
    }
    assert all(torch.equal(a, b) for a, b in zip(coarse["eager"], coarse["static"], strict=True))


def test_bad_mode_and_a_full_cache_are_refused(models):
    model = models["text"]
    with pytest.raises(ValueError, match="mode must be one of"):
        DecodeSteps(model, model.new_cache(1), "compiled")
    cache = model.new_cache(1, max_len=4)
    cache.length = 4
    with pytest.raises(ValueError, match="all are filled"):
        DecodeSteps(model, cache, "static")(torch.zeros(1, 1, dtype=torch.long))


@torch.inference_mode()
def test_a_failed_capture_falls_back_to_eager_steps(models, monkeypatch):
    def no_graphs(self, head_rows):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(DecodeSteps, "_capture", no_graphs)
    model = models["text"]
    idx = torch.randint(0, 10_000, (1, 12), generator=torch.Generator().manual_seed(0))
    eager, graphed = model.new_cache(1), model.new_cache(1)
    model(idx[:, :10], cache=eager)
    model(idx[:, :10], cache=graphed)
    steps = DecodeSteps(model, graphed, "graph")
    with pytest.warns(RuntimeWarning, match="decoding eagerly"):
        first = steps(idx[:, 10:11])
    assert steps.mode == "eager" and torch.equal(first, model(idx[:, 10:11], cache=eager))
    assert torch.equal(steps(idx[:, 11:12]), model(idx[:, 11:12], cache=eager)) and graphed.length == 12


def test_the_cache_takes_the_autocast_dtype(models):
    model = models["text"]
    assert model.new_cache(1).k.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.new_cache(1).k.dtype == torch.bfloat16
    meta = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, input_vocab_size=16, output_vocab_size=16)).to("meta")
    assert meta.new_cache(1).k.device.type == "meta"  # a device without autocast: the weights' dtype

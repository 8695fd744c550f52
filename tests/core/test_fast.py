"""Fast mode: int8 (or int4) decode steps, bf16 prefill and fine stage; logits stay within stated bounds."""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

import core.fast
from core.cpu_linear import PackedLinear, can_pack
from core.engine import Engine, EngineSettings
from core.errors import InputError
from core.fast import FastLinear, Int4Matmul, Int8Matmul, make_fast
from core.hub import ModelLocator
from core.loading import load_stage_model
from core.model import GPT, GPTConfig
from core.options import GenerationOptions

# Relative L2 distance of fast-mode logits from exact ones. Measured at the real sizes (python -m
# bench.bench_core): 0.8% on bf16 weights (prefill, batched steps; fine 1.1%), 1.9-2.2% for a one-row int8 step.
MAX_RELATIVE_ERROR = 0.03
# With int4 weights (EngineSettings.quantize), groups of 128: a one-row step of a real-size model 22-24%
# (python -m bench.bench_core --modes exact int4); one real-size matrix 9.9-10.4%, the tiny models' steps 11-12%.
MAX_INT4_MATRIX_ERROR = 0.12
MAX_INT4_TINY_STEP_ERROR = 0.15
CPU = torch.device("cpu")


def relative_error(exact: torch.Tensor, fast: torch.Tensor) -> float:
    return ((exact.float() - fast.float()).norm() / exact.float().norm()).item()


@pytest.fixture(scope="module")
def pairs(tiny_models):
    locator = ModelLocator(tiny_models, allow_download=False)
    out = {}
    for stage in ("text", "coarse", "fine"):
        exact = load_stage_model(locator, stage, small=False)
        out[stage] = (exact, make_fast(copy.deepcopy(exact), CPU, torch.float32))
    return out


@pytest.mark.parametrize("stage", ["text", "coarse"])
def test_causal_logits_stay_close_in_prefill_and_decode(pairs, stage):
    exact, fast = pairs[stage]
    assert isinstance(fast.lm_head, FastLinear) and isinstance(fast.transformer.h[0].attn.c_attn, FastLinear)
    idx = torch.randint(0, 10_000, (2, 300), generator=torch.Generator().manual_seed(0))
    assert relative_error(exact(idx, last_only=False), fast(idx, last_only=False)) < MAX_RELATIVE_ERROR
    for rows in (2, 1):  # a batch of decode rows (packed bf16 weights), one row (int8 weights)
        caches = exact.new_cache(rows), fast.new_cache(rows)
        assert caches[1].k.dtype == torch.float32  # attention on fp32 keys and values (core.fast)
        exact(idx[:rows, :299], cache=caches[0])
        fast(idx[:rows, :299], cache=caches[1])
        step = idx[:rows, 299:]
        full = fast(step, cache=caches[1])
        assert relative_error(exact(step, cache=caches[0]), full) < MAX_RELATIVE_ERROR
    caches[1].length -= 1  # the one-row step again, computing only some logits
    assert torch.equal(fast(step, cache=caches[1], head_rows=slice(100, 1124)), full[:, 100:1124])


def test_fast_linear_uses_int8_for_one_row_and_bf16_for_more():
    linear = torch.nn.Linear(64, 96, bias=True)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
    exact = linear(x).detach()
    for packed in (True, False) if can_pack(torch.bfloat16) else (False,):
        fast = FastLinear(linear, packed=packed)
        assert (fast.packed is not None) == packed and (fast.weight_bf16 is None) == packed
        one = fast(x[:1])
        weights = fast.matmul
        int8 = torch.ops.aten._weight_int8pack_mm(x[:1].bfloat16(), weights.weight, weights.scales) + fast.bias
        assert torch.equal(one, int8)
        bf16 = F.linear(x.bfloat16(), linear.weight.bfloat16(), linear.bias.bfloat16())
        assert relative_error(bf16, fast(x)) < 0.01 and relative_error(exact, fast(x)) < 0.01
        assert torch.equal(fast.forward_rows(x[:1], slice(10, 20)), one[:, 10:20])


def test_fast_gelu_is_the_gelu_of_the_layer():
    """An MLP's first layer with its GELU (core.model.MLP): the same values as F.gelu of the layer, for
    one row (int8) and for more (one bf16 kernel, bf16 out for the next layer)."""
    linear = torch.nn.Linear(64, 256, bias=False)
    x = torch.randn(7, 64, generator=torch.Generator().manual_seed(0))
    fast = FastLinear(linear)
    assert torch.equal(fast.forward_gelu(x[:1]), F.gelu(fast(x[:1])))
    assert relative_error(F.gelu(fast(x)), fast.forward_gelu(x)) < 0.01
    with_bias = FastLinear(torch.nn.Linear(64, 256, bias=True))
    assert torch.equal(with_bias.forward_gelu(x), F.gelu(with_bias(x)))


def test_fine_logits_stay_close(pairs):
    exact, fast = pairs["fine"]
    assert fast.transformer.wtes[0].weight.dtype == torch.bfloat16
    assert fast.transformer.wtes[1].weight is fast.lm_heads[0].weight  # still tied
    if can_pack(torch.bfloat16):
        assert isinstance(fast.transformer.h[0].mlp.c_fc, PackedLinear)
    idx = torch.randint(0, 1024, (1, 1024, 8), generator=torch.Generator().manual_seed(0))
    assert relative_error(exact(4, idx), fast(4, idx)) < MAX_RELATIVE_ERROR


def test_fast_engine_generates_and_is_its_own_cache_entry(tiny_models, tmp_path):
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu", fast=True)
    engine = Engine(settings)
    result = engine.generate("hello", "v2/en_speaker_0", GenerationOptions(seed=1, max_duration_s=0.3))
    assert result.audio.dtype.name == "float32" and len(result.segments[0].semantic) == 15
    assert all(key.fast for key in engine.models.loaded() if key.stage != "codec")
    assert isinstance(engine.models.get("text", False).lm_head, FastLinear)
    assert engine.models.get("fine", False).lm_heads[0].weight.dtype == torch.bfloat16
    again = engine.generate("hello", "v2/en_speaker_0", GenerationOptions(seed=1, max_duration_s=0.3))
    assert (again.audio == result.audio).all()  # fast mode is still reproducible


def real_size_linear(n_out: int, n_in: int) -> torch.nn.Linear:
    """A Linear of a small Bark model's shape with the bench checkpoints' weights: normal, std 0.02."""
    linear = torch.nn.Linear(n_in, n_out, bias=False)
    torch.nn.init.normal_(linear.weight, std=0.02, generator=torch.Generator().manual_seed(n_out))
    return linear


@pytest.mark.parametrize("shape", [(2304, 768), (768, 3072)])  # attention in, MLP out
def test_int4_weights_stay_within_their_bound_at_real_sizes(shape):
    linear = real_size_linear(*shape)
    x = torch.randn(3, shape[1], generator=torch.Generator().manual_seed(0))
    exact = linear(x).detach()
    int4, int8 = FastLinear(linear, quantize="int4"), FastLinear(linear)
    assert isinstance(int4.matmul, Int4Matmul) and int4.matmul.group == 128
    assert relative_error(exact[:1], int8(x[:1])) < 0.01
    assert 0.05 < relative_error(exact[:1], int4(x[:1])) < MAX_INT4_MATRIX_ERROR  # int4 for one row
    assert relative_error(exact, int4(x)) < 0.01  # bf16 for more
    rows = int4.forward_rows(x, slice(100, 1124))  # not on the kernel's blocks of 64 outputs
    assert torch.equal(rows, int4.matmul(x.bfloat16())[:, 100:1124])


@pytest.mark.parametrize("stage", ["text", "coarse"])
def test_int4_steps_stay_close(pairs, stage):
    exact = pairs[stage][0]
    fast = make_fast(copy.deepcopy(exact), CPU, torch.float32, quantize="int4")
    assert isinstance(fast.lm_head.matmul, Int4Matmul) and isinstance(fast.transformer.h[0].mlp.c_fc.matmul, Int4Matmul)
    idx = torch.randint(0, 10_000, (1, 300), generator=torch.Generator().manual_seed(0))
    caches = exact.new_cache(1), fast.new_cache(1)
    exact(idx[:, :299], cache=caches[0])
    fast(idx[:, :299], cache=caches[1])
    full = fast(idx[:, 299:], cache=caches[1])
    assert relative_error(exact(idx[:, 299:], cache=caches[0]), full) < MAX_INT4_TINY_STEP_ERROR
    caches[1].length -= 1  # the coarse stage's head slice
    assert torch.equal(fast(idx[:, 299:], cache=caches[1], head_rows=slice(10_000, 11_024)), full[:, 10_000:11_024])


def test_int4_engine_is_its_own_cache_entry(tiny_models, tmp_path):
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu", fast=True, quantize="int4")
    engine = Engine(settings)
    result = engine.generate("hello", "v2/en_speaker_0", GenerationOptions(seed=1, max_duration_s=0.3))
    assert len(result.segments[0].semantic) == 15
    keys = {key.stage: key for key in engine.models.loaded()}
    assert keys["text"].quantize == keys["coarse"].quantize == "int4" and keys["fine"].quantize == ""
    assert isinstance(engine.models.get("coarse", False).lm_head.matmul, Int4Matmul)
    engine.update_settings(dataclasses.replace(settings, quantize="int8"))  # switching loads int8 models
    assert isinstance(engine.models.get("coarse", False).lm_head.matmul, Int8Matmul)
    assert engine.models.key("coarse", False).quantize == "int8"


def test_int4_needs_fast_mode():
    with pytest.raises(InputError, match="quantize int4 is a fast-mode setting"):
        EngineSettings(quantize="int4")
    with pytest.raises(InputError, match="quantize"):
        EngineSettings(fast=True, quantize="int2")


def test_without_the_int4_kernel_fast_mode_falls_back_to_int8(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(core.fast, "int4_available", lambda: False)
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu", fast=True, quantize="int4")
    with pytest.warns(RuntimeWarning, match="no int4 CPU kernel"):
        engine = Engine(settings)
    assert engine.models.quantize == "int8" and engine.models.key("text", False).quantize == "int8"
    assert isinstance(engine.models.get("text", False).lm_head.matmul, Int8Matmul)


def test_gpu_fast_mode_casts_weights():
    gpt = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, input_vocab_size=16, output_vocab_size=16))
    cast = make_fast(gpt, torch.device("meta"), torch.float16)  # any non-CPU device: a plain cast
    assert cast.lm_head.weight.dtype == torch.float16 and isinstance(cast.lm_head, torch.nn.Linear)

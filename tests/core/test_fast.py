"""Fast mode: int8 decode steps, bf16 prefill and fine stage; logits stay within a stated bound."""

import copy

import pytest
import torch
import torch.nn.functional as F

from core.cpu_linear import PackedLinear, can_pack
from core.engine import Engine, EngineSettings
from core.fast import FastLinear, make_fast
from core.hub import ModelLocator
from core.loading import load_stage_model
from core.model import GPT, GPTConfig
from core.options import GenerationOptions

# Relative L2 distance of fast-mode logits from exact ones. Measured at the real sizes (python -m
# bench.bench_core): 1.1% in bf16 (prefill, batched steps, fine), 2.3% for a one-row int8 step.
MAX_RELATIVE_ERROR = 0.03
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
        assert caches[1].k.dtype == torch.bfloat16
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
        int8 = torch.ops.aten._weight_int8pack_mm(x[:1].bfloat16(), fast.weight_int8, fast.scales) + fast.bias
        assert torch.equal(one, int8)
        bf16 = F.linear(x.bfloat16(), linear.weight.bfloat16(), linear.bias.bfloat16())
        assert relative_error(bf16, fast(x)) < 0.01 and relative_error(exact, fast(x)) < 0.01
        assert torch.equal(fast.forward_rows(x[:1], slice(10, 20)), one[:, 10:20])


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


def test_gpu_fast_mode_casts_weights():
    gpt = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, input_vocab_size=16, output_vocab_size=16))
    cast = make_fast(gpt, torch.device("meta"), torch.float16)  # any non-CPU device: a plain cast
    assert cast.lm_head.weight.dtype == torch.float16 and isinstance(cast.lm_head, torch.nn.Linear)

"""Linear layers by device: on the CPU picked by row count (packed copies only when used);
on GPUs stored in the autocast dtype."""

import copy
import types

import pytest
import torch
import torch.nn.functional as F

import core.cpu_linear
import core.model_cache
from core.cpu_linear import BatchLinear, PackedLinear, can_pack, pack, packed_linear, rows_of, swap_linears
from core.engine import Engine, EngineSettings
from core.hub import ModelLocator
from core.loading import load_stage_model
from core.model import GPT, GPTConfig
from core.model_cache import store_linears_in
from core.options import GenerationOptions
from core.textsplit import SplitOptions

F_linear = F.linear
needs_onednn = pytest.mark.skipif(not can_pack(torch.float32), reason="this PyTorch build has no oneDNN")


def make_linear(bias: bool = True) -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(64, 96, bias=bias)


@needs_onednn
@torch.inference_mode()
def test_batch_linear_packs_only_for_a_few_rows():
    linear = make_linear()
    layer = BatchLinear(linear)
    one, many = torch.randn(1, 1, 64), torch.randn(100, 64)
    assert torch.equal(layer(one), F.linear(one, linear.weight, linear.bias))  # one row: the same kernel
    assert torch.equal(layer(many), F.linear(many, linear.weight, linear.bias))  # a prefill too
    assert layer.packed is None  # nothing packed (no memory) until a batch of decode rows comes
    batch = torch.randn(3, 1, 64)
    torch.testing.assert_close(layer(batch), F.linear(batch, linear.weight, linear.bias))
    assert layer.packed is not None and layer.weight is linear.weight
    rows = slice(10, 30)
    assert torch.equal(layer.forward_rows(batch, rows), F.linear(batch, linear.weight[rows], linear.bias[rows]))


@needs_onednn
@torch.inference_mode()
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_linear_matches_f_linear(dtype):
    if not can_pack(dtype):
        pytest.skip(f"no oneDNN {dtype} on this CPU")
    linear = make_linear(bias=False)
    x = torch.randn(2, 50, 64, dtype=dtype)
    expected = F.linear(x, linear.weight.to(dtype))
    torch.testing.assert_close(PackedLinear(linear, dtype)(x), expected, rtol=0.02, atol=0.02)


@needs_onednn
@torch.inference_mode()
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_gelu_is_the_erf_gelu_of_the_linear(dtype):
    """The MLP's GELU in the packed kernel is F.gelu's (erf), not the tanh approximation: they differ by
    ~10% around -3, where bf16 still resolves them."""
    if not can_pack(dtype):
        pytest.skip(f"no oneDNN {dtype} on this CPU")
    linear = torch.nn.Linear(64, 64, bias=False)
    linear.weight.data = torch.eye(64)
    x = torch.linspace(-4, 4, 64 * 20).view(20, 64).to(dtype)
    fused = PackedLinear(linear, dtype).forward_gelu(x).float()
    torch.testing.assert_close(fused, F.gelu(x.float()).to(dtype).float(), rtol=0.01, atol=1e-3)
    tail = x.float() < -2.5
    assert not torch.allclose(fused[tail], F.gelu(x.float(), approximate="tanh")[tail], rtol=0.03, atol=0)


@needs_onednn
def test_swap_keeps_the_state_dict_and_the_outputs():
    gpt = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=16, input_vocab_size=64, output_vocab_size=64))
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    idx = torch.randint(0, 64, (3, 9))
    with torch.inference_mode():
        expected = gpt(idx, last_only=False)
        swap_linears(gpt, BatchLinear)
        assert isinstance(gpt.transformer.h[1].mlp.c_proj, BatchLinear)
        after = gpt.state_dict()  # the same names and tensors: checkpoints still load and save
        assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())
        torch.testing.assert_close(gpt(idx, last_only=False), expected)
        cache = gpt.new_cache(3)
        gpt(idx[:, :8], cache=cache)
        torch.testing.assert_close(gpt(idx[:, 8:], cache=cache), expected[:, -1])  # 3 decode rows: packed


@needs_onednn
def test_exact_cpu_engine_packs_for_a_batch_and_frees_the_copies_after(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(core.model_cache, "packed_is_faster_for_one_row", lambda: False)  # a CPU where MKL is
    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu"))
    assert isinstance(engine.models.get("coarse", False).lm_head, BatchLinear)
    assert isinstance(engine.models.get("fine", False).lm_heads[0], torch.nn.Linear)  # 1024 rows a pass
    packed = []
    monkeypatch.setattr(core.cpu_linear, "pack", lambda weight: packed.append(weight) or pack(weight))
    options = GenerationOptions(seed=1, max_duration_s=0.3, split=SplitOptions(mode="line"))
    engine.generate("hello\nworld", "v2/en_speaker_0", options)  # two segments: one batch of two rows
    assert packed  # the batch ran on packed copies ...
    for stage in ("text", "coarse"):  # ... which are gone once their stage is over
        model = engine.models.get(stage, False)
        assert all(m.packed is None for m in model.modules() if isinstance(m, BatchLinear))


@needs_onednn
def test_where_packed_weights_are_faster_for_one_row_exact_mode_keeps_them(tiny_models, tmp_path, monkeypatch):
    """On a CPU whose MKL is slow for one row (AMD EPYC: 19.5 against 8.6 ms for a small model's 48
    matrices), every exact-mode call runs on a packed copy made at load and kept across stages."""
    monkeypatch.setattr(core.model_cache, "packed_is_faster_for_one_row", lambda: True)
    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu"))
    model = engine.models.get("coarse", False)
    layers = [m for m in model.modules() if isinstance(m, BatchLinear)]
    assert layers and all(m.kept and m.packed is not None for m in layers)
    calls = []
    monkeypatch.setattr(core.cpu_linear, "packed_linear", lambda *a: calls.append(a) or packed_linear(*a))
    plain = []
    monkeypatch.setattr(core.cpu_linear.F, "linear", lambda *a: plain.append(a) or F_linear(*a))
    options = GenerationOptions(seed=1, max_duration_s=0.3)
    engine.generate("hello", "v2/en_speaker_0", options)  # one segment: prefills and one-row steps
    rows = {rows_of(a[0]) for a in calls}
    assert 1 in rows and max(rows) > 64  # one-row steps and prefills on the packed copies
    weights = {id(m.weight) for m in layers}
    assert plain and not [a for a in plain if id(a[1]) in weights]  # F.linear: other models, head slices
    assert all(m.packed is not None for m in layers)  # kept after the stage


@needs_onednn
def test_under_cpu_autocast_no_packed_copy_is_kept(tiny_models, tmp_path, monkeypatch):
    """--dtype bfloat16 on the CPU: autocast picks F.linear, so a kept copy would only cost memory."""
    monkeypatch.setattr(core.model_cache, "packed_is_faster_for_one_row", lambda: True)
    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu", dtype="bfloat16"))
    layers = [m for m in engine.models.get("coarse", False).modules() if isinstance(m, BatchLinear)]
    assert layers and not any(m.kept or m.packed is not None for m in layers)


def test_the_one_row_probe_picks_the_faster_kernel(monkeypatch):
    """The probe's choice, on a clock that only the kernels advance (their own time does not count)."""
    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(core.cpu_linear, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))

    def taking(seconds, run):
        def kernel(*args):
            clock.now += seconds
            return run(*args)

        return kernel

    for packed_seconds, packed_wins in ((2.0, False), (0.9, False), (0.5, True)):  # 0.9: no clear lead
        core.cpu_linear.packed_is_faster_for_one_row.cache_clear()
        with monkeypatch.context() as patch:
            patch.setattr(core.cpu_linear, "F", types.SimpleNamespace(linear=taking(1.0, F_linear)))
            patch.setattr(core.cpu_linear, "packed_linear", taking(packed_seconds, packed_linear))
            assert core.cpu_linear.packed_is_faster_for_one_row() is (packed_wins and can_pack(torch.float32))
    core.cpu_linear.packed_is_faster_for_one_row.cache_clear()


@pytest.mark.parametrize("stage", ["text", "fine"])
def test_linears_stored_in_the_autocast_dtype_give_the_autocast_results(tiny_models, stage):
    """What GPUs get in exact mode with bf16/fp16 autocast; checked here with the CPU's autocast."""
    model = load_stage_model(ModelLocator(tiny_models, allow_download=False), stage, small=True)
    cast = copy.deepcopy(model)
    store_linears_in(cast, torch.bfloat16)
    assert cast.transformer.h[0].mlp.c_fc.weight.dtype == torch.bfloat16
    assert cast.transformer.h[0].ln_1.weight.dtype == torch.float32
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        if stage == "fine":
            assert cast.transformer.wtes[1].weight is cast.lm_heads[0].weight  # tied, so kept in fp32
            assert cast.lm_heads[0].weight.dtype == torch.float32
            codes = torch.randint(0, 1024, (1, 64, 8), generator=torch.Generator().manual_seed(0))
            assert torch.equal(cast(3, codes), model(3, codes))
        else:
            assert cast.lm_head.weight.dtype == torch.bfloat16
            idx = torch.randint(0, 10_000, (2, 30), generator=torch.Generator().manual_seed(0))
            assert torch.equal(cast(idx, last_only=False), model(idx, last_only=False))


@needs_onednn
def test_batch_linear_follows_cpu_autocast():
    """With --dtype bfloat16 on the CPU autocast decides the precision: F.linear, packed copy unused."""
    linear = make_linear()
    layer = BatchLinear(linear)
    batch = torch.randn(3, 1, 64).bfloat16()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(layer(batch), linear(batch))
    assert layer.packed is None


def test_a_cpu_batch_runs_under_bf16_autocast(tiny_models, tmp_path):
    engine = Engine(EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cpu", dtype="bfloat16"))
    options = GenerationOptions(seed=1, max_duration_s=0.3, split=SplitOptions(mode="line"))
    result = engine.generate("hello\nworld", "v2/en_speaker_0", options)
    assert len(result.segments) == 2 and result.audio.size > 0

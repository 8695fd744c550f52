"""On a CUDA GPU (skipped without one; bash bench/gpu_check.sh runs them): what the CPU tests reach only in
part, CUDA-graph replays, weights stored in bf16 under autocast, offload, and fast mode's cast."""

import numpy as np
import pytest
import torch

from core.decode_steps import DecodeSteps
from core.engine import Engine, EngineSettings
from core.hub import ModelLocator
from core.loading import load_stage_model
from core.options import GenerationOptions

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
SHORT = GenerationOptions(seed=7, max_duration_s=0.3)  # 15 semantic tokens: tiny random models never stop


def cuda_engine(tiny_models, tmp_path, **settings) -> Engine:
    return Engine(
        EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path, device="cuda", allow_download=False, **settings)
    )


@torch.inference_mode()
def test_graph_replays_give_the_eager_logits_for_both_head_variants(tiny_models):
    model = load_stage_model(ModelLocator(tiny_models, allow_download=False), "coarse", small=True).cuda()
    idx = torch.randint(0, 10_000, (2, 40), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    eager, graphed = DecodeSteps(model, model.new_cache(2)), DecodeSteps(model, model.new_cache(2), "graph")
    head = slice(10_000, 11_024)
    for steps in (eager, graphed):
        steps.prefill(idx[:, :30], head_rows=head)
    for t in range(30, 40):
        rows = head if t % 2 else None  # two graphs, one pool
        torch.testing.assert_close(graphed(idx[:, t : t + 1], rows), eager(idx[:, t : t + 1], rows))
    assert graphed.mode == "graph" and len(graphed.graphs) == 2 and graphed.cache.length == 40


@pytest.mark.parametrize(
    "settings",
    [{"dtype": "float32"}, {"dtype": "bfloat16"}, {"dtype": "bfloat16", "cuda_graphs": True}, {"fast": True}],
    ids=["fp32", "bf16", "bf16-graphs", "fast"],
)
def test_the_engine_generates_on_the_gpu(tiny_models, tmp_path, settings):
    engine = cuda_engine(tiny_models, tmp_path, **settings)
    result = engine.generate("hello world", "v2/en_speaker_3", SHORT)
    assert len(result.segments[0].semantic) == 15 and np.isfinite(result.audio).all() and result.duration_s > 0
    if settings.get("dtype") == "bfloat16":  # stored in the autocast dtype (core.model_cache.store_linears_in)
        assert engine.models.get("text", False).lm_head.weight.dtype == torch.bfloat16


def test_offload_keeps_the_models_on_the_cpu_between_stages(tiny_models, tmp_path):
    engine = cuda_engine(tiny_models, tmp_path, offload_cpu=True)
    result = engine.generate("hello world", "v2/en_speaker_3", SHORT)
    assert np.isfinite(result.audio).all()
    for stage in ("text", "coarse", "fine"):
        assert next(engine.models.get(stage, False).parameters()).device.type == "cpu"

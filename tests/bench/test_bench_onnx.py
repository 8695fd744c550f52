"""bench.bench_onnx: its step graph against the torch GPT over consecutive steps, in the torch cache's own
memory, and dry runs of the bench on the tiny models."""

import re

import pytest
import torch

from bench import bench_onnx
from bench.bench_core import relative_error
from core.decode_steps import DecodeSteps
from core.model import GPT, GPTConfig

ROUTES = ("ort fp32", "ort int8", "ort int4", "torch exact", "torch int8", "torch int4")


def biased_gpt() -> GPT:
    """A tiny GPT with a bias in every Linear and LayerNorm (Bark's checkpoints have none), all of it random."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(2, 2, 32, block_size=64, input_vocab_size=100, output_vocab_size=120, bias=True))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:  # LayerNorm scales around 1, biases around 0
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.2)
    return model.eval()


@pytest.mark.parametrize("head", [None, slice(10, 40)])
@torch.inference_mode()
def test_the_fp32_graph_steps_like_torch_in_the_torch_cache(head):
    model = biased_gpt()
    prompt = torch.randint(0, 100, (1, 20))
    torch_steps, graph_cache = DecodeSteps(model, model.new_cache(1)), model.new_cache(1)
    torch_steps.prefill(prompt)
    DecodeSteps(model, graph_cache).prefill(prompt)  # the graph reads torch's prefill
    graph, _ = bench_onnx.graph_bytes(model, head, None)
    graph_steps = bench_onnx.OrtSteps(bench_onnx.ort_session(graph, 1), graph_cache, head)
    for token in (3, 7, 7, 42, 99):  # each step sees the keys and values the ones before wrote
        ids = torch.tensor([[token]])
        assert relative_error(torch_steps(ids, head), graph_steps(ids, head)) < 1e-5
    assert graph_cache.length == torch_steps.cache.length == 25
    torch.testing.assert_close(graph_cache.k, torch_steps.cache.k)  # written in place, nowhere else
    torch.testing.assert_close(graph_cache.v, torch_steps.cache.v)
    ids = torch.tensor([[5]])  # and torch steps on after the graph's steps
    torch.testing.assert_close(DecodeSteps(model, graph_cache)(ids, head), torch_steps(ids, head))
    with pytest.raises(ValueError, match="head rows"):
        graph_steps(ids, slice(0, 8))


def test_a_dry_run_on_the_tiny_models_prints_every_route_and_the_summary(tiny_models, capsys):
    bench_onnx.main(["--pack", str(tiny_models)])  # the tiny pack is kept as it is
    out = capsys.readouterr().out
    for stage in ("text", "coarse"):
        lines = {
            route: re.search(rf"^{stage} +{route} +step +[\d.]+ ms +logits error (\S+)", out, re.M) for route in ROUTES
        }
        assert all(lines.values()), out
        assert float(lines["ort fp32"][1]) < 1e-4 and float(lines["torch exact"][1]) == 0
        assert float(lines["ort int8"][1]) < 0.05 and float(lines["ort int4"][1]) < 0.5
    summary = [line for line in out.splitlines() if line.startswith("summary |")]
    assert len(summary) == 1 and summary[0].startswith("summary | small models, cpu")
    assert "text: ort fp32" in summary[0] and "coarse: ort fp32" in summary[0] and "vs torch int4" in summary[0]


def test_a_broken_fp32_graph_stops_the_bench_before_any_timing(tiny_models, capsys, monkeypatch):
    monkeypatch.setattr(bench_onnx, "FP32_LIMIT", -1.0)  # any error is too large
    with pytest.raises(SystemExit, match="a broken graph"):
        bench_onnx.main(["--pack", str(tiny_models), "--stages", "coarse"])
    assert " ms" not in capsys.readouterr().out

"""bench.bench_core's command line and a dry run of bench/gpu_check.sh's code path on the CPU with tiny models."""

import subprocess
from pathlib import Path

import pytest
import torch

from bench import bench_core

GPU_CHECK = Path(bench_core.__file__).with_name("gpu_check.sh")


def test_flags_map_onto_the_engine_settings(tmp_path):
    flags = "--size large --small-stages coarse fine --device cuda --dtype bfloat16 --cuda-graphs --offload"
    args = bench_core.parse_args([*flags.split(), "--pack", str(tmp_path), "--long-form-only"])
    settings = bench_core.engine_settings(args, "exact")
    assert (settings.small_text, settings.small_coarse, settings.small_fine) == (False, True, True)
    assert (settings.device, settings.dtype, settings.cuda_graphs, settings.offload_cpu) == (
        "cuda",
        "bfloat16",
        True,
        True,
    )
    assert settings.models_dir == tmp_path and not settings.fast and bench_core.engine_settings(args, "fast").fast
    assert args.parts == {"long form"}
    assert bench_core.parse_args([]).parts == {"stages", "long form"}
    assert bench_core.parse_args(["--no-long-form"]).parts == {"stages"}
    with pytest.raises(SystemExit):  # one or the other
        bench_core.parse_args(["--no-long-form", "--long-form-only"])


def test_a_cpu_dry_run_prints_the_summary(tiny_models, capsys):
    flags = "--device cpu --modes exact --dtype float32 --seconds 0.2 --no-long-form --plain-tokens 0"
    bench_core.main([*flags.split(), "--pack", str(tiny_models)])  # the tiny pack is kept as it is
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("summary |")]
    assert len(summary) == 1 and "small models, exact mode, cpu float32" in summary[0]
    assert "RTF" in summary[0] and "text step" in summary[0] and "coarse step" in summary[0]


def test_a_cpu_dry_run_of_every_mode_compares_them_with_exact(tiny_models, capsys):
    flags = "--device cpu --modes exact int4 --seconds 0.2 --no-long-form --plain-tokens 0"
    bench_core.main([*flags.split(), "--pack", str(tiny_models)])
    out = capsys.readouterr().out
    assert "one-row decode step at 380 positions, in turns: exact" in out and "int4" in out
    assert "int4 mode: RTF" in out and "int4 vs exact logits, fine" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_the_gpu_check_fails_clearly_without_cuda():
    run = subprocess.run(["bash", str(GPU_CHECK)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "no CUDA GPU" in run.stderr

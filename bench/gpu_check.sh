#!/usr/bin/env bash
# The GPU checks in one run (under 10 minutes on a CUDA GPU): the tests marked `cuda`, then
# bench.bench_core with the large models in exact (fp32), bf16 and bf16 + CUDA-graph mode, and the
# peak GPU memory of a bf16 generation with and without offload. Prints a compact summary at the end;
# every log is kept in $GPU_CHECK_LOGS (default /tmp/gpu-check). Exits non-zero when there is no CUDA
# GPU or when any step fails.
#
#   bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS=${GPU_CHECK_LOGS:-/tmp/gpu-check}
PACK=${GPU_CHECK_PACK:-/tmp/bark-bench-pack}
mkdir -p "$LOGS"

if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA GPU is usable here (torch.cuda.is_available() is False): run it on a machine with one" >&2
    exit 2
fi
python -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(), "torch", torch.__version__)'

failed=()

# step NAME SECONDS COMMAND...: run COMMAND with a time limit, its output in $LOGS/NAME.txt. The limits add
# up to 9.5 minutes: a step that runs past its limit fails instead of stretching the whole check.
step() {
    local name=$1 limit=$2
    shift 2
    echo "gpu_check: $name ..."
    if ! timeout -k 10 "$limit" "$@" >"$LOGS/$name.txt" 2>&1; then
        failed+=("$name")
        tail -n 20 "$LOGS/$name.txt"
    fi
}

# The large models once, written outside any time limit of a bench run (a few GB of random weights).
step pack 150 python -c "from bench.bench_core import write_bench_pack as w; from pathlib import Path; \
w(Path('$PACK'), dict.fromkeys(('text', 'coarse', 'fine'), False))"
if ((${#failed[@]})); then  # every bench step would write it again inside its own time limit
    echo "gpu_check: FAILED: the large random models could not be written to $PACK" >&2
    exit 1
fi

BENCH=(python -m bench.bench_core --device cuda --size large --modes exact --pack "$PACK" --plain-tokens 0)
step tests 90 python -m pytest -q -m cuda tests/core
step exact-fp32 75 "${BENCH[@]}" --dtype float32 --no-long-form
step bf16 105 "${BENCH[@]}" --dtype bfloat16
step bf16-graphs 105 "${BENCH[@]}" --dtype bfloat16 --cuda-graphs
step bf16-offload 45 "${BENCH[@]}" --dtype bfloat16 --offload --no-long-form

echo
echo "== gpu_check summary (logs in $LOGS) =="
tail -n 1 "$LOGS/tests.txt"
cat "$LOGS"/{exact-fp32,bf16,bf16-graphs,bf16-offload}.txt 2>/dev/null | grep -E '^(summary \||long form by stage|after a generation|.*floors assume)'
if ((${#failed[@]})); then
    echo "gpu_check: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "gpu_check: all passed"

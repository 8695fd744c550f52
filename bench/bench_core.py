"""Speed and memory of the generation core at Bark's real model sizes, with random weights.

    python -m bench.bench_core --size small --seconds 5
    python -m bench.bench_core --size large --no-cache-tokens 40

Prints per-stage throughput, the real-time factor (compute seconds / audio seconds) and peak RSS.
Lengths are fixed (early stop off), so runs are comparable; random weights make the audio noise
but cost exactly what real weights cost.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from core.coarse import coarse_steps, generate_coarse
from core.codec import Codec
from core.constants import SAMPLE_RATE, SEMANTIC_RATE_HZ
from core.fine import generate_fine
from core.loading import STAGE_VOCAB
from core.model import GPT, FineGPT, GPTConfig
from core.sampling import Sampling
from core.semantic import generate_semantic

SIZES = {"small": (12, 12, 768), "large": (24, 16, 1024)}  # layers, heads, width


def random_model(stage: str, size: str) -> torch.nn.Module:
    n_layer, n_head, n_embd = SIZES[size]
    n_in, n_out = STAGE_VOCAB[stage]
    config = GPTConfig(n_layer, n_head, n_embd, 1024, n_in, n_out, bias=False)
    torch.manual_seed(0)
    model = FineGPT(config) if stage == "fine" else GPT(config)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return model.eval().requires_grad_(False)


def random_codec() -> Codec:
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    return Codec(EncodecModel(EncodecConfig()).eval().requires_grad_(False))  # the 24 kHz model's shape


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_size(size: str, seconds: float, no_cache_tokens: int) -> None:
    models, load_s = timed(lambda: {s: random_model(s, size) for s in ("text", "coarse", "fine")})
    codec = random_codec()
    rss_loaded = peak_rss_mb()
    n_semantic = round(seconds * SEMANTIC_RATE_HZ)
    text_ids = torch.randint(10_048, 129_595, (256,), generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    warm = Sampling(0.7)

    def semantic_run(n, cache):
        return generate_semantic(
            models["text"], text_ids, None, warm, allow_early_stop=False, max_tokens=n, use_cache=cache, generator=gen
        )

    semantic, t_sem = timed(lambda: semantic_run(n_semantic, True))
    coarse, t_coarse = timed(lambda: generate_coarse(models["coarse"], semantic, None, warm, generator=gen))
    fine, t_fine = timed(lambda: generate_fine(models["fine"], coarse, None, Sampling(0.5), generator=gen))
    audio, t_dec = timed(lambda: codec.decode(fine))
    audio_s = len(audio) / SAMPLE_RATE
    total = t_sem + t_coarse + t_fine + t_dec
    n_coarse = coarse_steps(n_semantic)
    print(f"\n== {size} models, {torch.get_num_threads()} threads, {audio_s:.2f} s of audio ==")
    print(f"build models      {load_s:7.2f} s   peak RSS after build {rss_loaded:8.0f} MB")
    print(f"semantic          {t_sem:7.2f} s   {n_semantic / t_sem:7.1f} tok/s  ({n_semantic} tokens)")
    print(f"coarse            {t_coarse:7.2f} s   {n_coarse / t_coarse:7.1f} tok/s  ({n_coarse} tokens)")
    print(f"fine              {t_fine:7.2f} s")
    print(f"decode            {t_dec:7.2f} s")
    print(f"total             {total:7.2f} s   RTF {total / audio_s:.2f}   peak RSS {peak_rss_mb():.0f} MB")
    if no_cache_tokens:
        _, t_cached = timed(lambda: semantic_run(no_cache_tokens, True))
        _, t_plain = timed(lambda: semantic_run(no_cache_tokens, False))
        print(
            f"semantic, {no_cache_tokens} tokens: cache on {no_cache_tokens / t_cached:.1f} tok/s, "
            f"cache off {no_cache_tokens / t_plain:.1f} tok/s ({t_plain / t_cached:.1f}x slower)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["small", "large", "both"], default="small")
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length to generate")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-cache-tokens", type=int, default=0, help="also time the semantic stage without cache")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in ("small", "large") if args.size == "both" else (args.size,):
        bench_size(size, args.seconds, args.no_cache_tokens)


if __name__ == "__main__":
    main()

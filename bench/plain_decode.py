"""The causal stages without a KV cache: every step runs the model over the whole sequence again.

This is what Bark's reference does with `use_kv_caching=False`, one row at a time and as plainly as
it reads there. It is the reference that the product's cached stages (core.semantic, core.coarse)
must match token for token (tests/core/test_stages.py), and the baseline of the cache's speed-up
(bench.bench_core). The product never runs it: the cache is exact, and here the cost of a token
grows with the length of the sequence.
"""

from __future__ import annotations

import torch

from core.coarse import coarse_steps, codebook_ids, unflatten_coarse, voice_histories, window_input
from core.constants import SEMANTIC_VOCAB_SIZE
from core.model import GPT
from core.sampling import Sampling, sample
from core.semantic import semantic_input
from core.voice import VoicePrompt


@torch.inference_mode()
def plain_semantic(
    model: GPT,
    text_ids: torch.Tensor,
    voice: VoicePrompt | None,
    sampling: Sampling,
    *,
    max_tokens: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(256,) text ids -> (max_tokens,) int64 semantic tokens 0..9999 (CPU), without early stop."""
    prefix = semantic_input(text_ids[None], voice).to(model.device)  # (1, 513)
    x = prefix
    for _ in range(max_tokens):
        logits = model(x, merge_context=True)
        token, _ = sample(logits[:, :SEMANTIC_VOCAB_SIZE], sampling, generator)
        x = torch.cat([x, token[:, None]], dim=1)
    return x[0, prefix.shape[1] :].cpu()


@torch.inference_mode()
def plain_coarse(
    model: GPT,
    semantic: torch.Tensor,
    voice: VoicePrompt | None,
    sampling: Sampling,
    *,
    history: int = 630,
    window: int = 60,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(S,) semantic tokens -> (2, coarse_steps(S) / 2) int64 codes 0..1023 (CPU).

    Each window starts from its input (core.coarse.window_input); each step runs the model over that
    input and the window's tokens so far.
    """
    semantic_prompt, coarse = voice_histories(voice, history)
    n_prompt, total = len(coarse), coarse_steps(len(semantic))
    semantic = torch.cat([semantic_prompt, semantic])[None].to(model.device)  # (1, S'): the voice's, then these
    coarse = coarse[None].to(model.device)
    for start in range(0, total, window):
        x = window_input(semantic, len(semantic_prompt), coarse, start, history)
        for step in range(start, min(start + window, total)):
            ids = codebook_ids(step)
            token, _ = sample(model(x, head_rows=ids), sampling, generator)
            x, coarse = (torch.cat([t, token[:, None] + ids.start], dim=1) for t in (x, coarse))
    return unflatten_coarse(coarse[0, n_prompt:].cpu())

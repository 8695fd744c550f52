"""The causal stages without a KV cache: every step runs the model over the whole sequence again.

This is what Bark's reference does with `use_kv_caching=False`, one row at a time and as plainly as
it reads there. It is the reference that the product's cached stages (core.semantic, core.coarse)
must match token for token (tests/core/test_stages.py), and the baseline of the cache's speed-up
(bench.bench_core). The product never runs it: the cache is exact, and here the cost of a token
grows with the length of the sequence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.coarse import coarse_steps, unflatten_coarse, voice_histories
from core.constants import (
    COARSE_INFER_TOKEN,
    COARSE_SEMANTIC_PAD_TOKEN,
    CODEBOOK_SIZE,
    N_COARSE_CODEBOOKS,
    SEMANTIC_TO_COARSE_RATIO,
    SEMANTIC_VOCAB_SIZE,
    TEXT_CONTEXT,
)
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

    Each window's input is rebuilt from the semantic tokens and the flat coarse tokens so far; each
    step runs the model over that input and the window's tokens.
    """
    semantic_prompt, coarse = voice_histories(voice, history)
    n_prompt, coarse = len(coarse), coarse.to(model.device)
    semantic = torch.cat([semantic_prompt, semantic]).to(model.device)
    max_semantic_history = math.floor(history / SEMANTIC_TO_COARSE_RATIO)
    total = coarse_steps(len(semantic) - len(semantic_prompt))
    for start in range(0, total, window):
        aligned = len(semantic_prompt) + round(start / SEMANTIC_TO_COARSE_RATIO)
        semantic_in = semantic[max(0, aligned - max_semantic_history) :][:TEXT_CONTEXT]
        semantic_in = F.pad(semantic_in, (0, TEXT_CONTEXT - len(semantic_in)), value=COARSE_SEMANTIC_PAD_TOKEN)
        infer = torch.tensor([COARSE_INFER_TOKEN], device=model.device)
        x = torch.cat([semantic_in, infer, coarse[max(0, len(coarse) - history) :]])
        for step in range(start, min(start + window, total)):
            offset = SEMANTIC_VOCAB_SIZE + step % N_COARSE_CODEBOOKS * CODEBOOK_SIZE
            logits = model(x[None], head_rows=slice(offset, offset + CODEBOOK_SIZE))
            token, _ = sample(logits, sampling, generator)
            x, coarse = torch.cat([x, token + offset]), torch.cat([coarse, token + offset])
    return unflatten_coarse(coarse[n_prompt:].cpu())

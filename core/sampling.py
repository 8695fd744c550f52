"""The one sampling step every stage uses: top-p, then top-k, then temperature, then a draw.

Pure functions over (N, V) logits. Randomness comes only from the generator passed in, so a
seeded generation is reproducible and concurrent generations do not disturb each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = 0.7  # None = argmax (greedy)
    top_k: int | None = None
    top_p: float | None = None


def filter_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of highest logits whose softmax mass exceeds top_p (the best always kept)."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    remove = cumulative > top_p
    remove[..., 1:] = remove[..., :-1].clone()  # keep the token that crosses the threshold
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def filter_top_k(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep logits >= the k-th largest of each row."""
    k = min(top_k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample(
    logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw one token per row of (N, V) logits.

    Returns (tokens (N,) int64, probs (N, V) float32 after filtering and temperature; None for argmax).
    """
    logits = logits.float()
    if sampling.temperature is None:
        return logits.argmax(dim=-1), None
    if sampling.top_p is not None:
        logits = filter_top_p(logits, sampling.top_p)
    if sampling.top_k is not None:
        logits = filter_top_k(logits, sampling.top_k)
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    tokens = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
    return tokens, probs


def sample_rows(
    logits: torch.Tensor, sampling: Sampling, generators: Sequence[torch.Generator | None]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`sample` for a batch whose rows each draw from their own generator.

    Row b gets exactly the draw it would get alone, so a segment's seed means the same in a batch.
    """
    if len(generators) == 1:
        return sample(logits, sampling, generators[0])
    rows = [sample(logits[b : b + 1], sampling, g) for b, g in enumerate(generators)]
    tokens = torch.cat([t for t, _ in rows])
    probs = None if rows[0][1] is None else torch.cat([p for _, p in rows])
    return tokens, probs

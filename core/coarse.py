"""Stage 2: semantic tokens -> the first two EnCodec codebooks, with the coarse GPT.

The coarse model sees a sliding window: up to 256 semantic tokens around the current position,
the infer token, then the last `history` flattened coarse tokens (codebooks interleaved frame by
frame). The KV cache restarts at each window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .constants import (
    COARSE_INFER_TOKEN,
    COARSE_SEMANTIC_PAD_TOKEN,
    CODEBOOK_SIZE,
    N_COARSE_CODEBOOKS,
    SEMANTIC_TO_COARSE_RATIO,
    SEMANTIC_VOCAB_SIZE,
    TEXT_CONTEXT,
)
from .decode_steps import DecodeSteps
from .model import GPT
from .sampling import Sampling, sample_rows
from .semantic import StepHook
from .voice import VoicePrompt


def flatten_coarse(codes: torch.Tensor) -> torch.Tensor:
    """(2, T) codes -> (2T,) coarse-model ids: c0[t] + 10 000, c1[t] + 11 024, frame by frame."""
    offsets = SEMANTIC_VOCAB_SIZE + CODEBOOK_SIZE * torch.arange(codes.shape[0])[:, None]
    return (codes + offsets).T.reshape(-1)


def unflatten_coarse(flat: torch.Tensor) -> torch.Tensor:
    """Inverse of flatten_coarse: (2T,) ids -> (2, T) codes 0..1023."""
    codes = flat.view(-1, N_COARSE_CODEBOOKS).T - SEMANTIC_VOCAB_SIZE
    return codes - CODEBOOK_SIZE * torch.arange(N_COARSE_CODEBOOKS)[:, None].to(codes.device)


def voice_histories(voice: VoicePrompt | None, max_history: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned semantic and flattened coarse history taken from the end of the voice prompt."""
    if voice is None:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    semantic = torch.tensor(voice.semantic)
    coarse = flatten_coarse(torch.tensor(voice.coarse))
    n_semantic = min(
        math.floor(max_history / SEMANTIC_TO_COARSE_RATIO),
        len(semantic) - len(semantic) % 2,
        math.floor(len(coarse) / SEMANTIC_TO_COARSE_RATIO),
    )
    n_coarse = round(n_semantic * SEMANTIC_TO_COARSE_RATIO)
    semantic = semantic[len(semantic) - n_semantic :]
    coarse = coarse[len(coarse) - n_coarse :]
    return semantic, coarse[:-2]  # Bark drops the last two tokens: better time alignment


def coarse_steps(n_semantic: int) -> int:
    """Flattened coarse tokens generated for n_semantic semantic tokens (always even)."""
    return math.floor(n_semantic * SEMANTIC_TO_COARSE_RATIO / N_COARSE_CODEBOOKS) * N_COARSE_CODEBOOKS


@torch.inference_mode()
def generate_coarse(
    model: GPT,
    semantic: Sequence[torch.Tensor],
    voice: VoicePrompt | None,
    sampling: Sampling,
    *,
    history: int = 630,
    window: int = 60,
    step_mode: str = "eager",
    generators: Sequence[torch.Generator | None] = (None,),
    on_step: StepHook | None = None,
) -> list[torch.Tensor]:
    """B semantic token tensors (S_b,), one voice for all -> B int64 (2, T_b) codes 0..1023 (CPU).

    T_b = coarse_steps(S_b) / 2. Row b draws from generators[b]; rows step together (a row that is
    done keeps the batch shape until the longest is done) and the windows start at the same steps.
    `step_mode` picks how decode steps run (core.decode_steps: eager, static, or CUDA graphs).
    """
    device = model.device
    batch = len(semantic)
    max_semantic_history = math.floor(history / SEMANTIC_TO_COARSE_RATIO)
    semantic_history, coarse_history = voice_histories(voice, history)
    n_steps = [coarse_steps(len(s)) for s in semantic]
    total = max(n_steps)
    x_semantic = _pad_rows([torch.cat([semantic_history, s]) for s in semantic], COARSE_SEMANTIC_PAD_TOKEN)
    x_semantic = x_semantic.to(device)
    n_hist = len(coarse_history)
    coarse = torch.zeros(batch, n_hist + total, dtype=torch.long, device=device)  # history, then generated
    coarse[:, :n_hist] = coarse_history.to(device)
    cache = model.new_cache(batch)
    steps = DecodeSteps(model, cache, step_mode)
    infer = torch.full((batch, 1), COARSE_INFER_TOKEN, device=device)
    step = 0
    while step < total:
        aligned = len(semantic_history) + round(step / SEMANTIC_TO_COARSE_RATIO)
        sem_in = x_semantic[:, max(0, aligned - max_semantic_history) :][:, :TEXT_CONTEXT]
        sem_in = F.pad(sem_in, (0, TEXT_CONTEXT - sem_in.shape[1]), value=COARSE_SEMANTIC_PAD_TOKEN)
        end = n_hist + step
        x_in = torch.cat([sem_in, infer, coarse[:, max(0, end - history) : end]], dim=1)
        window_start = end
        for _ in range(min(window, total - step)):
            end = n_hist + step
            codebook = step % N_COARSE_CODEBOOKS
            offset = SEMANTIC_VOCAB_SIZE + codebook * CODEBOOK_SIZE
            rows = slice(offset, offset + CODEBOOK_SIZE)  # this codebook's logits only
            first = end == window_start
            logits = steps.prefill(x_in, head_rows=rows) if first else steps(coarse[:, end - 1 : end], rows)
            token, _ = sample_rows(logits, sampling, generators)
            coarse[:, end] = token + offset
            step += 1
            if on_step is not None:
                on_step(step, total)
    coarse = coarse.cpu()
    return [unflatten_coarse(coarse[b, n_hist : n_hist + n]) for b, n in enumerate(n_steps)]


def _pad_rows(rows: list[torch.Tensor], value: int) -> torch.Tensor:
    """1-D tensors -> (B, max length), right-padded with value."""
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, : len(row)] = row
    return out

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


def codebook_ids(step: int) -> slice:
    """The coarse-model ids (and logit rows) of the codebook sampled at `step`: even steps 0, odd steps 1."""
    offset = SEMANTIC_VOCAB_SIZE + step % N_COARSE_CODEBOOKS * CODEBOOK_SIZE
    return slice(offset, offset + CODEBOOK_SIZE)


def window_input(
    semantic: torch.Tensor, n_semantic_prompt: int, coarse: torch.Tensor, step: int, history: int
) -> torch.Tensor:
    """The coarse model's input (B, 257 + min(n, history)) for the window that starts at `step`.

    semantic (B, S): the voice's semantic history then the row's tokens; coarse (B, n): the voice's
    flat coarse history then the tokens generated before `step`. The input is 256 semantic tokens
    from floor(history / 3.006) before the aligned position (padded with 12 048), the infer token,
    then the last `history` flat coarse tokens.
    """
    aligned = n_semantic_prompt + round(step / SEMANTIC_TO_COARSE_RATIO)
    first = max(0, aligned - math.floor(history / SEMANTIC_TO_COARSE_RATIO))
    semantic_in = semantic[:, first : first + TEXT_CONTEXT]
    semantic_in = F.pad(semantic_in, (0, TEXT_CONTEXT - semantic_in.shape[1]), value=COARSE_SEMANTIC_PAD_TOKEN)
    infer = torch.full((len(semantic), 1), COARSE_INFER_TOKEN, device=semantic.device)
    return torch.cat([semantic_in, infer, coarse[:, max(0, coarse.shape[1] - history) :]], dim=1)


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
    semantic_prompt, coarse_prompt = voice_histories(voice, history)
    n_steps = [coarse_steps(len(s)) for s in semantic]
    total, n_prompt, device = max(n_steps), len(coarse_prompt), model.device
    semantic_ids = _pad_rows([torch.cat([semantic_prompt, s]) for s in semantic], COARSE_SEMANTIC_PAD_TOKEN).to(device)
    coarse = torch.zeros(len(semantic), n_prompt + total, dtype=torch.long, device=device)
    coarse[:, :n_prompt] = coarse_prompt.to(device)  # the voice's flat history, then one token per step
    generated = coarse[:, n_prompt:]  # a view: (B, total)
    steps = DecodeSteps(model, model.new_cache(len(semantic)), step_mode)
    for start in range(0, total, window):
        x = window_input(semantic_ids, len(semantic_prompt), coarse[:, : n_prompt + start], start, history)
        _sample_window(steps, x, generated, range(start, min(start + window, total)), sampling, generators, on_step)
    generated = generated.cpu()
    return [unflatten_coarse(generated[b, :n]) for b, n in enumerate(n_steps)]


def _sample_window(
    steps: DecodeSteps,
    x: torch.Tensor,
    generated: torch.Tensor,
    window: range,
    sampling: Sampling,
    generators: Sequence[torch.Generator | None],
    on_step: StepHook | None,
) -> None:
    """Prefill the window's input x (B, T), then sample the flat tokens of its steps into generated (B, total).

    Each step samples among its codebook's ids only and feeds its token to the next step of the window.
    """
    logits = steps.prefill(x, head_rows=codebook_ids(window.start))
    for step in window:
        token, _ = sample_rows(logits, sampling, generators)
        generated[:, step] = token + codebook_ids(step).start
        if on_step is not None:
            on_step(step + 1, generated.shape[1])
        if step + 1 < window.stop:
            logits = steps(generated[:, step : step + 1], codebook_ids(step + 1))


def _pad_rows(rows: list[torch.Tensor], value: int) -> torch.Tensor:
    """1-D tensors -> (B, max length), right-padded with value."""
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, : len(row)] = row
    return out

"""Stage 1: text -> semantic tokens with the text GPT."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .constants import (
    MAX_SEMANTIC_TOKENS,
    SEMANTIC_INFER_TOKEN,
    SEMANTIC_PAD_TOKEN,
    SEMANTIC_RATE_HZ,
    SEMANTIC_VOCAB_SIZE,
    TEXT_CONTEXT,
    TEXT_ENCODING_OFFSET,
    TEXT_PAD_TOKEN,
)
from .decode_steps import DecodeSteps
from .errors import InputError
from .model import GPT
from .sampling import Sampling, sample_rows
from .voice import VoicePrompt

StepHook = Callable[[int, int], None]  # (step, total); may raise Cancelled


def normalize_text(text: str) -> str:
    """Whitespace collapsed to single spaces and stripped, as Bark reads it."""
    return " ".join(text.split())


def encode_text(tokenizer, text: str) -> tuple[torch.Tensor, int]:
    """Text -> (256,) model ids (BERT id + 10 048, right-padded) and the number of BERT tokens.

    Only the first 256 tokens fit; the caller warns when the count is larger.
    """
    text = normalize_text(text)
    if not text:
        raise InputError("The text is empty: type something for Bark to say.")
    ids = tokenizer.encode(text, add_special_tokens=False)
    kept = torch.tensor(ids[:TEXT_CONTEXT], dtype=torch.long) + TEXT_ENCODING_OFFSET
    padded = torch.full((TEXT_CONTEXT,), TEXT_PAD_TOKEN, dtype=torch.long)
    padded[: len(kept)] = kept
    return padded, len(ids)


def semantic_history(voice: VoicePrompt | None) -> torch.Tensor:
    """The last 256 semantic tokens of the voice, right-padded with 10 000 (all padding without a voice)."""
    history = torch.full((TEXT_CONTEXT,), SEMANTIC_PAD_TOKEN, dtype=torch.long)
    if voice is not None:
        tail = torch.tensor(voice.semantic[-TEXT_CONTEXT:])
        history[: len(tail)] = tail
    return history


def max_semantic_tokens(max_duration_s: float | None) -> int:
    """Bark stops once the generated duration exceeds max_duration_s, and after 768 tokens.

    The duration is summed token by token in floating point, as Bark does, so the cut-off agrees
    with it exactly (a closed formula differs by one token at some durations, e.g. 10.0 s).
    """
    if max_duration_s is None:
        return MAX_SEMANTIC_TOKENS
    total = 0.0
    for n in range(1, MAX_SEMANTIC_TOKENS + 1):
        total += 1 / SEMANTIC_RATE_HZ
        if total > max_duration_s:
            return n
    return MAX_SEMANTIC_TOKENS


def semantic_input(text_ids: torch.Tensor, voice: VoicePrompt | None) -> torch.Tensor:
    """(B, 256) text ids -> (B, 513) ids of the first pass: text | the voice's history | the infer token."""
    prefix = torch.cat([semantic_history(voice), torch.tensor([SEMANTIC_INFER_TOKEN])])
    return torch.cat([text_ids, prefix.expand(len(text_ids), -1)], dim=1)


@torch.inference_mode()
def generate_semantic(
    model: GPT,
    text_ids: torch.Tensor,
    voice: VoicePrompt | None,
    sampling: Sampling,
    *,
    min_eos_p: float = 0.2,
    allow_early_stop: bool = True,
    max_tokens: int = MAX_SEMANTIC_TOKENS,
    step_mode: str = "eager",
    generators: Sequence[torch.Generator | None] = (None,),
    on_step: StepHook | None = None,
) -> list[torch.Tensor]:
    """(B, 256) text ids, one voice for all rows -> B tensors of int64 semantic tokens 0..9999 (CPU).

    Row b draws from generators[b]. The first pass sees text and history merged (257 positions);
    every later step one token per row. A row stops when end-of-speech is drawn or its probability
    reaches min_eos_p (if allowed), or after max_tokens; the batch runs until every row has stopped.
    `step_mode` picks how decode steps run (core.decode_steps: eager, static, or CUDA graphs).
    """
    steps = DecodeSteps(model, model.new_cache(len(text_ids)), step_mode)
    logits = steps.prefill(semantic_input(text_ids, voice).to(model.device), merge_context=True)
    eos_p = min_eos_p if allow_early_stop else None
    tokens, lengths = _sample_until_end(steps, logits, sampling, generators, max_tokens, eos_p, on_step)
    return [row[:length].cpu() for row, length in zip(tokens, lengths.tolist(), strict=True)]


def _sample_until_end(
    steps: DecodeSteps,
    logits: torch.Tensor,
    sampling: Sampling,
    generators: Sequence[torch.Generator | None],
    max_tokens: int,
    min_eos_p: float | None,
    on_step: StepHook | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample a token per row from logits (B, V), feed it, repeat -> tokens (B, max_tokens) and lengths (B,).

    min_eos_p None: no early stop (end-of-speech cannot be drawn). Otherwise a row's length is the step
    at which it first ended, and the loop stops once every row has.
    """
    batch, device = logits.shape[0], logits.device
    tokens = torch.zeros(batch, max_tokens, dtype=torch.long, device=device)
    lengths = torch.full((batch,), max_tokens, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    n_vocab = SEMANTIC_VOCAB_SIZE if min_eos_p is None else SEMANTIC_VOCAB_SIZE + 1  # id 10 000 is EOS
    for n in range(max_tokens):
        token, probs = sample_rows(logits[:, :n_vocab], sampling, generators)
        if min_eos_p is not None:
            stop = _end_of_speech(token, probs, min_eos_p)
            lengths = torch.where(stop & ~done, n, lengths)
            done |= stop
            if done.all().item():
                break
        tokens[:, n] = token
        if on_step is not None:
            on_step(n + 1, max_tokens)
        if n + 1 == max_tokens:
            break
        logits = steps(token[:, None])
    return tokens, lengths


def _end_of_speech(token: torch.Tensor, probs: torch.Tensor | None, min_eos_p: float) -> torch.Tensor:
    """(B,) bool: the row drew end-of-speech or gave it at least min_eos_p (probs None: argmax, drawn only)."""
    stop = token == SEMANTIC_VOCAB_SIZE
    if probs is not None:
        stop |= probs[:, -1] >= min_eos_p
    return stop

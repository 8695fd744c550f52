"""Stage 3: two coarse codebooks -> all eight, with the non-causal fine GPT.

A 1024-frame window slides with a hop of 512; in each window codebooks 2..7 are predicted in
order, only for frames that are not final yet. Up to 512 frames of the voice's fine prompt come
first as context.
"""

from __future__ import annotations

import math

import torch

from .constants import CODEBOOK_SIZE, FINE_HOP, FINE_UNKNOWN_CODE, FINE_WINDOW, N_FINE_CODEBOOKS
from .model import FineGPT
from .sampling import Sampling, sample
from .semantic import StepHook
from .voice import VoicePrompt


def fine_passes(n_frames: int, n_history: int) -> int:
    """Number of windows the fine stage runs over n_frames new frames after n_history ones."""
    return max(0, math.ceil((n_frames - (FINE_WINDOW - n_history)) / FINE_HOP)) + 1


@torch.inference_mode()
def generate_fine(
    model: FineGPT,
    coarse: torch.Tensor,
    voice: VoicePrompt | None,
    sampling: Sampling,
    *,
    generator: torch.Generator | None = None,
    on_step: StepHook | None = None,
) -> torch.Tensor:
    """(n_given, T) codes -> (8, T) int64 codes 0..1023 on the CPU (rows 0..n_given-1 kept)."""
    device = model.device
    n_given, n_frames = coarse.shape
    codes = torch.full((N_FINE_CODEBOOKS, n_frames), FINE_UNKNOWN_CODE, dtype=torch.long)
    codes[:n_given] = coarse
    history = torch.tensor(voice.fine[:, -FINE_HOP:]) if voice is not None else codes[:, :0]
    n_history = history.shape[1]
    codes = torch.cat([history, codes], dim=1)
    n_pad = max(0, FINE_WINDOW - codes.shape[1])  # the model needs a full window
    codes = torch.nn.functional.pad(codes, (0, n_pad), value=FINE_UNKNOWN_CODE)
    codes = codes.T.contiguous().to(device)  # (frames, 8)
    n_passes = fine_passes(n_frames, n_history)
    total = n_passes * (N_FINE_CODEBOOKS - n_given)
    done = 0
    for n in range(n_passes):
        start = min(n * FINE_HOP, codes.shape[0] - FINE_WINDOW)
        fill_from = min(n_history + n * FINE_HOP, codes.shape[0] - FINE_HOP) - start
        window = codes[start : start + FINE_WINDOW][None]  # (1, 1024, 8), a view: writes land in codes
        for k in range(n_given, N_FINE_CODEBOOKS):
            logits = model(k, window)[0, fill_from:, :CODEBOOK_SIZE]
            predicted, _ = sample(logits, sampling, generator)
            window[0, fill_from:, k] = predicted
            done += 1
            if on_step is not None:
                on_step(done, total)
    return codes.T[:, n_history : n_history + n_frames].cpu()

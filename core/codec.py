"""EnCodec 24 kHz behind a small interface: fine codes <-> waveform."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .constants import CODEBOOK_SIZE, N_FINE_CODEBOOKS, SAMPLE_RATE

BANDWIDTH_KBPS = 6.0  # 8 codebooks at 75 frames/s


class Codec:
    """Wraps transformers' EncodecModel the way Bark uses it (quantizer decode + decoder, no scale)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, model: nn.Module):
        self.model = model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor | np.ndarray) -> np.ndarray:
        """(8, T) codes 0..1023 -> (320 * T,) float32 samples at 24 kHz; no frames (Bark said nothing) -> none."""
        codes = torch.tensor(codes) if isinstance(codes, np.ndarray) else codes  # a copy: voices are read-only
        if codes.ndim != 2 or codes.shape[0] != N_FINE_CODEBOOKS:
            raise ValueError(f"codes must be ({N_FINE_CODEBOOKS}, T), got {tuple(codes.shape)}")
        if codes.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        codes = codes.to(self.device, torch.long)[:, None, :]  # (n_q, B=1, T)
        embeddings = self.model.quantizer.decode(codes)  # (1, D, T)
        audio = self.model.decoder(embeddings)  # (1, 1, 320 * T)
        return audio[0, 0].float().cpu().numpy()

    @torch.inference_mode()
    def encode(self, audio: np.ndarray) -> np.ndarray:
        """(N,) float samples at 24 kHz -> (8, ceil(N / 320)) int64 codes."""
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32), device=self.device)[None, None]
        out = self.model.encode(x, bandwidth=BANDWIDTH_KBPS)
        codes = out.audio_codes[0, 0].cpu().numpy().astype(np.int64)  # (n_q, T)
        if codes.shape[0] != N_FINE_CODEBOOKS or codes.max(initial=0) >= CODEBOOK_SIZE:
            raise ValueError(f"EnCodec returned codes of shape {codes.shape}; expected 8 codebooks of 1024")
        return codes

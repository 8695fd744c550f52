"""The options of one cloning request: what the CLI flags, UI controls and REST fields map onto.

One frozen dataclass, validated once in `__post_init__`; every message names the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import InputError

from .quantizer import QUANTIZERS

MAX_VARIANTS = 5
MIN_MAX_SECONDS = 2.0
MAX_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class CloneOptions:
    language: str = "en"  # key of QUANTIZERS: which HuBERT quantizer turns features into semantic tokens
    trim_silence: bool = True  # cut leading and trailing silence
    normalize: bool = True  # bring the speech to a standard level
    max_seconds: float = 15.0  # longer clips keep their last stretch (Bark only uses a prompt's end)
    variants: int = 1  # candidate voices from one clip, each ending at another pause: 1..5

    def __post_init__(self) -> None:
        if self.language not in QUANTIZERS:
            raise InputError(
                f"language must be one of {', '.join(QUANTIZERS)} (the languages with a published quantizer), "
                f"got {self.language!r}"
            )
        for name in ("trim_silence", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        seconds = self.max_seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not MIN_MAX_SECONDS <= seconds <= MAX_MAX_SECONDS
        ):
            raise InputError(
                f"max_seconds must be a number from {MIN_MAX_SECONDS} to {MAX_MAX_SECONDS}, got {seconds!r}"
            )
        if (
            isinstance(self.variants, bool)
            or not isinstance(self.variants, int)
            or not 1 <= self.variants <= MAX_VARIANTS
        ):
            raise InputError(f"variants must be a whole number from 1 to {MAX_VARIANTS}, got {self.variants!r}")

"""The options of one cloning request: what the CLI flags, UI controls and REST fields map onto.

One frozen dataclass, validated once in `__post_init__`; every message names the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.fields import check_fields, one_of, option, ranged

from .quantizer import QUANTIZERS

MAX_VARIANTS = 5
MIN_MAX_SECONDS = 2.0
MAX_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class CloneOptions:
    language: str = one_of(
        "en", tuple(QUANTIZERS), "Language", "which HuBERT quantizer turns speech into tokens: the published ones"
    )
    trim_silence: bool = option(True, "Trim silence", "cut leading and trailing silence")
    normalize: bool = option(True, "Normalize", "bring the speech to a standard level")
    max_seconds: float = ranged(
        15.0, MIN_MAX_SECONDS, MAX_MAX_SECONDS, "Longest stretch", "longer clips keep their last stretch", unit="s"
    )
    variants: int = ranged(
        1, 1, MAX_VARIANTS, "Variants", "candidate voices from one clip, each ending at another pause"
    )

    def __post_init__(self) -> None:
        check_fields(self)

"""The options of one generation request: what CLI flags, UI controls and REST fields map onto.

One frozen dataclass, validated once in `__post_init__` with messages that name the field and
the allowed range. `to_dict` / `from_dict` give the JSON saved beside every output.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .constants import MAX_SEMANTIC_TOKENS, SEMANTIC_RATE_HZ, TEXT_CONTEXT
from .errors import InputError
from .fields import check_fields, one_of, option, ranged
from .sampling import Sampling
from .textsplit import SplitOptions

CONTINUITY_MODES = ("stable", "continuous", "reset")
MAX_SEED = 2**32 - 1
MAX_TEXT_CHARS = 100_000  # about two hours of speech; more is almost surely a mistake
MAX_DURATION_S = math.floor(MAX_SEMANTIC_TOKENS / SEMANTIC_RATE_HZ * 10) / 10  # Bark's longest segment
MAX_COARSE_CONTEXT = 1024 - TEXT_CONTEXT - 1  # coarse history + window, after the semantic context


# Where a long list of options (the CLI's --help) shows each.
TEXT_STAGE, COARSE_STAGE, FINE_STAGE, SEED, LONG_TEXT = (
    "text (semantic) stage",
    "coarse stage",
    "fine stage",
    "seed",
    "long text",
)
# Options that no longer exist, still accepted in saved settings (and by the REST API) and ignored.
RETIRED_OPTIONS = {"use_kv_cache": "Ignored: the KV cache is always used (its tokens are exact)"}
TOP_K = "sample from the K likeliest tokens only"
TOP_P = "sample from the likeliest tokens that together hold probability P"


@dataclass(frozen=True)
class GenerationOptions:
    text_temp: float = ranged(
        0.7, 0.01, 5.0, "Text temperature", "higher is more varied, lower more stable", group=TEXT_STAGE
    )
    text_top_k: int | None = ranged(None, 1, 100_000, "Text top-k", TOP_K, group=TEXT_STAGE, off="all tokens")
    text_top_p: float | None = ranged(None, 0.01, 1.0, "Text top-p", TOP_P, group=TEXT_STAGE, off="off")
    min_eos_p: float = ranged(
        0.2,
        0.0,
        1.0,
        "Clip length chance",
        "a clip ends once ending is this likely: lower gives longer clips",
        group=TEXT_STAGE,
    )
    allow_early_stop: bool = option(
        True, "Early stop", "let a segment end when Bark is done speaking", group=TEXT_STAGE
    )
    max_duration_s: float | None = ranged(
        None,
        0.1,
        MAX_DURATION_S,
        "Max seconds per segment",
        "a cap on each segment's length",
        unit="s",
        group=TEXT_STAGE,
        off=f"Bark's ~{MAX_DURATION_S:.0f} s",
    )
    waveform_temp: float = ranged(
        0.7, 0.01, 5.0, "Waveform temperature", "temperature of the coarse (waveform) stage", group=COARSE_STAGE
    )
    coarse_top_k: int | None = ranged(None, 1, 100_000, "Waveform top-k", TOP_K, group=COARSE_STAGE, off="all tokens")
    coarse_top_p: float | None = ranged(None, 0.01, 1.0, "Waveform top-p", TOP_P, group=COARSE_STAGE, off="off")
    coarse_history: int = ranged(
        630,
        60,
        MAX_COARSE_CONTEXT - 1,
        "Coarse history",
        f"coarse tokens of context each window sees; history + window: at most {MAX_COARSE_CONTEXT}",
        unit="tokens",
        group=COARSE_STAGE,
    )
    coarse_window: int = ranged(
        60, 1, 256, "Coarse window", "steps per sliding window", unit="steps", group=COARSE_STAGE
    )
    fine_temp: float | None = ranged(
        0.5, 0.01, 5.0, "Fine temperature", "temperature of the fine stage", group=FINE_STAGE, off="argmax"
    )
    seed: int | None = ranged(
        None, 0, MAX_SEED, "Seed", "the same seed and settings give the same audio", group=SEED, off="random"
    )  # the result carries the seed used
    split: SplitOptions = field(default_factory=SplitOptions)
    continuity: str = one_of(
        "stable",
        CONTINUITY_MODES,
        "Voice across segments",
        "stable: every segment from the voice · continuous: from the segment before · reset: both",
        group=LONG_TEXT,
    )
    reset_every: int = ranged(
        4,
        1,
        1000,
        "Reset every N segments",
        "with continuity reset: back to the voice every N segments",
        group=LONG_TEXT,
    )
    silence_s: float = ranged(0.25, 0.0, 10.0, "Silence between segments", unit="s", group=LONG_TEXT)
    crossfade_s: float = ranged(0.0, 0.0, 1.0, "Crossfade", "between neighbouring parts", unit="s", group=LONG_TEXT)

    def __post_init__(self) -> None:
        check_fields(self)
        # The coarse window input is 256 semantic + 1 + history + window tokens within 1024 positions.
        if self.coarse_history + self.coarse_window > MAX_COARSE_CONTEXT:
            raise InputError(
                f"coarse_history must be a whole number from 60 to {MAX_COARSE_CONTEXT - self.coarse_window} "
                f"with coarse_window {self.coarse_window} (the two add up to at most {MAX_COARSE_CONTEXT}), "
                f"got {self.coarse_history!r}",
                "coarse_history",
            )
        if not isinstance(self.split, SplitOptions):
            raise InputError("split must be SplitOptions", "split")

    @property
    def text_sampling(self) -> Sampling:
        return Sampling(self.text_temp, self.text_top_k, self.text_top_p)

    @property
    def coarse_sampling(self) -> Sampling:
        return Sampling(self.waveform_temp, self.coarse_top_k, self.coarse_top_p)

    @property
    def fine_sampling(self) -> Sampling:
        return Sampling(self.fine_temp)

    def replace(self, **changes: Any) -> GenerationOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationOptions:
        """Build from JSON-like data (e.g. a saved settings file); unknown keys are an error, retired ones
        (RETIRED_OPTIONS) are ignored."""
        data = {k: v for k, v in data.items() if k not in RETIRED_OPTIONS}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown generation option(s): {', '.join(unknown)}", unknown[0])
        split = data.pop("split", None)
        if isinstance(split, dict):
            split_fields = {f.name for f in dataclasses.fields(SplitOptions)}
            bad = sorted(set(split) - split_fields)
            if bad:
                raise InputError(f"unknown split option(s): {', '.join(bad)}", f"split.{bad[0]}")
            try:
                data["split"] = SplitOptions(**split)
            except InputError as e:  # its field, as an option of this generation
                raise InputError(str(e), e.field and f"split.{e.field}") from None
        elif split is not None:
            data["split"] = split
        return cls(**data)

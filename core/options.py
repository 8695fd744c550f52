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
from .sampling import Sampling
from .textsplit import SplitOptions

CONTINUITY_MODES = ("stable", "continuous", "reset")
MAX_SEED = 2**32 - 1
MAX_TEXT_CHARS = 100_000  # about two hours of speech; more is almost surely a mistake


def _check_range(name: str, value: float | None, low: float, high: float, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        allowed = f"a number from {low} to {high}" + (" or empty" if optional else "")
        raise InputError(f"{name} must be {allowed}, got {value!r}")


def _check_int(name: str, value: int | None, low: int, high: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        allowed = f"a whole number from {low} to {high}" + (" or empty" if optional else "")
        raise InputError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class GenerationOptions:
    # Semantic (text) stage.
    text_temp: float = 0.7
    text_top_k: int | None = None
    text_top_p: float | None = None
    min_eos_p: float = 0.2  # "clip length chance": stop once end-of-speech is this likely
    allow_early_stop: bool = True
    max_duration_s: float | None = None  # cap on each segment's length; None = Bark's 768 tokens
    # Coarse stage.
    waveform_temp: float = 0.7
    coarse_top_k: int | None = None
    coarse_top_p: float | None = None
    coarse_history: int = 630  # flattened coarse tokens of context
    coarse_window: int = 60  # steps per sliding window
    # Fine stage.
    fine_temp: float | None = 0.5  # None = argmax
    # Engine.
    use_kv_cache: bool = True
    seed: int | None = None  # None = draw one; the result carries the seed used
    # Long texts.
    split: SplitOptions = field(default_factory=SplitOptions)
    continuity: str = "stable"  # stable | continuous | reset
    reset_every: int = 4  # with continuity "reset": go back to the base voice every N segments
    silence_s: float = 0.25
    crossfade_s: float = 0.0

    def __post_init__(self) -> None:
        _check_range("text_temp", self.text_temp, 0.01, 5.0)
        _check_range("waveform_temp", self.waveform_temp, 0.01, 5.0)
        _check_range("fine_temp", self.fine_temp, 0.01, 5.0, optional=True)
        for stage in ("text", "coarse"):
            _check_int(f"{stage}_top_k", getattr(self, f"{stage}_top_k"), 1, 100_000, optional=True)
            _check_range(f"{stage}_top_p", getattr(self, f"{stage}_top_p"), 0.01, 1.0, optional=True)
        _check_range("min_eos_p", self.min_eos_p, 0.0, 1.0)
        max_s = MAX_SEMANTIC_TOKENS / SEMANTIC_RATE_HZ
        _check_range("max_duration_s", self.max_duration_s, 0.1, math.floor(max_s * 10) / 10, optional=True)
        _check_int("coarse_window", self.coarse_window, 1, 256)
        # The coarse window input is 256 semantic + 1 + history + window tokens within 1024 positions.
        _check_int("coarse_history", self.coarse_history, 60, 1024 - TEXT_CONTEXT - 1 - self.coarse_window)
        _check_int("seed", self.seed, 0, MAX_SEED, optional=True)
        if not isinstance(self.split, SplitOptions):
            raise InputError("split must be SplitOptions")
        if self.continuity not in CONTINUITY_MODES:
            raise InputError(f"continuity must be one of {', '.join(CONTINUITY_MODES)}, got {self.continuity!r}")
        _check_int("reset_every", self.reset_every, 1, 1000)
        _check_range("silence_s", self.silence_s, 0.0, 10.0)
        _check_range("crossfade_s", self.crossfade_s, 0.0, 1.0)
        for name in ("allow_early_stop", "use_kv_cache"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")

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
        """Build from JSON-like data (e.g. a saved settings file); unknown keys are an error."""
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown generation option(s): {', '.join(unknown)}")
        split = data.pop("split", None)
        if isinstance(split, dict):
            split_fields = {f.name for f in dataclasses.fields(SplitOptions)}
            bad = sorted(set(split) - split_fields)
            if bad:
                raise InputError(f"unknown split option(s): {', '.join(bad)}")
            data["split"] = SplitOptions(**split)
        elif split is not None:
            data["split"] = split
        return cls(**data)

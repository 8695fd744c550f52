"""Request bodies of the REST API, derived from core.options so that no option can be missed.

Every field of GenerationOptions (and of SplitOptions, under "split") is an optional JSON field
of the same name; a field left out keeps the engine's default. The values are checked once, by
GenerationOptions itself, whose messages name the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from core.errors import InputError
from core.fields import Described, described, field_types
from core.options import MAX_TEXT_CHARS, RETIRED_OPTIONS, GenerationOptions
from core.textsplit import SplitOptions

from .audio import MAX_SPEED, MIN_SPEED

MODEL_IDS = ("bark", "tts-1", "tts-1-hd")  # /v1/models; OpenAI's names too, as chat front ends send them
# The Bark API server this project grew from named the temperatures differently.
LEGACY_NAMES = {"text_temperature": "text_temp", "coarse_temperature": "waveform_temp", "fine_temperature": "fine_temp"}
RESPONSE_FORMATS = ("mp3", "opus", "flac", "wav", "pcm")


def _optional_fields(cls: type, replace: dict[str, Any] | None = None) -> dict[str, Any]:
    """pydantic field definitions: each dataclass field, optional, default None (= engine default), with
    the label, help, unit, range or choices its description gives (core.fields), so the schema says what
    the engine accepts in the words the CLI and the form use."""
    fields = {}
    for name, d in described(cls).items():
        kind = Literal[d.about.choices] if d.about.choices is not None else d.kind
        limits = dict(zip(("ge", "le"), d.about.range, strict=True)) if d.about.range is not None else {}
        fields[name] = (kind | None, Field(None, title=d.about.label, description=_description(d), **limits))
    for name, (kind, doc) in (replace or {}).items():
        fields[name] = (kind | None, Field(None, description=doc))
    return fields


def _description(d: Described) -> str:
    unit = f" ({d.about.unit})" if d.about.unit else ""
    text = f"{d.about.label}{unit}" + (f": {d.about.help}" if d.about.help else "")
    return f"{text}; default {d.default!r}" + (f"; null: {d.about.off}" if d.optional else "")


SplitFields = create_model(
    "SplitFields",
    __config__=ConfigDict(extra="forbid", strict=True),
    __doc__="How long text is cut into segments (core.textsplit.SplitOptions); every field optional.",
    **_optional_fields(SplitOptions),
)
OptionFields = create_model(
    "OptionFields",
    __config__=ConfigDict(extra="forbid", strict=True),
    __doc__="Every generation option (core.options.GenerationOptions); every field optional.",
    **_optional_fields(GenerationOptions, {"split": (SplitFields, "How long text is cut into segments")}),
    **{name: (bool | None, Field(None, deprecated=True, description=why)) for name, why in RETIRED_OPTIONS.items()},
)


def options_from(body: BaseModel, renames: dict[str, str] | None = None) -> GenerationOptions:
    """The GenerationOptions of a request: the option fields it set (InputError names a bad one)."""
    kinds = field_types(GenerationOptions)
    # null keeps the default of an option that cannot be off, and turns off one that can (top-k, ...)
    given = {
        k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or kinds.get(k, (None, False))[1]
    }
    values = {k: v for k, v in given.items() if k in kinds}
    for old, new in (renames or {}).items():
        if old in given:
            if new in given:
                raise InputError(f"give either {old} or {new}, not both (they are the same option)", old)
            values[new] = given[old]
    if isinstance(values.get("split"), dict):
        values["split"] = {k: v for k, v in values["split"].items() if v is not None}
    return GenerationOptions.from_dict(values)


class GenerateAudioRequest(OptionFields):
    """POST /generate-audio/: the original Bark API server's body, plus every generation option."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"text": "Hello there.", "voice_preset": "v2/en_speaker_6", "fine_temperature": 0.5}]
        },
    )

    text: str = Field(max_length=MAX_TEXT_CHARS, description="What Bark says; long text is split into segments")
    voice_preset: str | None = Field(None, description="A preset (v2/en_speaker_6) or a library voice; none: random")
    text_temperature: float | None = Field(None, description="Same as text_temp")
    coarse_temperature: float | None = Field(None, description="Same as waveform_temp")
    fine_temperature: float | None = Field(None, description="Same as fine_temp")


class SpeechRequest(OptionFields):
    """POST /v1/audio/speech: OpenAI's body; unknown fields are ignored, as OpenAI clients add their own."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={"examples": [{"model": "bark", "input": "Hello there.", "voice": "v2/en_speaker_6"}]},
    )

    model: str = Field(
        "bark",
        description="One of GET /v1/models' ids (any other is a 400 naming them); the server's Bark models speak",
        json_schema_extra={"enum": list(MODEL_IDS)},
    )
    input: str = Field(max_length=MAX_TEXT_CHARS, description="What Bark says; long text is split into segments")
    voice: str = Field(description="A preset (v2/en_speaker_6), a library voice, or none (random)")
    response_format: Literal[RESPONSE_FORMATS] = Field("mp3", description="pcm: raw 16-bit little-endian, 24 kHz")
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED, description="Tempo; the pitch is kept")
    stream: bool | None = Field(
        None, description="Send each segment as soon as it is ready (wav and pcm); default: only for pcm"
    )
    instructions: str | None = Field(None, description="Accepted for compatibility and ignored")

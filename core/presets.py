"""Names of Suno's built-in voice presets (pure data; loading them lives elsewhere).

Each language has ten speakers in two generations: `v2/{lang}_speaker_{n}` (the newer, usually
better ones) and `{lang}_speaker_{n}`; `announcer` is the one preset outside that pattern.
"""

from __future__ import annotations

LANGUAGES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "tr": "Turkish",
    "zh": "Chinese",
}
SPEAKERS_PER_LANGUAGE = 10
ANNOUNCER = "announcer"
OTHER_GROUP = "Other"  # presets_by_language() group of presets without a language


def _language_presets(lang: str) -> list[str]:
    """The presets of one language code, v2 first: ["v2/en_speaker_0", ..., "en_speaker_9"]."""
    speakers = [f"{lang}_speaker_{n}" for n in range(SPEAKERS_PER_LANGUAGE)]
    return [f"v2/{s}" for s in speakers] + speakers


_LANGUAGE_OF = {name: lang for lang in LANGUAGES for name in _language_presets(lang)}


def preset_names() -> list[str]:
    """Every preset name: all v2 speakers, then all v1 speakers (LANGUAGES order), then announcer."""
    v2 = [name for name in _LANGUAGE_OF if name.startswith("v2/")]
    v1 = [name for name in _LANGUAGE_OF if not name.startswith("v2/")]
    return [*v2, *v1, ANNOUNCER]


def is_preset(name: str) -> bool:
    """True for an exact preset name such as "v2/en_speaker_6" or "announcer"."""
    return isinstance(name, str) and (name in _LANGUAGE_OF or name == ANNOUNCER)


def presets_by_language() -> dict[str, list[str]]:
    """Language display name -> its presets (v2 first); "Other" holds announcer. For grouped menus."""
    groups = {LANGUAGES[lang]: _language_presets(lang) for lang in LANGUAGES}
    groups[OTHER_GROUP] = [ANNOUNCER]
    return groups


def preset_language(name: str) -> str | None:
    """Language code of a preset ("v2/de_speaker_3" -> "de"); None for announcer and non-presets."""
    return _LANGUAGE_OF.get(name) if isinstance(name, str) else None

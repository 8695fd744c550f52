"""Suno's preset names."""

from __future__ import annotations

import pytest

from core.presets import LANGUAGES, is_preset, preset_language, preset_names, presets_by_language


def test_every_preset_is_listed_once():
    names = preset_names()
    assert len(names) == len(set(names)) == 13 * 2 * 10 + 1
    assert names[0] == "v2/en_speaker_0"
    assert names[-1] == "announcer"
    for lang in LANGUAGES:
        for n in range(10):
            assert f"v2/{lang}_speaker_{n}" in names
            assert f"{lang}_speaker_{n}" in names


def test_v2_presets_come_before_v1():
    names = preset_names()
    last_v2 = max(i for i, name in enumerate(names) if name.startswith("v2/"))
    first_v1 = names.index("en_speaker_0")
    assert last_v2 < first_v1


@pytest.mark.parametrize("name", ["v2/en_speaker_6", "de_speaker_0", "v2/zh_speaker_9", "announcer"])
def test_is_preset(name):
    assert is_preset(name)


@pytest.mark.parametrize(
    "name",
    ["v2/en_speaker_10", "en_speaker", "v2/xx_speaker_1", "v1/en_speaker_1", "V2/EN_SPEAKER_1", "", None, 3],
)
def test_is_not_preset(name):
    assert not is_preset(name)


def test_presets_by_language():
    groups = presets_by_language()
    assert list(groups) == [*LANGUAGES.values(), "Other"]
    assert groups["Other"] == ["announcer"]
    assert groups["German"][:2] == ["v2/de_speaker_0", "v2/de_speaker_1"]
    assert groups["German"][10:] == [f"de_speaker_{n}" for n in range(10)]
    assert sorted(n for names in groups.values() for n in names) == sorted(preset_names())


def test_results_are_fresh_copies():
    preset_names().clear()
    presets_by_language()["English"].clear()
    assert len(preset_names()) == 261
    assert len(presets_by_language()["English"]) == 20


@pytest.mark.parametrize(
    ("name", "lang"),
    [("v2/de_speaker_3", "de"), ("zh_speaker_0", "zh"), ("announcer", None), ("my voice", None), (None, None)],
)
def test_preset_language(name, lang):
    assert preset_language(name) == lang

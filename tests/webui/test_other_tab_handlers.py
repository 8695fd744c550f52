"""The Clone, Voices, History and Settings tabs' handlers called as plain functions on a real Studio
(tiny models), without any Blocks or browser."""

from __future__ import annotations

import pytest

from core.errors import InputError, NameTakenError
from webui.studio import Studio
from webui.tabs import voices


@pytest.fixture()
def studio(engine, tmp_path) -> Studio:
    return Studio(engine, tmp_path / "outputs")


def add_voice(studio: Studio, name: str, preset: str = "v2/en_speaker_1") -> None:
    studio.engine.library.save(name, studio.engine.resolve_voice(preset)[0])


def test_renaming_onto_a_taken_name_offers_what_the_tab_can_do(studio):
    add_voice(studio, "Anna")
    add_voice(studio, "Bert")
    with pytest.raises(NameTakenError) as caught:
        voices.rename(studio, "Anna", " Bert ")
    message = str(caught.value)
    assert "'Bert' is already in your voice library" in message and "delete" in message
    assert "overwrit" not in message  # the tab has no overwrite
    assert studio.voice_names() == ["Anna", "Bert"]


def test_renaming_needs_a_new_name(studio):
    add_voice(studio, "Anna")
    with pytest.raises(InputError, match="Type a new name for Anna first"):
        voices.rename(studio, "Anna", "  ")
    with pytest.raises(InputError, match="Type a new name for Anna first"):
        voices.rename(studio, "Anna", "Anna")

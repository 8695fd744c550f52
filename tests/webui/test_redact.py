"""Messages for remote users name the server's folders and never show where they are."""

from __future__ import annotations

import os

from webui.redact import Redactor


def test_known_folders_are_named_and_other_paths_keep_only_their_last_part(tmp_path):
    models, elsewhere = tmp_path / "models", tmp_path / "elsewhere"
    models.mkdir()
    elsewhere.mkdir()
    redact = Redactor({models: "the models folder", "prompts": "your voice library"})
    assert (
        redact(f"text_2.pt is missing in {models}/suno/bark") == "text_2.pt is missing in the models folder/suno/bark"
    )
    assert redact(f"'{elsewhere}/clip.wav' cannot be read") == "'…/clip.wav' cannot be read"
    assert redact(f"a voice exists in {os.path.abspath('prompts')}") == "a voice exists in your voice library"


def test_words_routes_and_urls_stay():
    redact = Redactor({"prompts": "your voice library", "models": "the models folder"})
    for message in [
        "voice prompts and model files",  # a relative folder's name is also a word
        "GET /v1/audio/voices lists them all",  # a route, not a place on this machine
        "open http://127.0.0.1:7860/ instead",
        "must not contain / or \\",
    ]:
        assert redact(message) == message

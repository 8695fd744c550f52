"""The Generate tab's handlers and the service's generation parts, called as plain functions on a real
Studio (tiny models), without any Blocks (issue 13, items 5-9)."""

from __future__ import annotations

import pytest

from core.errors import InputError
from core.options import GenerationOptions
from webui.form import form_from_options, options_from_form
from webui.studio import Studio

FAST = GenerationOptions(seed=5, max_duration_s=0.2)  # tiny models never stop on their own


@pytest.fixture()
def studio(engine, tmp_path) -> Studio:
    return Studio(engine, tmp_path / "outputs")


def test_an_empty_seed_without_random_is_a_mistake_not_a_random_seed():
    form = form_from_options(GenerationOptions())
    with pytest.raises(InputError, match="Type a seed, or tick Random seed") as error:
        options_from_form(form | {"random_seed": False, "seed": None})  # the box emptied
    assert error.value.field == "seed"

"""Shared fixtures: one tiny models directory (random weights, real formats) per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloning.tiny import write_cloning_models
from core.engine import Engine, EngineSettings
from core.tiny import write_tiny_pack


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """Bark's tiny models and voice cloning's, in one folder (python -m cloning.tiny DIR)."""
    return write_cloning_models(write_tiny_pack(tmp_path_factory.mktemp("tiny-models")))


@pytest.fixture()
def engine(tiny_models, tmp_path) -> Engine:
    """An offline engine on the tiny pack, with its own empty voice library."""
    return Engine(
        EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path / "prompts", device="cpu", allow_download=False)
    )

"""Clips of speech made with espeak-ng (22 050 Hz mono wav) and converted to other formats and rates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from cloning import VoiceCloner
from core.engine import Engine, EngineSettings
from core.library import VoiceLibrary

SPEECH = (
    "Hello there, my name is Robert. This is a test of voice cloning. "
    "It should work well, I hope. Let us see what happens next."
)


def convert(source: Path, target: Path, rate: int | None = None, channels: int | None = None, **sf_kwargs) -> Path:
    """Convert with sox where it is installed (wav targets), else with soundfile + soxr."""
    if shutil.which("sox") and target.suffix == ".wav" and not sf_kwargs:
        options = [*(["-r", str(rate)] if rate else []), *(["-c", str(channels)] if channels else [])]
        subprocess.run(["sox", str(source), *options, str(target)], check=True, capture_output=True)
        return target
    audio, source_rate = sf.read(source, dtype="float32", always_2d=True)
    if rate and rate != source_rate:
        audio = soxr.resample(audio, source_rate, rate)
    if channels == 2:
        audio = np.concatenate([audio, 0.5 * audio], axis=1)
    sf.write(target, audio, rate or source_rate, **sf_kwargs)
    return target


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """name -> file: wav (espeak-ng's own), flac, ogg, opus, mp3, stereo, 8k, 48k."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); the test clips are spoken by it")
    folder = tmp_path_factory.mktemp("clips")
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True, capture_output=True)
    return {
        "wav": wav,
        "flac": convert(wav, folder / "speech.flac"),
        "ogg": convert(wav, folder / "speech.ogg", subtype="VORBIS"),
        "opus": convert(wav, folder / "speech.opus", rate=48_000, format="OGG", subtype="OPUS"),
        "mp3": convert(wav, folder / "speech.mp3"),
        "stereo": convert(wav, folder / "stereo.wav", channels=2),
        "8k": convert(wav, folder / "speech-8k.wav", rate=8_000),
        "48k": convert(wav, folder / "speech-48k.wav", rate=48_000),
    }


@pytest.fixture(scope="session")
def shared_cloner(tiny_models, tmp_path_factory) -> VoiceCloner:
    """One cloner (and engine) for the session, so that the models load once."""
    settings = EngineSettings(
        models_dir=tiny_models, prompts_dir=tmp_path_factory.mktemp("unused"), device="cpu", allow_download=False
    )
    return VoiceCloner(Engine(settings))


@pytest.fixture()
def cloner(shared_cloner, tmp_path) -> VoiceCloner:
    """The shared cloner, writing into this test's own empty voice library."""
    shared_cloner.engine.library = VoiceLibrary(tmp_path / "prompts")
    return shared_cloner


@pytest.fixture()
def engine(cloner) -> Engine:
    """The cloner's offline engine on the tiny pack (overrides tests/conftest.py's, to share its models)."""
    return cloner.engine


@pytest.fixture()
def library_files(engine):
    """A function listing every file in the engine's voice library folder (temporary files included)."""

    def files() -> list[str]:
        root = engine.library.root
        return sorted(p.name for p in root.rglob("*")) if root.exists() else []

    return files

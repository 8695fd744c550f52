"""What the web tests need besides the server: a spoken clip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CLIP_TEXT = "Hello there. This is a short test of voice cloning. It is spoken by a robot. Goodbye for now."


def voice_clip(path: Path, text: str = CLIP_TEXT) -> Path:
    """A few seconds of espeak-ng speaking `text`, as a wav file."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed")
    subprocess.run([espeak, "-w", str(path), text], check=True, capture_output=True, timeout=60)
    return path

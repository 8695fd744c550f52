"""The API's audio helpers: streamed joins equal whole joins, tempo keeps the pitch."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import join_segments
from core.errors import InputError
from webui.api.audio import StreamJoin, change_tempo


@pytest.mark.parametrize(("silence_s", "crossfade_s"), [(0.0, 0.0), (0.25, 0.0), (0.0, 0.01), (0.25, 0.3)])
def test_a_streamed_join_equals_the_whole_join(silence_s, crossfade_s):
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(rng.integers(10, 6000)).astype(np.float32) for _ in range(5)]
    join = StreamJoin(24000, silence_s, crossfade_s)
    streamed = np.concatenate([join.add(c) for c in clips] + [join.finish()])
    assert np.array_equal(streamed, join_segments(clips, 24000, silence_s, crossfade_s))


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.5, 2.0, 4.0])
def test_tempo_changes_the_length_and_keeps_the_pitch(speed):
    rate = 24000
    t = np.arange(2 * rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    out = change_tempo(tone, speed, rate)
    assert len(out) == round(len(tone) / speed) and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert abs(np.fft.rfftfreq(len(out), 1 / rate)[spectrum.argmax()] - 220) < 2
    assert np.abs(out).max() <= 0.51


def test_tempo_edge_cases():
    assert len(change_tempo(np.zeros(0, np.float32), 2.0)) == 0
    assert len(change_tempo(np.ones(10, np.float32), 2.0)) == 5
    with pytest.raises(InputError, match="speed"):
        change_tempo(np.ones(10, np.float32), 5.0)

"""Quality checks of one take, on crafted audio: tones, silence, clipped square waves."""

from __future__ import annotations

import numpy as np
import pytest

from core.constants import CHARS_PER_SECOND
from core.errors import InputError
from core.qc import QC_CODES, Flag, check_take

RATE = 24_000
CAP = 768
TEXT_40 = "The quick brown fox jumps over the dogs."  # 40 characters: about 2.9 s


def tone(seconds: float, amplitude: float = 0.3, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


def codes(flags: tuple[Flag, ...]) -> list[str]:
    return [flag.code for flag in flags]


def check(audio: np.ndarray, text: str = TEXT_40, tokens: int = 150, text_tokens: int = 12) -> tuple[Flag, ...]:
    return check_take(text, audio, RATE, tokens, CAP, text_tokens=text_tokens)


def test_a_clean_take_has_no_flags() -> None:
    assert len(TEXT_40) == 40
    assert check(tone(3.0)) == ()
    assert check(np.r_[silence(0.5), tone(1.0), silence(1.0), tone(1.5), silence(0.3)]) == ()  # a pause under 1.5 s


def test_too_long_says_how_long_against_what() -> None:
    (flag,) = check(tone(12.8))
    assert flag.code == "too_long"
    assert flag.message.startswith("12.8 s for 40 characters: about 2.9 s expected (likely rambling")
    limit = 2.5 * 40 / CHARS_PER_SECOND + 2.0
    assert check(tone(limit - 0.05)) == ()


def test_a_text_longer_than_bark_reads_is_flagged_with_its_count() -> None:
    (flag,) = check(tone(3.0), text_tokens=300)
    assert flag.code == "text_cut" and flag.message.startswith("300 text tokens: Bark reads only the first 256")
    assert check(tone(3.0), text_tokens=256) == ()
    with pytest.raises(InputError, match="text_tokens"):
        check(tone(3.0), text_tokens=-1)


def test_too_short_only_for_texts_long_enough() -> None:
    text = "word " * 28  # 139 characters: about 9.9 s
    (flag,) = check(tone(2.0), text)
    assert flag.code == "too_short" and "2.0 s for 139 characters: about 9.9 s expected" in flag.message
    assert check(tone(3.0), text) == ()  # above 0.4 x 9.9 - 1 s
    assert check(tone(0.3), "Hi there, friend.") == ()  # expected 1.2 s: too little to judge


def test_tags_and_music_notes_are_not_spoken_characters() -> None:
    tagged = "[laughs] " + TEXT_40 + " [clears throat] ♪"
    (flag,) = check(tone(12.8), tagged)
    assert "for 40 characters" in flag.message


def test_length_cap() -> None:
    (flag,) = check(tone(3.0), tokens=CAP - 1)
    assert flag.code == "length_cap" and f"{CAP - 1} semantic tokens of at most {CAP}" in flag.message
    assert codes(check(tone(3.0), tokens=CAP)) == ["length_cap"]
    assert check(tone(3.0), tokens=CAP - 2) == ()


def test_silence_gap_inside_the_take_only() -> None:
    (flag,) = check(np.r_[tone(1.0), silence(2.0), tone(1.0), silence(1.6), tone(0.5)])
    assert flag.code == "silence_gap"
    assert flag.message.startswith("2 silences of 1.5 s or more inside the take, the longest 2.0 s at 1.0 s")
    (one,) = check(np.r_[tone(0.5), silence(1.5), tone(1.0)])
    assert one.message.startswith("a silence of 1.5 s at 0.5 s inside the take (below -40 dBFS")
    assert check(np.r_[silence(2.0), tone(2.5), silence(2.0)]) == ()  # silence at the ends is no gap
    assert check(np.r_[tone(1.0), silence(1.4), tone(1.5)]) == ()
    faint = np.r_[tone(1.0), tone(1.6, amplitude=0.01), tone(1.0)]  # -43 dBFS: silent, though not zero
    assert codes(check(faint)) == ["silence_gap"]


def test_clipping() -> None:
    square = np.where(tone(3.0) >= 0, 1.0, -1.0).astype(np.float32)
    (flag,) = check(square)
    assert flag.code == "clipping" and flag.message.startswith("100.0% of samples at full scale")
    few = tone(3.0)
    few[:: len(few) // 50] = 1.0  # 0.07% of samples
    assert check(few) == ()
    few[:: len(few) // 200] = -1.0  # 0.35% of samples
    assert codes(check(few)) == ["clipping"]


def test_quiet_replaces_silence_gap() -> None:
    assert codes(check(tone(3.0, amplitude=0.005))) == ["quiet"]  # -49 dBFS

    def blips(amplitude: float) -> np.ndarray:
        return np.r_[tone(0.02, amplitude), silence(3.0), tone(0.02, amplitude)]

    assert codes(check(blips(0.3))) == ["silence_gap"]  # -32 dBFS in all
    (flag,) = check(blips(0.02))  # the same gap, between blips at -37 dBFS: -58 dBFS in all
    assert flag.code == "quiet" and "dBFS, under -45 dBFS" in flag.message
    (zeros,) = check(silence(3.0))
    assert zeros.code == "quiet" and "every sample is 0" in zeros.message


def test_empty_audio_is_too_short_and_flags_come_in_order() -> None:
    (flag,) = check(np.zeros(0, np.float32), "Hi.")
    assert flag.code == "too_short" and "empty" in flag.message
    assert codes(check(np.zeros(0, np.float32), tokens=CAP)) == ["too_short", "length_cap"]
    loud_rambling = np.where(tone(20.0) >= 0, 1.0, -1.0).astype(np.float32)
    loud_rambling[RATE * 5 : RATE * 8] = 0.0
    found = codes(check(loud_rambling, tokens=CAP))
    assert found == ["too_long", "length_cap", "silence_gap", "clipping"]
    assert found == sorted(found, key=QC_CODES.index)


def test_odd_samples_and_bad_arguments() -> None:
    noisy = tone(3.0)
    noisy[100:200] = np.nan
    assert check(noisy) == ()  # NaN counts as silence
    assert check(tone(3.0).astype(np.float64)) == ()
    with pytest.raises(InputError, match="mono"):
        check(np.zeros((RATE, 2), np.float32))
    with pytest.raises(InputError, match="sample_rate"):
        check_take(TEXT_40, tone(1.0), 0, 10, CAP, text_tokens=12)
    with pytest.raises(InputError, match="semantic_tokens"):
        check_take(TEXT_40, tone(1.0), RATE, -1, CAP, text_tokens=12)

"""Audio for the REST API: response formats, streaming pieces and tempo.

Audio is mono float32 in [-1, 1], shape (samples,), at 24 kHz unless a rate is given.
Streaming sends raw 16-bit PCM (after a wav header with unknown length for "wav"), built from
the engine's segments as they arrive, joined exactly as core.audio.join_segments joins them.
"""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import soundfile as sf

from core.audio import check_format, encode_audio, join_segments, to_int16
from core.constants import SAMPLE_RATE
from core.errors import InputError

# response_format -> media type
MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "opus": "audio/ogg",  # Opus in an Ogg container, as OpenAI sends it
    "pcm": "audio/pcm",  # raw 16-bit little-endian mono at 24 kHz, no header
}
STREAMABLE = ("wav", "pcm")
UNKNOWN_LENGTH = 0xFFFFFFFF  # RIFF and data sizes of a wav whose length is not known yet


def check_response_format(fmt: str) -> None:
    """InputError when this machine's libsndfile cannot write `fmt` (mp3 needs 1.1+, opus 1.0.29+)."""
    if fmt == "opus" and "OPUS" not in sf.available_subtypes("OGG"):
        raise InputError(
            f"response_format opus is not supported by the installed libsndfile ({sf.__libsndfile_version__}); "
            "choose wav, flac, mp3 or pcm"
        )
    if fmt in ("wav", "mp3", "flac"):
        try:
            check_format(fmt)
        except InputError as e:
            raise InputError(f"response_format {e}") from None


def pcm16(audio: np.ndarray) -> bytes:
    """Float samples -> 16-bit little-endian PCM bytes (core.audio.to_int16), so a pcm response equals
    the wav one sample for sample."""
    return to_int16(audio).astype("<i2").tobytes()


def wav_stream_header(sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 44-byte 16-bit mono wav header whose RIFF and data sizes say "unknown" (0xFFFFFFFF)."""
    byte_rate = sample_rate * 2
    return (
        b"RIFF"
        + struct.pack("<I", UNKNOWN_LENGTH)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, 2, 16)
        + b"data"
        + struct.pack("<I", UNKNOWN_LENGTH)
    )


def encode_response(audio: np.ndarray, fmt: str, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The whole audio as the bytes of one response in `fmt` (wav, mp3, flac, opus or pcm)."""
    if fmt == "pcm":
        return pcm16(audio)
    if fmt == "opus":
        if len(audio) == 0:
            raise InputError("the audio is empty (0 samples); there is nothing to encode")
        buffer = io.BytesIO()
        samples = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32), nan=0.0), -1.0, 1.0)
        sf.write(buffer, samples, sample_rate, format="OGG", subtype="OPUS")
        return buffer.getvalue()
    return encode_audio(audio, sample_rate, fmt)


class StreamJoin:
    """Joins clips as they arrive; the concatenation of every `add` and `finish` equals
    join_segments(all clips). With a crossfade, the last `crossfade_s` seconds are held back
    until the next clip (or the end), since the next clip may fade into them."""

    def __init__(self, sample_rate: int, silence_s: float, crossfade_s: float):
        self.sample_rate = sample_rate
        self.silence_s = silence_s
        self.crossfade_s = crossfade_s
        self._hold = round(crossfade_s * sample_rate)
        self._clips: list[np.ndarray] = []  # kept only with a crossfade
        self._count = 0
        self._sent = 0

    def add(self, clip: np.ndarray) -> np.ndarray:
        """The samples that are final once `clip` is known."""
        clip = np.asarray(clip, dtype=np.float32)
        self._count += 1
        if self._hold == 0:  # no crossfade: silence then the clip, nothing held back
            gap = round(self.silence_s * self.sample_rate) if self._count > 1 else 0
            return np.concatenate([np.zeros(gap, dtype=np.float32), clip])
        self._clips.append(clip)  # re-joining everything is quadratic, but cheap next to generating
        joined = join_segments(self._clips, self.sample_rate, self.silence_s, self.crossfade_s)
        ready = max(self._sent, len(joined) - self._hold)
        piece, self._sent = joined[self._sent : ready], ready
        return piece

    def finish(self) -> np.ndarray:
        """What was held back."""
        if self._hold == 0 or not self._clips:
            return np.zeros(0, dtype=np.float32)
        joined = join_segments(self._clips, self.sample_rate, self.silence_s, self.crossfade_s)
        return joined[self._sent :]


# Tempo: WSOLA (waveform-similarity overlap-add). Frames of 40 ms are taken from the input every
# `speed * 20 ms` and laid down every 20 ms; each frame's start moves by up to 10 ms to where it
# best continues the previous frame, so periods line up and the pitch is kept.
TEMPO_FRAME_S = 0.04
TEMPO_TOLERANCE_S = 0.01
MIN_SPEED, MAX_SPEED = 0.25, 4.0


def change_tempo(audio: np.ndarray, speed: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """`audio` played `speed` times as fast at the same pitch: about len(audio) / speed samples."""
    if not isinstance(speed, int | float) or not math.isfinite(speed) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise InputError(f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}, got {speed!r}")
    audio = np.asarray(audio, dtype=np.float32)
    if speed == 1.0 or len(audio) == 0:
        return audio
    frame = 2 * round(TEMPO_FRAME_S * sample_rate / 2)
    hop = frame // 2
    tolerance = round(TEMPO_TOLERANCE_S * sample_rate)
    n_out = max(1, round(len(audio) / speed))
    n_frames = math.ceil(n_out / hop) + 1
    padded = np.concatenate([np.zeros(tolerance, np.float32), audio, np.zeros(2 * frame + tolerance, np.float32)])
    padded = np.pad(padded, (0, max(0, round(n_frames * hop * speed) + 2 * frame + 2 * tolerance - len(padded))))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)).astype(np.float32)  # periodic Hann
    out = np.zeros(n_frames * hop + frame, dtype=np.float32)
    weight = np.zeros_like(out)
    previous = tolerance
    for k in range(n_frames):
        nominal = tolerance + round(k * hop * speed)  # where frame k would start without adjustment
        start = nominal if k == 0 else _best_start(padded, previous + hop, nominal, frame, tolerance)
        out[k * hop : k * hop + frame] += window * padded[start : start + frame]
        weight[k * hop : k * hop + frame] += window
        previous = start
    out /= np.where(weight > 1e-6, weight, 1.0)
    return out[:n_out]


def _best_start(padded: np.ndarray, natural: int, nominal: int, frame: int, tolerance: int) -> int:
    """The start within nominal ± tolerance whose frame best matches the natural continuation."""
    template = padded[natural : natural + frame]
    region = padded[nominal - tolerance : nominal + tolerance + frame]
    if not template.any():
        return nominal
    scores = np.correlate(region, template, mode="valid")  # (2 * tolerance + 1,)
    return nominal - tolerance + int(np.argmax(scores))

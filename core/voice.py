"""Voice prompts: the token history that makes Bark speak in a given voice.

A prompt is three token arrays, stored as an .npz with the keys Suno's presets use:

    semantic_prompt  (T_s,)    semantic tokens, 0..9999, 49.9 per second
    coarse_prompt    (2, T_c)  EnCodec codes of the first 2 codebooks, 0..1023, 75 frames per second
    fine_prompt      (8, T_c)  EnCodec codes of all 8 codebooks, 0..1023

Files are read with `allow_pickle=False`: a prompt never runs code while loading.
"""

from __future__ import annotations

import io
import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.constants import (
    COARSE_RATE_HZ,
    CODEBOOK_SIZE,
    N_COARSE_CODEBOOKS,
    N_FINE_CODEBOOKS,
    SEMANTIC_RATE_HZ,
    SEMANTIC_VOCAB_SIZE,
)
from core.errors import VoiceError
from core.fileio import atomic_write_bytes

SEMANTIC_KEY = "semantic_prompt"
COARSE_KEY = "coarse_prompt"
FINE_KEY = "fine_prompt"
KEYS = (SEMANTIC_KEY, COARSE_KEY, FINE_KEY)

# Coarse frames per semantic token is 75 / 49.9 ~= 1.503; anything far from it is not one recording.
MIN_FRAME_RATIO = 1.3
MAX_FRAME_RATIO = 1.7
# A real prompt is a few hundred KiB at most; refuse members that would unpack to more (zip bombs).
MAX_MEMBER_BYTES = 64 * 1024 * 1024

# Errors np.load, its header parser and the zip reader raise on a damaged or foreign file
# (found by flipping every byte of a prompt file): bad CRCs, "encrypted" or unknown-version
# members, unparsable headers.
_READ_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    KeyError,
    SyntaxError,
    RuntimeError,  # includes NotImplementedError
    zipfile.BadZipFile,
    zlib.error,
    tokenize.TokenError,
)


@dataclass(frozen=True, eq=False)
class VoicePrompt:
    """A validated voice prompt. Build it with `from_arrays`, `load` or `from_bytes`.

    The arrays are read-only, C-contiguous int64 copies.
    """

    semantic: np.ndarray  # (T_s,) int64, values 0..9999
    coarse: np.ndarray  # (2, T_c) int64, values 0..1023
    fine: np.ndarray  # (8, T_c) int64, values 0..1023

    @classmethod
    def from_arrays(cls, semantic, coarse, fine, *, source: str = "voice") -> VoicePrompt:
        """Validate three token arrays (any integer dtype) and copy them to int64.

        Raises VoiceError, whose message starts with `source`, on the first problem found.
        """
        semantic = _checked(semantic, SEMANTIC_KEY, 1, None, SEMANTIC_VOCAB_SIZE, source)
        coarse = _checked(coarse, COARSE_KEY, 2, N_COARSE_CODEBOOKS, CODEBOOK_SIZE, source)
        fine = _checked(fine, FINE_KEY, 2, N_FINE_CODEBOOKS, CODEBOOK_SIZE, source)
        if fine.shape[1] != coarse.shape[1]:
            raise VoiceError(
                f"{source}: {FINE_KEY} has {fine.shape[1]} frames but {COARSE_KEY} has "
                f"{coarse.shape[1]}; both must cover the same audio"
            )
        ratio = coarse.shape[1] / semantic.shape[0]
        if not MIN_FRAME_RATIO <= ratio <= MAX_FRAME_RATIO:
            raise VoiceError(
                f"{source}: the prompt's parts do not line up: {coarse.shape[1]} coarse frames for "
                f"{semantic.shape[0]} semantic tokens is {ratio:.2f} frames per token; Bark's is "
                f"{COARSE_RATE_HZ / SEMANTIC_RATE_HZ:.2f} (allowed {MIN_FRAME_RATIO}..{MAX_FRAME_RATIO})"
            )
        return cls(semantic=semantic, coarse=coarse, fine=fine)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VoicePrompt:
        """Read a voice prompt .npz. Extra keys are ignored."""
        path = Path(path)
        if not path.is_file():
            raise VoiceError(f"no voice prompt file at {path}; check the path")
        return _from_npz(path, f"voice '{path.name}'")

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "upload") -> VoicePrompt:
        """Read a voice prompt from the bytes of an .npz (an upload, a request body)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise VoiceError(f"{source}: expected the bytes of an .npz file, got {type(data).__name__}")
        return _from_npz(io.BytesIO(bytes(data)), source)

    def to_bytes(self) -> bytes:
        """The prompt as an uncompressed .npz with Suno's keys, all int64."""
        buffer = io.BytesIO()
        np.savez(buffer, **{SEMANTIC_KEY: self.semantic, COARSE_KEY: self.coarse, FINE_KEY: self.fine})
        return buffer.getvalue()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the .npz atomically to exactly `path` (no suffix is added) and return it."""
        path = Path(path)
        atomic_write_bytes(path, self.to_bytes())
        return path

    @property
    def duration_s(self) -> float:
        """Seconds of audio the prompt covers (coarse frames / 75)."""
        return self.coarse.shape[1] / COARSE_RATE_HZ

    def equals(self, other: object) -> bool:
        """True when `other` is a VoicePrompt with the same tokens."""
        return isinstance(other, VoicePrompt) and all(
            np.array_equal(a, b)
            for a, b in (
                (self.semantic, other.semantic),
                (self.coarse, other.coarse),
                (self.fine, other.fine),
            )
        )


def _checked(array, key: str, ndim: int, rows: int | None, vocab: int, source: str) -> np.ndarray:
    """Validate one token array; return a read-only contiguous int64 copy."""
    try:
        array = np.asarray(array)
    except (ValueError, TypeError) as e:
        raise VoiceError(f"{source}: {key} is not an array of tokens ({e})") from e
    if array.dtype.kind not in "iu":
        raise VoiceError(f"{source}: {key} must hold integer tokens, got dtype {array.dtype}")
    if array.ndim != ndim:
        expected = "(T,)" if ndim == 1 else f"({rows}, T)"
        raise VoiceError(f"{source}: {key} must have shape {expected}, got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise VoiceError(f"{source}: {key} must have {rows} rows (codebooks), got shape {array.shape}")
    if array.size == 0:
        raise VoiceError(f"{source}: {key} is empty (shape {array.shape}); a prompt needs at least one frame")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= vocab:
        raise VoiceError(f"{source}: {key} values must be in 0..{vocab - 1}, got values from {low} to {high}")
    out = np.ascontiguousarray(array, dtype=np.int64).copy()
    out.setflags(write=False)
    return out


def _from_npz(file: Path | io.BytesIO, source: str) -> VoicePrompt:
    """Read the three arrays of an .npz (path or file object) and validate them."""
    _check_is_zip(file, source)
    try:
        npz = np.load(file, allow_pickle=False)
    except _READ_ERRORS as e:
        raise VoiceError(f"{source}: not a readable .npz file ({_reason(e)})") from e
    with npz:
        missing = [key for key in KEYS if key not in npz.files]
        if missing:
            raise VoiceError(
                f"{source}: missing {', '.join(missing)}; a voice prompt .npz needs the keys "
                f"{', '.join(KEYS)} (found: {', '.join(npz.files) or 'none'})"
            )
        arrays = {key: _read_member(npz, key, source) for key in KEYS}
    return VoicePrompt.from_arrays(arrays[SEMANTIC_KEY], arrays[COARSE_KEY], arrays[FINE_KEY], source=source)


def _check_is_zip(file: Path | io.BytesIO, source: str) -> None:
    """An .npz is a zip archive; say so plainly for anything else (np.load would blame pickles)."""
    if isinstance(file, Path):
        try:
            with file.open("rb") as f:
                head = f.read(6)
        except OSError as e:
            raise VoiceError(f"{source}: the file cannot be read ({e.strerror or e})") from e
    else:
        head = file.getvalue()[:6]
    if head.startswith(b"PK"):
        return
    what = "a single .npy array" if head.startswith(b"\x93NUMPY") else "not a zip archive"
    raise VoiceError(
        f"{source}: not a voice prompt .npz file ({what}); expected an .npz with the keys {', '.join(KEYS)}"
    )


def _read_member(npz: np.lib.npyio.NpzFile, key: str, source: str) -> np.ndarray:
    """Read one array, refusing object (pickled) arrays from their header, before any data is read."""
    names = npz.zip.namelist()
    member = f"{key}.npy" if f"{key}.npy" in names else key
    size = npz.zip.getinfo(member).file_size
    if size > MAX_MEMBER_BYTES:
        raise VoiceError(f"{source}: {key} unpacks to {size} bytes; a voice prompt is far smaller")
    try:
        with npz.zip.open(member) as f:
            fmt = np.lib.format
            major, _ = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, _, dtype = read_header(f)
        if dtype.hasobject:
            raise VoiceError(
                f"{source}: {key} is a pickled object array; it was refused without loading "
                f"(pickles can run code). Re-save the prompt with integer arrays."
            )
        if math.prod(shape) * dtype.itemsize > size:  # numpy would allocate the declared size first
            raise VoiceError(f"{source}: {key} declares shape {shape} but holds only {size} bytes")
        return npz[key]
    except _READ_ERRORS as e:
        raise VoiceError(f"{source}: {key} could not be read ({_reason(e)})") from e


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__

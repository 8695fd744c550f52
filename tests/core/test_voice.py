"""VoicePrompt: validation, .npz round trips, and refusing files that are not prompts."""

from __future__ import annotations

import contextlib
import io
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import voice
from core.errors import InputError, VoiceError
from core.voice import VoicePrompt

T_S, T_C = 300, 451  # real-shaped: ~6 s, 451 / 300 = 1.50 coarse frames per semantic token


def make_arrays(t_s=T_S, t_c=T_C, seed=0, fine_dtype=np.int32):
    """Arrays shaped and typed like Suno's presets: int64 semantic and coarse, int32 fine."""
    rng = np.random.default_rng(seed)
    semantic = rng.integers(0, 10_000, t_s, dtype=np.int64)
    fine = rng.integers(0, 1024, (8, t_c)).astype(fine_dtype)
    coarse = fine[:2].astype(np.int64)
    return semantic, coarse, fine


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def suno_npz(**overrides) -> bytes:
    semantic, coarse, fine = make_arrays()
    arrays = {"semantic_prompt": semantic, "coarse_prompt": coarse, "fine_prompt": fine}
    arrays.update(overrides)
    return npz_bytes(**{k: v for k, v in arrays.items() if v is not None})


# Round trips


@pytest.mark.parametrize("fine_dtype", [np.int32, np.uint16, np.int64])
def test_save_load_round_trip_is_exact(tmp_path, fine_dtype):
    arrays = make_arrays(fine_dtype=fine_dtype)
    prompt = VoicePrompt.from_arrays(*arrays)
    path = prompt.save(tmp_path / "v.npz")

    loaded = VoicePrompt.load(path)

    assert loaded.equals(prompt)
    for got, want in zip((loaded.semantic, loaded.coarse, loaded.fine), arrays, strict=True):
        assert got.dtype == np.int64
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npz"]  # no temporary files left


def test_to_bytes_writes_suno_keys_as_int64():
    prompt = VoicePrompt.from_arrays(*make_arrays())
    with np.load(io.BytesIO(prompt.to_bytes()), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        assert npz["semantic_prompt"].shape == (T_S,)
        assert npz["coarse_prompt"].shape == (2, T_C)
        assert npz["fine_prompt"].shape == (8, T_C)
        assert {npz[k].dtype for k in npz.files} == {np.dtype(np.int64)}
    assert VoicePrompt.from_bytes(prompt.to_bytes()).equals(prompt)


def test_loads_a_suno_style_file_and_ignores_extra_keys(tmp_path):
    path = tmp_path / "en_speaker_6.npz"
    path.write_bytes(suno_npz(extra=np.arange(3.0)))
    prompt = VoicePrompt.load(path)
    assert prompt.fine.dtype == np.int64
    assert prompt.duration_s == pytest.approx(T_C / 75)


def test_arrays_are_read_only_copies():
    semantic, coarse, fine = make_arrays()
    prompt = VoicePrompt.from_arrays(semantic, coarse, fine)
    semantic[0] = 1 - semantic[0]
    assert prompt.semantic[0] != semantic[0]
    with pytest.raises(ValueError):
        prompt.coarse[0, 0] = 0


def test_fine_need_not_repeat_coarse():
    semantic, coarse, fine = make_arrays()
    fine = fine.copy()
    fine[:2] = (coarse + 1) % 1024
    VoicePrompt.from_arrays(semantic, coarse, fine)


def test_equals():
    a = VoicePrompt.from_arrays(*make_arrays(seed=1))
    assert a.equals(VoicePrompt.from_arrays(*make_arrays(seed=1)))
    assert not a.equals(VoicePrompt.from_arrays(*make_arrays(seed=2)))
    assert not a.equals(VoicePrompt.from_arrays(*make_arrays(t_s=290, seed=1)))
    assert not a.equals("not a prompt")


@settings(max_examples=40, deadline=None)
@given(t_s=st.integers(1, 400), ratio=st.floats(1.3, 1.7), seed=st.integers(0, 2**16))
def test_bytes_round_trip_property(t_s, ratio, seed):
    t_c = int(t_s * ratio)
    if not 1.3 <= t_c / t_s <= 1.7:
        return
    prompt = VoicePrompt.from_arrays(*make_arrays(t_s, t_c, seed, np.uint16))
    assert VoicePrompt.from_bytes(prompt.to_bytes()).equals(prompt)


# Validation: every message names the source, the key and the problem

SEMANTIC, COARSE, FINE = make_arrays()


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        (
            (SEMANTIC, np.zeros((3, T_C), np.int64), FINE),
            "coarse_prompt must have 2 rows (codebooks), got shape (3, 451)",
        ),
        ((SEMANTIC, COARSE, FINE[:7]), "fine_prompt must have 8 rows (codebooks), got shape (7, 451)"),
        ((SEMANTIC[None], COARSE, FINE), "semantic_prompt must have shape (T,), got shape (1, 300)"),
        ((SEMANTIC, COARSE[0], FINE), "coarse_prompt must have shape (2, T), got shape (451,)"),
        (
            (SEMANTIC.astype(np.float64), COARSE, FINE),
            "semantic_prompt must hold integer tokens, got dtype float64",
        ),
        (
            (SEMANTIC, COARSE.astype(np.float32), FINE),
            "coarse_prompt must hold integer tokens, got dtype float32",
        ),
        ((SEMANTIC, COARSE, FINE.astype(bool)), "fine_prompt must hold integer tokens, got dtype bool"),
        (
            (SEMANTIC.astype(object), COARSE, FINE),
            "semantic_prompt must hold integer tokens, got dtype object",
        ),
        (
            (np.append(SEMANTIC, 10_000), COARSE, FINE),
            "semantic_prompt values must be in 0..9999, got values from",
        ),
        (
            (SEMANTIC, np.where(COARSE[0, 0] == COARSE, -1, COARSE), FINE),
            "coarse_prompt values must be in 0..1023",
        ),
        ((SEMANTIC, COARSE, np.full((8, T_C), 1024, np.uint16)), "fine_prompt values must be in 0..1023"),
        ((SEMANTIC[:0], COARSE, FINE), "semantic_prompt is empty"),
        ((SEMANTIC, COARSE[:, :0], FINE), "coarse_prompt is empty"),
        ((SEMANTIC, COARSE, FINE[:, :450]), "fine_prompt has 450 frames but coarse_prompt has 451"),
        ((SEMANTIC[:200], COARSE, FINE), "the prompt's parts do not line up"),
        ((np.tile(SEMANTIC, 2), COARSE, FINE), "451 coarse frames for 600 semantic tokens"),
    ],
)
def test_from_arrays_rejects(arrays, expected):
    with pytest.raises(VoiceError) as info:
        VoicePrompt.from_arrays(*arrays, source="voice 'x.npz'")
    message = str(info.value)
    assert message.startswith("voice 'x.npz': ")
    assert expected in message


def test_voice_error_is_an_input_error():
    assert issubclass(VoiceError, InputError)


def test_uint64_values_beyond_int64_are_out_of_range():
    semantic = SEMANTIC.astype(np.uint64)
    semantic[0] = np.iinfo(np.uint64).max
    with pytest.raises(VoiceError, match=r"semantic_prompt values must be in 0..9999"):
        VoicePrompt.from_arrays(semantic, COARSE, FINE)


# Files that are not voice prompts


def test_missing_key_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(suno_npz(semantic_prompt=None, semantic=SEMANTIC))
    with pytest.raises(VoiceError) as info:
        VoicePrompt.load(path)
    message = str(info.value)
    assert "'x.npz'" in message
    assert "missing semantic_prompt" in message
    assert "found: coarse_prompt, fine_prompt, semantic" in message


def test_validation_errors_from_a_file_name_the_file(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(suno_npz(coarse_prompt=np.zeros((3, 120), np.int64)))
    with pytest.raises(
        VoiceError,
        match=r"^voice 'x.npz': coarse_prompt must have 2 rows \(codebooks\), got shape \(3, 120\)$",
    ):
        VoicePrompt.load(path)


class _Exploit:
    """Unpickling this calls `_record`; a safe loader never does."""

    def __reduce__(self):
        return (_record, ("unpickled",))


_CALLS: list[str] = []


def _record(what: str) -> str:
    _CALLS.append(what)
    return what


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    evil = np.empty(3, dtype=object)
    evil[:] = [_Exploit(), _Exploit(), _Exploit()]
    path = tmp_path / "evil.npz"
    np.savez(path, semantic_prompt=evil, coarse_prompt=COARSE, fine_prompt=FINE, allow_pickle=True)
    pickle.loads(pickle.dumps(_Exploit()))  # the payload does work when unpickled...
    _CALLS.clear()

    with pytest.raises(VoiceError, match=r"evil.npz.*semantic_prompt is a pickled object array; it was refused"):
        VoicePrompt.load(path)
    with pytest.raises(VoiceError, match="pickled object array"):
        VoicePrompt.from_bytes(path.read_bytes())
    assert _CALLS == []  # ...and loading never unpickled it


def test_a_pickle_file_renamed_npz_is_refused(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(pickle.dumps(_Exploit()))
    _CALLS.clear()
    with pytest.raises(VoiceError, match=r"not a voice prompt .npz file"):
        VoicePrompt.load(path)
    assert _CALLS == []


def test_a_text_file_renamed_npz_is_refused(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("these are not tokens\n")
    with pytest.raises(VoiceError, match=r"voice 'notes.npz': not a voice prompt .npz file \(not a zip archive\)"):
        VoicePrompt.load(path)


def test_a_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "one.npz"
    with path.open("wb") as f:
        np.save(f, SEMANTIC)
    with pytest.raises(VoiceError, match=r"a single .npy array"):
        VoicePrompt.load(path)


@pytest.mark.parametrize("cut", [10, 100, 1000, -30])
def test_truncated_npz_is_a_voice_error(cut):
    data = suno_npz()[:cut]
    with pytest.raises(VoiceError, match=r"^upload: "):
        VoicePrompt.from_bytes(data)


def test_empty_bytes_and_wrong_type():
    with pytest.raises(VoiceError, match="not a zip archive"):
        VoicePrompt.from_bytes(b"")
    with pytest.raises(VoiceError, match=r"expected the bytes of an .npz file, got str"):
        VoicePrompt.from_bytes("semantic_prompt")  # type: ignore[arg-type]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(VoiceError, match=r"no voice prompt file at .*nope.npz"):
        VoicePrompt.load(tmp_path / "nope.npz")
    with pytest.raises(VoiceError, match="no voice prompt file at"):
        VoicePrompt.load(tmp_path)


def test_oversized_member_is_refused_before_reading(monkeypatch):
    monkeypatch.setattr(voice, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(VoiceError, match="semantic_prompt unpacks to"):
        VoicePrompt.from_bytes(suno_npz())


def test_header_declaring_more_data_than_the_file_holds_is_refused():
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("semantic_prompt.npy", header.getvalue() + b"\0" * 64)
        z.writestr("coarse_prompt.npy", npy_bytes(COARSE))
        z.writestr("fine_prompt.npy", npy_bytes(FINE))
    with pytest.raises(VoiceError, match=r"semantic_prompt declares shape \(1000000000000,\)"):
        VoicePrompt.from_bytes(buffer.getvalue())


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_damaged_files_always_raise_voice_error():
    """Flip bytes across a real file (header, data, zip directory): only VoiceError may come out."""
    data = suno_npz()
    for position in range(0, len(data), 97):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        with contextlib.suppress(VoiceError):  # a flip inside a token may still load; that's fine
            VoicePrompt.from_bytes(bytes(damaged))

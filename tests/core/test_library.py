"""The voice library: names, saves and sidecars, renames, imports, exports, and hostile input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import fileio
from core.errors import InputError, VoiceError
from core.library import MAX_NAME_LENGTH, VoiceLibrary, sanitize_voice_name
from core.voice import VoicePrompt

from . import crashing


def make_prompt(seed: int = 0, t_s: int = 300, t_c: int = 451) -> VoicePrompt:
    """A real-shaped prompt: 300 semantic tokens, 451 coarse/fine frames, fine int32 like Suno's."""
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 1024, (8, t_c)).astype(np.int32)
    return VoicePrompt.from_arrays(rng.integers(0, 10_000, t_s), fine[:2].astype(np.int64), fine)


@pytest.fixture
def lib(tmp_path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "lib" / "prompts")


@pytest.fixture
def prompt() -> VoicePrompt:
    return make_prompt()


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# Names

HOSTILE_NAMES = [
    "../x",
    "/etc/passwd",
    "..\\x",
    ".hidden",
    "a/b",
    "a\\b",
    "..",
    ".",
    "a..b",
    "CON",
    "con",
    "NUL.txt",
    "com1",
    "LPT9",
    "\x00",
    "a\x00b",
    "a\nb",
    "\u202egnp.exe",  # right-to-left override
    "x" * 200,
    "",
    "   ",
    ".npz",
    "x.",
    "x .npz",
    "a*b",
    "a:b",
    "a?b",
    "<a>",
    "a|b",
    '"a"',
    "~/x",
    "$HOME",
    "🙂",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_rejected_and_nothing_is_written(tmp_path, lib, prompt, name):
    with pytest.raises(InputError):
        sanitize_voice_name(name)
    with pytest.raises(InputError):
        lib.save(name, prompt)
    with pytest.raises(InputError):
        lib.import_bytes(prompt.to_bytes(), name)
    with pytest.raises(InputError):
        lib.get(name)
    assert files_under(tmp_path) == []
    assert not Path("/etc/passwd.npz").exists()
    assert not Path("/etc/passwd.json").exists()


def test_hostile_names_in_rename_and_export(tmp_path, lib, prompt):
    lib.save("good", prompt)
    for name in ["../escaped", "/tmp/escaped", "..\\escaped", "a/b"]:
        with pytest.raises(InputError):
            lib.rename("good", name)
        with pytest.raises(InputError):
            lib.export(name, tmp_path)
        with pytest.raises(InputError):
            lib.delete(name)
    assert files_under(tmp_path) == ["lib/prompts/good.json", "lib/prompts/good.npz"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("x" * 200, f"too long (200 characters); use at most {MAX_NAME_LENGTH} characters"),
        ("a/b", "must not contain / or \\"),
        ("..\\x", "must not contain / or \\"),
        ("a..b", "must not contain '..'"),
        (".hidden", "must not start with a dot"),
        ("CON", "reserved device name on Windows"),
        ("com1.backup", "reserved device name on Windows"),
        ("\x00", "control or invisible characters"),
        ("a*b", "contains '*'; use letters, digits, spaces and - _ . ( ) ' , + &"),
        ("x.", "must not end with a dot or a space"),
    ],
)
def test_rejection_messages_say_which_rule(name, message):
    with pytest.raises(InputError) as info:
        sanitize_voice_name(name)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("My Voice (v2)", "My Voice (v2)"),
        ("  padded  ", "padded"),
        ("narrator.npz", "narrator"),
        ("narrator.NPZ", "narrator"),
        ("x.npz.npz", "x"),
        ("Mr. Smith", "Mr. Smith"),
        ("O'Brien, Jr. + Co & Friends_1-2", "O'Brien, Jr. + Co & Friends_1-2"),
        ("Ökonom", "Ökonom"),
        ("O\u0308konom", "Ökonom"),  # decomposed input is stored composed (NFC)
        ("日本語の声", "日本語の声"),
        ("हिन्दी आवाज़", "हिन्दी आवाज़"),  # needs combining marks
        ("Conan", "Conan"),
        ("voice\u00a0name", "voice name"),  # NFKC: a no-break space is a space
        ("\ufb01le", "file"),  # NFKC: the ligature is its letters
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
    ],
)
def test_accepted_names(name, canonical):
    assert sanitize_voice_name(name) == canonical


def test_name_length_is_also_limited_in_bytes():
    with pytest.raises(InputError, match="200 bytes"):
        sanitize_voice_name("語" * 70)  # 70 characters but 210 bytes of UTF-8


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=90))
def test_sanitized_names_stay_inside_the_root_property(name):
    root = Path("/srv/lib/prompts")
    try:
        clean = sanitize_voice_name(name)
    except InputError:
        return
    assert sanitize_voice_name(clean) == clean  # canonical
    for suffix in (".npz", ".json"):
        path = root / f"{clean}{suffix}"
        assert path.parent == root
        assert Path(str(path)).resolve().parent == root.resolve()


# Save, list, get


def test_library_folder_is_created_lazily(lib, prompt):
    assert not lib.root.exists()
    assert lib.list() == []
    assert not lib.exists("x")
    lib.save("x", prompt)
    assert lib.root.is_dir()


def test_save_get_round_trip_with_sidecar(lib, prompt):
    info = lib.save("Narrator", prompt, {"source": "generation", "text": "Hello", "language": "en", "seed": 7})

    assert info.name == "Narrator"
    assert info.path == lib.root / "Narrator.npz"
    assert lib.get("Narrator").equals(prompt)
    sidecar = json.loads((lib.root / "Narrator.json").read_text(encoding="utf-8"))
    assert sidecar == info.metadata == lib.info("Narrator").metadata
    assert sidecar["text"] == "Hello" and sidecar["seed"] == 7
    assert (info.source, info.language) == ("generation", "en")
    created = datetime.fromisoformat(info.created)
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)


def test_save_keeps_a_given_created_time(lib, prompt):
    info = lib.save("x", prompt, {"created": "2023-04-01T10:00:00+00:00"})
    assert info.created == "2023-04-01T10:00:00+00:00"


def test_metadata_numpy_values_are_converted(lib, prompt):
    metadata = {"seed": np.int64(42), "temp": np.float32(0.5), "history": np.arange(3), "ok": np.bool_(True)}
    info = lib.save("x", prompt, metadata)
    assert info.metadata["seed"] == 42
    assert info.metadata["temp"] == 0.5
    assert info.metadata["history"] == [0, 1, 2]
    assert info.metadata["ok"] is True
    assert metadata == {**metadata}  # the caller's dict is not modified
    assert "created" not in metadata


@pytest.mark.parametrize("metadata", [{"x": object()}, {"x": float("nan")}, {"x": "\ud800"}, ["not", "a dict"]])
def test_unserialisable_metadata_is_refused_before_writing(tmp_path, lib, prompt, metadata):
    with pytest.raises(InputError, match="metadata"):
        lib.save("x", prompt, metadata)
    assert files_under(tmp_path) == []


def test_list_is_sorted_case_insensitively(lib):
    for i, name in enumerate(["bob", "Alice", "carol", "Bea"]):
        lib.save(name, make_prompt(i))
    assert [v.name for v in lib.list()] == ["Alice", "Bea", "bob", "carol"]
    assert all(v.path.is_file() and v.created for v in lib.list())


def test_list_skips_temp_files_and_foreign_names(lib, prompt):
    lib.save("real", prompt)
    (lib.root / ".real.npz.abc123.tmp").write_bytes(b"half")
    (lib.root / ".hidden.npz").write_bytes(prompt.to_bytes())
    (lib.root / "a..b.npz").write_bytes(prompt.to_bytes())
    (lib.root / "x.npz.npz").write_bytes(prompt.to_bytes())
    (lib.root / "CON.npz").write_bytes(prompt.to_bytes())
    (lib.root / "notes.txt").write_text("hi")
    (lib.root / "orphan.json").write_text("{}")
    (lib.root / "folder.npz").mkdir()
    assert [v.name for v in lib.list()] == ["real"]


def test_a_voice_copied_in_by_hand_is_listed_without_metadata(lib, prompt):
    lib.root.mkdir(parents=True)
    prompt.save(lib.root / "manual.npz")
    (voice,) = lib.list()
    assert (voice.name, voice.metadata, voice.created, voice.source) == ("manual", {}, None, None)


@pytest.mark.parametrize("sidecar", [b"{not json", b"[1, 2]", b"\xff\xfe\x00", b"", b'{"created": 5}'])
def test_a_broken_sidecar_does_not_hide_the_voice(lib, prompt, sidecar):
    lib.save("x", prompt, {"text": "hi"})
    (lib.root / "x.json").write_bytes(sidecar)
    (voice,) = lib.list()
    assert voice.name == "x"
    assert voice.created is None
    assert lib.info("x").metadata == ({"created": 5} if sidecar.startswith(b'{"') else {})
    assert lib.get("x").equals(prompt)


def test_info_and_get_of_a_missing_voice(lib):
    with pytest.raises(VoiceError, match="no voice named 'ghost' in your voice library"):
        lib.info("ghost")
    with pytest.raises(VoiceError, match="no voice named 'ghost'"):
        lib.get("ghost.npz")


def test_get_of_a_corrupt_npz_names_the_voice(lib):
    lib.root.mkdir(parents=True)
    (lib.root / "bad.npz").write_text("garbage")
    with pytest.raises(VoiceError, match=r"'bad.npz'"):
        lib.get("bad")


def test_names_are_canonicalised_on_every_call(lib, prompt):
    lib.save("  narrator.npz ", prompt)
    assert lib.exists("narrator")
    assert lib.get("narrator.npz").equals(prompt)
    assert files_under(lib.root) == ["narrator.json", "narrator.npz"]


# Overwrite rules


def test_save_refuses_to_overwrite_unless_allowed(lib):
    lib.save("x", make_prompt(1), {"text": "first"})
    with pytest.raises(InputError, match=r"already exists.*pick another name or allow overwriting"):
        lib.save("x", make_prompt(2), {"text": "second"})
    assert lib.get("x").equals(make_prompt(1))
    assert lib.info("x").metadata["text"] == "first"

    lib.save("x", make_prompt(2), {"text": "second"}, overwrite=True)
    assert lib.get("x").equals(make_prompt(2))
    assert lib.info("x").metadata["text"] == "second"


# Rename and delete


def test_rename_moves_voice_and_sidecar(lib, prompt):
    lib.save("old", prompt, {"text": "hi"})
    info = lib.rename("old", "new name")
    assert info.name == "new name"
    assert info.metadata["text"] == "hi"
    assert files_under(lib.root) == ["new name.json", "new name.npz"]
    assert lib.get("new name").equals(prompt)


def test_rename_to_the_same_name_is_a_no_op(lib, prompt):
    lib.save("same", prompt)
    assert lib.rename("same", "same.npz").name == "same"
    assert files_under(lib.root) == ["same.json", "same.npz"]


def test_rename_overwrite_rules(lib):
    lib.save("a", make_prompt(1), {"text": "a"})
    lib.save("b", make_prompt(2), {"text": "b"})
    with pytest.raises(InputError, match="pick another name or allow overwriting"):
        lib.rename("a", "b")
    assert lib.get("a").equals(make_prompt(1)) and lib.get("b").equals(make_prompt(2))

    lib.rename("a", "b", overwrite=True)
    assert [v.name for v in lib.list()] == ["b"]
    assert lib.get("b").equals(make_prompt(1))
    assert lib.info("b").metadata["text"] == "a"


def test_rename_over_a_voice_does_not_inherit_its_sidecar(lib):
    lib.save("a", make_prompt(1))
    (lib.root / "a.json").unlink()
    lib.save("b", make_prompt(2), {"text": "b"})
    lib.rename("a", "b", overwrite=True)
    assert lib.info("b").metadata == {}


def test_rename_missing_voice(lib):
    with pytest.raises(VoiceError, match="no voice named 'ghost'"):
        lib.rename("ghost", "x")


def test_delete(lib, prompt):
    lib.save("x", prompt)
    lib.save("y", prompt)
    lib.delete("x")
    assert files_under(lib.root) == ["y.json", "y.npz"]
    with pytest.raises(VoiceError, match="no voice named 'x'"):
        lib.delete("x")


def test_delete_without_sidecar(lib, prompt):
    lib.save("x", prompt)
    (lib.root / "x.json").unlink()
    lib.delete("x")
    assert files_under(lib.root) == []


# Import and export


def test_import_file_uses_the_stem_and_records_the_source(tmp_path, lib):
    path = tmp_path / "Speaker One.npz"
    np.savez(
        path,
        semantic_prompt=make_prompt(3).semantic,
        coarse_prompt=make_prompt(3).coarse,
        fine_prompt=make_prompt(3).fine.astype(np.uint16),
        extra=np.zeros(2),
    )
    info = lib.import_file(path)
    assert info.name == "Speaker One"
    assert info.source == "import"
    assert info.metadata["imported_from"] == "Speaker One.npz"
    assert lib.get("Speaker One").equals(make_prompt(3))
    with np.load(info.path) as stored:  # stored normalised: int64, extra keys dropped
        assert sorted(stored.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        assert stored["fine_prompt"].dtype == np.int64


def test_import_file_with_a_name_and_overwrite(tmp_path, lib, prompt):
    path = prompt.save(tmp_path / "in.npz")
    lib.import_file(path, "mine")
    with pytest.raises(InputError, match="already exists"):
        lib.import_file(path, "mine")
    assert lib.import_file(path, "mine", overwrite=True).name == "mine"


def test_import_file_with_an_unusable_stem_asks_for_a_name(tmp_path, lib, prompt):
    path = prompt.save(tmp_path / ".hidden.npz")
    with pytest.raises(InputError, match="give a name"):
        lib.import_file(path)
    assert lib.import_file(path, "visible").name == "visible"


def test_import_of_an_invalid_file_writes_nothing(tmp_path, lib):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a prompt")
    with pytest.raises(VoiceError, match=r"'bad.npz'"):
        lib.import_file(bad)
    with pytest.raises(VoiceError, match="no voice prompt file"):
        lib.import_file(tmp_path / "missing.npz")
    assert not lib.root.exists()


def test_import_bytes(lib, prompt):
    info = lib.import_bytes(prompt.to_bytes(), "uploaded")
    assert info.source == "upload"
    assert lib.get("uploaded").equals(prompt)
    assert lib.import_bytes(prompt.to_bytes(), "api", source="api").source == "api"
    with pytest.raises(InputError, match="already exists"):
        lib.import_bytes(prompt.to_bytes(), "uploaded")


def test_import_bytes_refuses_bad_data_and_names_the_upload(lib, prompt):
    # 451 frames for 50 tokens: the parts do not line up
    bad = {"semantic_prompt": prompt.semantic[:50], "coarse_prompt": prompt.coarse, "fine_prompt": prompt.fine}
    buffer = io.BytesIO()
    np.savez(buffer, **bad)
    with pytest.raises(VoiceError, match=r"^upload 'x': the prompt's parts do not line up"):
        lib.import_bytes(buffer.getvalue(), "x")
    with pytest.raises(VoiceError, match=r"^upload 'x': not a voice prompt"):
        lib.import_bytes(b"hello", "x")
    assert not lib.root.exists()


def test_export_to_a_directory_and_to_a_file(tmp_path, lib, prompt):
    lib.save("x", prompt)
    out = tmp_path / "out"
    out.mkdir()
    assert lib.export("x", out) == out / "x.npz"
    assert lib.export("x", out / "renamed.npz") == out / "renamed.npz"
    assert lib.export("x", tmp_path / "new" / "deep.npz") == tmp_path / "new" / "deep.npz"
    for path in (out / "x.npz", out / "renamed.npz", tmp_path / "new" / "deep.npz"):
        assert path.read_bytes() == (lib.root / "x.npz").read_bytes()
    assert files_under(out) == ["renamed.npz", "x.npz"]  # no temporary files
    with pytest.raises(VoiceError, match="no voice named 'ghost'"):
        lib.export("ghost", out)


# Atomicity and threads


def test_saves_leave_no_temporary_files(lib):
    for i in range(5):
        lib.save("x", make_prompt(i), {"i": i}, overwrite=True)
    assert files_under(lib.root) == ["x.json", "x.npz"]


def test_a_failed_write_leaves_the_library_as_it_was(monkeypatch, lib, prompt):
    lib.save("x", make_prompt(1), {"text": "first"})
    real_write, calls = fileio.FileSet.write, []

    def failing_write(self, name, data):
        calls.append(name)
        if name.endswith(".json"):  # the second file of each voice
            raise OSError("disk full")
        real_write(self, name, data)

    monkeypatch.setattr(fileio.FileSet, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        lib.save("x", prompt, {"text": "second"}, overwrite=True)
    with pytest.raises(OSError, match="disk full"):
        lib.save("y", prompt)
    assert calls == ["x.npz", "x.json", "y.npz", "y.json"]
    assert files_under(lib.root) == ["x.json", "x.npz"]
    assert lib.get("x").equals(make_prompt(1)) and lib.info("x").metadata["text"] == "first"


def test_concurrent_saves_of_different_names(lib):
    prompts = [make_prompt(i) for i in range(8)]
    barrier = threading.Barrier(len(prompts))
    errors = []

    def worker(i):
        barrier.wait()
        try:
            for round_ in range(3):
                lib.save(f"voice {i}", prompts[i], {"round": round_}, overwrite=True)
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert [v.name for v in lib.list()] == [f"voice {i}" for i in range(8)]
    for i, p in enumerate(prompts):
        assert lib.get(f"voice {i}").equals(p)
        assert lib.info(f"voice {i}").metadata["round"] == 2
    assert len(files_under(lib.root)) == 16


def test_concurrent_saves_of_one_name_let_exactly_one_win(lib):
    prompts = [make_prompt(i) for i in range(8)]
    barrier = threading.Barrier(len(prompts))
    results: dict[int, str] = {}

    def worker(i):
        barrier.wait()
        try:
            lib.save("shared", prompts[i], {"writer": i})
            results[i] = "saved"
        except InputError:
            results[i] = "refused"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [i for i, r in results.items() if r == "saved"]
    assert len(winners) == 1 and len(results) == 8
    assert lib.get("shared").equals(prompts[winners[0]])
    assert lib.info("shared").metadata["writer"] == winners[0]
    assert files_under(lib.root) == ["shared.json", "shared.npz"]


# Look-alike names


@pytest.mark.parametrize("name", ["\ufb01le", "ｆｉｌｅ", "file"])
def test_look_alike_names_are_one_name(lib, prompt, name):
    assert sanitize_voice_name(name) == "file"
    lib.save(name, prompt)
    assert [v.name for v in lib.list()] == ["file"]
    assert lib.exists("file") and lib.get("file").equals(prompt)
    with pytest.raises(InputError, match="already exists"):
        lib.save("file", make_prompt(1))


def test_a_voice_stored_under_a_look_alike_name_is_renamed_on_open(lib, prompt):
    lib.root.mkdir(parents=True)
    prompt.save(lib.root / "\ufb01le.npz")
    (lib.root / "\ufb01le.json").write_text('{"text": "ligature", "created": "2024-01-01T00:00:00+00:00"}')
    reopened = VoiceLibrary(lib.root)
    assert [v.name for v in reopened.list()] == ["file"]
    assert reopened.info("file").metadata["text"] == "ligature"
    assert files_under(lib.root) == ["file.json", "file.npz"]


def test_a_look_alike_of_a_taken_name_gets_a_free_one(lib):
    lib.save("file", make_prompt(1), {"text": "plain"})
    make_prompt(2).save(lib.root / "\ufb01le.npz")
    reopened = VoiceLibrary(lib.root)
    assert [v.name for v in reopened.list()] == ["file", "file (2)"]
    assert reopened.get("file").equals(make_prompt(1)) and reopened.get("file (2)").equals(make_prompt(2))
    assert reopened.info("file").metadata["text"] == "plain"


# Messages never name the folder (a remote client must not learn server paths)


def test_messages_say_your_voice_library_not_the_folder(lib, prompt):
    lib.save("x", prompt)
    lib.save("y", prompt)
    with pytest.raises(VoiceError) as missing:
        lib.info("ghost")
    with pytest.raises(InputError) as taken:
        lib.save("x", prompt)
    with pytest.raises(InputError) as rename_taken:
        lib.rename("y", "x")
    for error in (missing, taken, rename_taken):
        assert str(lib.root) not in str(error.value) and "prompts" not in str(error.value)
    assert str(taken.value) == (
        "a voice named 'x' already exists in your voice library; pick another name or allow overwriting"
    )
    assert str(missing.value) == "no voice named 'ghost' in your voice library"


# Crash safety: a voice appears whole or not at all, whenever the process dies


def crash_at(limit: int, root: Path, op: dict) -> int:
    """Run `op` in a child process that dies at its `limit`-th file-system call; its exit status."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.core.crashing", str(limit), str(root), json.dumps(op)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, crashing.CRASHED), result.stderr
    return result.returncode


def observed(library: VoiceLibrary) -> dict[str, tuple[int, str | None]]:
    """name -> (seed of its prompt, its sidecar's text) for every listed voice; each must load."""
    seeds = {s: crashing.make_prompt(s) for s in range(5)}
    state = {}
    for voice in library.list():
        prompt = library.get(voice.name)
        (seed,) = [s for s, p in seeds.items() if p.equals(prompt)]
        state[voice.name] = (seed, voice.metadata.get("text"))
    return state


def crash_everywhere(tmp_path: Path, setup: dict, op: dict, after: dict) -> int:
    """Kill `op` at every file-system call; check what a running app and a restarted one see.

    setup/after: name -> (seed, text) before and after the operation. A library opened before the
    crash lists only whole voices of either state; one opened after it (recovery) lists exactly one
    of the two states and leaves no other file on disk. Returns the number of crash points.
    """
    for limit in range(1, 200):
        root = tmp_path / str(limit) / "prompts"
        for name, (seed, text) in setup.items():
            VoiceLibrary(root).save(name, crashing.make_prompt(seed), {"text": text})
        running = VoiceLibrary(root)
        status = crash_at(limit, root, op)
        for name, state in observed(running).items():
            assert state in (setup.get(name), after.get(name)), (limit, name, state)
        restarted = VoiceLibrary(root)
        assert observed(restarted) in (setup, after), limit
        expected = {f"{n}{suffix}" for n in observed(restarted) for suffix in (".npz", ".json")}
        assert files_under(root) == sorted(expected), limit
        if status == 0:
            assert observed(restarted) == after
            return limit
    raise AssertionError("the operation never finished")


def test_a_save_killed_at_any_moment_leaves_the_old_state_or_the_new(tmp_path):
    assert (
        crash_everywhere(
            tmp_path,
            {"keep": (0, "kept")},
            {"op": "save", "name": "x", "seed": 1, "text": "new"},
            {"keep": (0, "kept"), "x": (1, "new")},
        )
        > 3
    )


def test_an_overwrite_killed_at_any_moment_never_mixes_two_voices(tmp_path):
    op = {"op": "save", "name": "x", "seed": 2, "text": "second", "overwrite": True}
    assert crash_everywhere(tmp_path, {"x": (1, "first")}, op, {"x": (2, "second")}) > 3


def test_a_rename_killed_at_any_moment_moves_voice_and_sidecar_together(tmp_path):
    op = {"op": "rename", "old": "a", "new": "b", "overwrite": True}
    assert crash_everywhere(tmp_path, {"a": (1, "a"), "b": (2, "b")}, op, {"b": (1, "a")}) > 3


def test_a_delete_killed_at_any_moment_leaves_no_orphan_sidecar(tmp_path):
    op = {"op": "delete", "name": "a"}
    assert crash_everywhere(tmp_path, {"a": (1, "a"), "b": (2, "b")}, op, {"b": (2, "b")}) > 1


def test_leftovers_of_older_crashes_are_cleaned_on_open(lib, prompt):
    lib.save("real", prompt)
    (lib.root / ".victim.npz.k2j4x0aa.tmp").write_bytes(b"\x00" * 65536)  # atomic write cut short
    (lib.root / ".victim.json.9dk3mmzz.tmp").write_text("{")
    (lib.root / "victim.json").write_text('{"created": "2024-01-01T00:00:00+00:00"}')  # its .npz is gone
    (lib.root / "notes.json").write_text('{"mine": true}')  # not a sidecar of ours: kept
    assert [v.name for v in lib.list()] == ["real"]
    assert [v.name for v in VoiceLibrary(lib.root).list()] == ["real"]
    assert files_under(lib.root) == ["notes.json", "real.json", "real.npz"]

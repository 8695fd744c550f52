"""Quantizer files: both layouts, with and without `.info`, the registry, and damaged or hostile files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from cloning.hubert import HUBERT_REPO
from cloning.quantizer import QUANTIZERS, Quantizer, QuantizerConfig, load_quantizer, quantizer_file, read_quantizer
from core.errors import ModelFileError, UnsafeCheckpointError
from core.hub import ModelLocator
from core.tiny import TINY_WIDTH


def community_save(model: Quantizer, path: Path, with_info: bool) -> Path:
    """What GitMylo's CustomTokenizer.save does: torch.save to the path, then append `<stem>/.info`."""
    torch.save(model.state_dict(), path)
    if with_info:
        stem = ".".join(path.name.split(".")[:-1])
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{stem}/.info", json.dumps(model.config.to_info()))
    return path


def small_quantizer(version: int, seed: int = 0) -> Quantizer:
    torch.manual_seed(seed)
    config = QuantizerConfig(input_size=24, hidden_size=12, version=version, intermediate_size=40 * version)
    return Quantizer(config).eval()


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("with_info", [True, False])
def test_both_layouts_load_with_or_without_info(tmp_path, version, with_info):
    original = small_quantizer(version)
    path = community_save(original, tmp_path / f"quantizer_v{version}.pth", with_info)
    loaded = read_quantizer(path)
    assert loaded.config == original.config
    assert hasattr(loaded, "intermediate") == (version == 1)
    features = torch.randn(37, 24)
    assert torch.equal(loaded.tokens(features), original.tokens(features))
    tokens = loaded.tokens(features)
    assert tokens.shape == (37,) and tokens.dtype == torch.int64 and int(tokens.max()) < 10_000


def test_legacy_non_zip_files_load(tmp_path):
    original = small_quantizer(1)
    path = tmp_path / "old.pth"
    torch.save(original.state_dict(), path, _use_new_zipfile_serialization=False)
    assert read_quantizer(path).config == original.config


def test_the_registry_names_every_published_quantizer_and_english_v1_is_the_default():
    assert set(QUANTIZERS) == {"en", "en-v0", "pl", "de", "es", "pt", "ja", "tr"}
    assert QUANTIZERS["en"].version == 1 and QUANTIZERS["en-v0"].version == 0
    assert str(quantizer_file("en")) == "GitMylo/bark-voice-cloning/quantifier_V1_hubert_base_ls960_23.pth"
    assert all(spec.filename.endswith(".pth") and "/" in spec.repo_id for spec in QUANTIZERS.values())


def test_the_tiny_pack_holds_both_english_quantizers_where_the_registry_says(tiny_models):
    locator = ModelLocator(tiny_models, allow_download=False)
    for language, version in (("en", 1), ("en-v0", 0)):
        file = quantizer_file(language)
        model, source = load_quantizer(locator, language)
        assert model.config.version == version and model.config.input_size == TINY_WIDTH
        assert source == str(file)
    has_info = {
        v: any(n.endswith("/.info") for n in zipfile.ZipFile(locator.path(quantizer_file(lang))).namelist())
        for lang, v in (("en", 1), ("en-v0", 0))
    }
    assert has_info == {1: True, 0: False}


def test_a_missing_published_quantizer_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="Hobis/bark-voice-cloning-polish-HuBERT-quantizer"):
        load_quantizer(ModelLocator(tmp_path, allow_download=False), "pl")
    with pytest.raises(ModelFileError, match="no quantizer file"):
        load_quantizer(ModelLocator(tmp_path, allow_download=False), "en", tmp_path / "missing.pth")


def test_info_that_contradicts_the_weights_is_refused(tmp_path):
    model = small_quantizer(1)
    path = tmp_path / "q.pth"
    torch.save(model.state_dict(), path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("q/.info", json.dumps({**model.config.to_info(), "version": 0}))
    with pytest.raises(ModelFileError, match=r"\.info says"):
        read_quantizer(path)


def test_info_without_a_version_as_some_forks_write_it(tmp_path):
    model = small_quantizer(1)
    path = tmp_path / "fork.pth"
    torch.save(model.state_dict(), path)
    info = {k: v for k, v in model.config.to_info().items() if k != "version"}
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("fork/.info", json.dumps(info))
    assert read_quantizer(path).config.version == 1


def test_files_that_are_not_bark_quantizers_are_refused(tmp_path):
    wrong_vocab = {k: v for k, v in small_quantizer(0).state_dict().items()}
    wrong_vocab["fc.weight"] = torch.zeros(500, 12)
    wrong_vocab["fc.bias"] = torch.zeros(500)
    cases = {
        "vocab.pth": wrong_vocab,
        "keys.pth": {"something.weight": torch.zeros(3)},
        "list.pth": [torch.zeros(3)],
        "flat.pth": {name: torch.zeros(3) for name in ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight")},
    }
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(ModelFileError):
            read_quantizer(tmp_path / name)
    (tmp_path / "garbage.pth").write_bytes(b"\x00" + bytes(range(256)) * 8)
    with pytest.raises(ModelFileError, match="damaged"):
        read_quantizer(tmp_path / "garbage.pth")


class _Hostile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_quantizer_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"fc.weight": torch.zeros(2), "payload": _Hostile(marker)}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeCheckpointError, match="Refusing"):
        read_quantizer(tmp_path / "evil.pth")
    assert not marker.exists()


def test_the_tiny_pack_command_writes_everything_a_clone_reads(tmp_path):
    """`python -m cloning.tiny DIR`: Bark's tiny models (core.tiny) and cloning's, where the loaders look."""
    folder = tmp_path / "pack"
    done = subprocess.run([sys.executable, "-m", "cloning.tiny", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    locator = ModelLocator(folder, allow_download=False)
    for language in ("en", "en-v0"):
        assert locator.path(quantizer_file(language)).is_file()
    assert (folder / HUBERT_REPO / "model.safetensors").is_file() and (folder / "suno" / "bark" / "text.pt").is_file()

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import errors as hub_errors

from core import hub as hub_module
from core.codec import Codec
from core.engine import Engine, EngineSettings
from core.errors import InputError, ModelFileError, UnsafeCheckpointError
from core.hub import MODELS_DIR_ENV, HubFile, ModelLocator, default_models_dir
from core.loading import (
    build_model,
    checkpoint_file,
    load_codec_model,
    load_preset,
    load_stage_model,
    load_tokenizer,
    read_checkpoint,
)
from core.model import FineGPT
from core.options import GenerationOptions


def test_checkpoint_prefixes_are_stripped_and_mask_buffers_dropped(tiny_models):
    args, state = read_checkpoint(tiny_models / "suno/bark/text_2.pt")
    assert args["n_layer"] == 2 and args["input_vocab_size"] == 129_600
    assert not any(k.startswith("_orig_mod.") for k in state)
    assert not any(k.endswith(".attn.bias") for k in state)
    raw = torch.load(tiny_models / "suno/bark/text_2.pt", weights_only=False)
    assert any(k.endswith(".attn.bias") for k in raw["model"]), "the tiny pack must carry the mask buffer too"


@pytest.mark.parametrize("stage", ["text", "coarse", "fine"])
@pytest.mark.parametrize("small", [True, False])
def test_every_stage_and_size_loads(tiny_models, stage, small):
    model = load_stage_model(ModelLocator(tiny_models, allow_download=False), stage, small)
    assert len(model.transformer.h) == (1 if small else 2)
    assert not any(p.is_meta for p in model.parameters())
    if isinstance(model, FineGPT):
        assert model.transformer.wtes[1].weight is model.lm_heads[0].weight


class _OldNumpyPickler(pickle._Pickler):
    """Writes numpy scalars under numpy 1's module name, as Suno's 2023 checkpoints do."""

    def save_global(self, obj, name=None):
        if obj is np._core.multiarray.scalar:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\nscalar\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


class _OldNumpyPickle:
    Pickler = _OldNumpyPickler
    __name__ = "pickle"


def test_numpy1_scalar_checkpoints_load(tiny_models, tmp_path):
    checkpoint = torch.load(tiny_models / "suno/bark/fine.pt", weights_only=False)
    path = tmp_path / "fine.pt"
    torch.save(checkpoint, path, pickle_module=_OldNumpyPickle)
    assert b"numpy.core.multiarray" in _pickle_bytes(path)
    args, state = read_checkpoint(path)
    assert build_model("fine", args, state).config.n_codes_total == 8


def _pickle_bytes(path):
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_a_checkpoint_that_runs_code_is_refused(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "text.pt"
    torch.save({"model_args": {}, "model": {}, "x": _Exploit(target)}, path)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        read_checkpoint(path)
    assert not target.exists()


def test_damaged_and_foreign_files_are_clear_errors(tmp_path, tiny_models):
    junk = tmp_path / "text.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelFileError, match="damaged"):
        read_checkpoint(junk)
    truncated = tmp_path / "coarse.pt"
    truncated.write_bytes((tiny_models / "suno/bark/coarse.pt").read_bytes()[:5000])
    with pytest.raises(ModelFileError):
        read_checkpoint(truncated)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ModelFileError, match="not a Bark checkpoint"):
        read_checkpoint(plain)
    args, state = read_checkpoint(tiny_models / "suno/bark/text.pt")
    with pytest.raises(ModelFileError, match="not Bark's coarse model"):
        build_model("coarse", args, state)


def test_locator_order_models_dir_then_flat_then_cache(tmp_path, tiny_models):
    file = checkpoint_file("text", small=True)
    assert ModelLocator(tiny_models).local_path(file) == tiny_models / "suno/bark/text.pt"
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(tiny_models / "suno/bark/text.pt", flat / "text.pt")
    assert ModelLocator(flat).local_path(file) == flat / "text.pt"
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--suno--bark" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (cache / "models--suno--bark" / "refs").mkdir()
    (cache / "models--suno--bark" / "refs" / "main").write_text("abc123")
    shutil.copy(tiny_models / "suno/bark/text.pt", snapshot / "text.pt")
    assert ModelLocator(tmp_path / "empty", cache_dir=cache).local_path(file) == snapshot / "text.pt"


def test_download_is_the_last_resort(tmp_path, tiny_models, monkeypatch):
    calls = []

    def fake_download(repo_id, filename, cache_dir=None, tqdm_class=None):
        calls.append((repo_id, filename))
        target = tmp_path / "downloaded" / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_models / repo_id / filename, target)
        return str(target)

    monkeypatch.setattr(hub_module.huggingface_hub, "hf_hub_download", fake_download)
    locator = ModelLocator(tmp_path / "empty", cache_dir=tmp_path / "cache")
    assert load_stage_model(locator, "coarse", small=True) is not None
    assert calls == [("suno/bark", "coarse.pt")]


def test_missing_file_offline_names_file_repo_and_directory(tmp_path):
    locator = ModelLocator(tmp_path / "models", cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(ModelFileError) as e:
        locator.path(HubFile("suno/bark", "text_2.pt"))
    message = str(e.value)
    assert "text_2.pt" in message and "suno/bark" in message and str(tmp_path / "models" / "suno/bark") in message


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(hub_module.huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ModelFileError, match="could not download"):
        ModelLocator(tmp_path, cache_dir=tmp_path / "cache").path(HubFile("suno/bark", "fine.pt"))


def test_tokenizer_is_cased(tiny_models):
    tokenizer = load_tokenizer(ModelLocator(tiny_models, allow_download=False))
    lower = tokenizer.encode("hello", add_special_tokens=False)
    upper = tokenizer.encode("Hello", add_special_tokens=False)
    assert len(lower) == 1 and upper != lower


def test_codec_round_trip_shapes(tiny_models):
    codec = Codec(load_codec_model(ModelLocator(tiny_models, allow_download=False)))
    codes = codec.encode(np.random.default_rng(0).normal(0, 0.1, 24_000 + 5).astype(np.float32))
    assert codes.shape == (8, 76) and codes.dtype == np.int64  # ceil(24005 / 320)
    audio = codec.decode(codes)
    assert audio.shape == (76 * 320,) and audio.dtype == np.float32
    silence = codec.decode(np.zeros((8, 0), dtype=np.int64))  # Bark said nothing: no frames, no samples
    assert silence.shape == (0,) and silence.dtype == np.float32


def test_presets_load_through_the_hub_index(tiny_models, tmp_path):
    locator = ModelLocator(tiny_models, allow_download=False)
    voice = load_preset(locator, "v2/en_speaker_6")
    assert voice.fine.shape[0] == 8 and 1.4 < voice.coarse.shape[1] / len(voice.semantic) < 1.6
    assert load_preset(locator, "announcer").semantic.ndim == 1


def test_preset_index_cannot_point_outside_the_repo(tiny_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "suno", models / "suno")
    index = models / "suno/bark/speaker_embeddings_path.json"
    index.write_text('{"announcer": {"semantic_prompt": "../../../etc/passwd"}}')
    voice = load_preset(ModelLocator(models, allow_download=False), "announcer")  # falls back to the usual path
    assert voice.semantic.ndim == 1


def test_no_network_is_told_apart_from_a_file_the_hub_lacks(tmp_path, monkeypatch):
    """huggingface_hub's "not reachable, not cached" error is a subclass of its "no such file" one: the
    message once blamed the hub for a file it has."""

    def unreachable(*args, **kwargs):
        raise hub_errors.LocalEntryNotFoundError("cannot find the requested files in the local cache")

    monkeypatch.setattr(hub_module.huggingface_hub, "hf_hub_download", unreachable)
    with pytest.raises(ModelFileError) as e:
        ModelLocator(None, cache_dir=tmp_path / "cache").path(HubFile("suno/bark", "fine.pt"))
    message = str(e.value)
    assert "could not be reached (no network?)" in message and "no such file" not in message
    assert "connect to the internet" in message.lower()


def test_offline_says_downloads_are_off_and_where_a_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    locator = ModelLocator(None, cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(ModelFileError) as e:
        locator.path(HubFile("suno/bark", "text_2.pt"))
    message = str(e.value)
    assert "downloads are off" in message and "internet" not in message
    assert "put it at models/suno/bark/text_2.pt (./models is read when it exists)" in message


def test_the_local_models_folder_is_read_without_being_named(tmp_path, tiny_models, monkeypatch):
    """The message says "put it at models/..."; that folder is read, as it says."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    assert default_models_dir() is None
    shutil.copytree(tiny_models / "suno", tmp_path / "models" / "suno")
    assert default_models_dir() == Path("models")
    engine = Engine(EngineSettings(device="cpu", allow_download=False))
    assert engine.locator.local_path(HubFile("suno/bark", "text.pt")) == Path("models/suno/bark/text.pt")


@pytest.mark.parametrize("from_env", [False, True])
def test_a_models_folder_that_does_not_exist_is_refused(tmp_path, monkeypatch, from_env):
    missing = tmp_path / "typo"
    if from_env:
        monkeypatch.setenv(MODELS_DIR_ENV, str(missing))
    with pytest.raises(InputError, match="is not a folder") as e:
        Engine(EngineSettings(models_dir=None if from_env else missing, device="cpu"))
    assert e.value.field == "models_dir" and (MODELS_DIR_ENV in str(e.value)) is from_env


def downloading_from(source: Path, calls: list):
    """A stand-in for hf_hub_download that copies from `source` and moves the progress bar it is given
    in two steps, as huggingface_hub's does."""

    def download(repo_id, filename, cache_dir=None, tqdm_class=None):
        calls.append(f"{repo_id}/{filename}")
        data = (source / repo_id / filename).read_bytes()
        if tqdm_class is not None:
            bar = tqdm_class(total=len(data), disable=True)
            bar.update(len(data) // 2)
            bar.update(len(data) - len(data) // 2)
            bar.close()
        target = Path(cache_dir) / repo_id / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return str(target)

    return download


def test_a_first_generation_says_what_it_loads_and_how_far_each_download_is(tmp_path, tiny_models, monkeypatch):
    """A first run once showed nothing but "Starting..." for the minutes its downloads took."""
    calls: list[str] = []
    monkeypatch.setattr(hub_module.huggingface_hub, "hf_hub_download", downloading_from(tiny_models, calls))
    monkeypatch.setattr(hub_module.huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    engine = Engine(EngineSettings.all_small(device="cpu"))
    engine.locator.cache_dir = tmp_path / "cache"
    reports = []
    options = GenerationOptions(max_duration_s=0.1, seed=1)
    engine.generate("Hello.", "v2/en_speaker_1", options, progress=reports.append)
    loads = [p.detail for p in reports if p.stage == "load"]
    assert "suno/bark/text.pt" in calls and "Loading the text model" in loads and "Loading the codec" in loads
    done = [p for p in reports if p.stage == "load" and p.detail.startswith("Downloading suno/bark/text.pt")]
    assert [p.step == p.total for p in done] == [False, True] and done[-1].detail.endswith("(100%)")
    assert "for the text model" in done[0].detail and "(50%)" in done[0].detail
    assert any(p.detail.startswith("Downloading suno/bark/speaker_embeddings") for p in reports if p.stage == "load")
    assert engine.watch.current is None  # nothing is loading once it is done

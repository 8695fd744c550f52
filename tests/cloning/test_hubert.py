"""HuBERT: transformers' files, fairseq's checkpoint converted without fairseq, and hostile checkpoints."""

from __future__ import annotations

import argparse
import builtins
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import HubertConfig, HubertModel

from cloning.hubert import FAIRSEQ_HUBERT, FEATURE_LAYER, load_hubert
from core.errors import ModelFileError, UnsafeCheckpointError
from core.hub import ModelLocator

CONV = "[(8,10,5)] + [(8,3,2)] * 4 + [(8,2,2)] * 2"


def tiny_hubert(seed: int = 0) -> HubertModel:
    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=10,
        num_attention_heads=2,
        intermediate_size=48,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    model = HubertModel(config).eval()
    with torch.no_grad():  # LayerNorms away from identity, so a mixed-up key cannot go unnoticed
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def fairseq_name(key: str) -> str:
    """transformers -> fairseq parameter names, written out by hand (REFERENCE.md 6.6 read backwards)."""
    exact = {
        "masked_spec_embed": "mask_emb",
        "feature_extractor.conv_layers.0.layer_norm.weight": "feature_extractor.conv_layers.0.2.weight",
        "feature_extractor.conv_layers.0.layer_norm.bias": "feature_extractor.conv_layers.0.2.bias",
        "encoder.pos_conv_embed.conv.parametrizations.weight.original0": "encoder.pos_conv.0.weight_g",
        "encoder.pos_conv_embed.conv.parametrizations.weight.original1": "encoder.pos_conv.0.weight_v",
        "encoder.pos_conv_embed.conv.bias": "encoder.pos_conv.0.bias",
    }
    if key in exact:
        return exact[key]
    if key.startswith("feature_extractor.conv_layers."):
        return key.replace(".conv.weight", ".0.weight")
    if key.startswith("feature_projection."):
        return key.replace("feature_projection.projection.", "post_extract_proj.").replace(
            "feature_projection.layer_norm.", "layer_norm."
        )
    if key.startswith("encoder.layers."):
        index = key.split(".")[2]
        rest = key[len(f"encoder.layers.{index}.") :]
        rest = {
            "layer_norm.weight": "self_attn_layer_norm.weight",
            "layer_norm.bias": "self_attn_layer_norm.bias",
        }.get(rest, rest)
        rest = rest.replace("attention.", "self_attn.").replace("feed_forward.intermediate_dense.", "fc1.")
        rest = rest.replace("feed_forward.output_dense.", "fc2.")
        return f"encoder.layers.{index}.{rest}"
    return key  # encoder.layer_norm.*


class FakeDictConfig:  # what omegaconf's DictConfig leaves in a pickle: nodes holding "_val"
    def __init__(self, content: dict):
        self._content = content


class FakeAnyNode:
    def __init__(self, value):
        self._val = value


@pytest.fixture()
def fake_fairseq(monkeypatch):
    """Makes `fairseq.dataclass.configs` importable while a checkpoint is saved, then gone again."""
    module = types.ModuleType("fairseq.dataclass.configs")
    for cls in (FakeDictConfig, FakeAnyNode):
        monkeypatch.setattr(cls, "__module__", module.__name__)
        setattr(module, cls.__name__, cls)
    for name in ("fairseq", "fairseq.dataclass"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    yield
    for name in ("fairseq", "fairseq.dataclass", module.__name__):
        sys.modules.pop(name, None)


def write_fairseq_checkpoint(path: Path, model: HubertModel, legacy: bool = False, **extra) -> Path:
    state = {fairseq_name(k): v.clone() for k, v in model.state_dict().items()}
    state["label_embs_concat"] = torch.randn(504, 16)  # pre-training heads HubertModel lacks
    state["final_proj.weight"], state["final_proj.bias"] = torch.randn(16, 32), torch.zeros(16)
    model_cfg = FakeDictConfig(
        {"conv_feature_layers": FakeAnyNode(CONV), "encoder_attention_heads": FakeAnyNode(2), "_name": "hubert"}
    )
    checkpoint = {
        "args": None,
        "cfg": FakeDictConfig({"model": model_cfg, "task": FakeDictConfig({"sample_rate": FakeAnyNode(16000)})}),
        "model": state,
        "optimizer_history": [{"num_updates": 400_000}],
        "extra_state": {"epoch": 5},
        **extra,
    }
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_fairseq_checkpoint_gives_the_same_layer_9_features(tmp_path, fake_fairseq, legacy):
    reference = tiny_hubert()
    path = write_fairseq_checkpoint(tmp_path / "hubert_base_ls960.pt", reference, legacy=legacy)
    sys.modules.pop("fairseq.dataclass.configs")  # as on a machine without fairseq
    features = load_hubert(ModelLocator(None, allow_download=False), path)
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(audio)[None], output_hidden_states=True).hidden_states[FEATURE_LAYER]
    got = features(audio)
    assert got.shape == (49, 32)  # floor((16000 - 400) / 320) + 1
    torch.testing.assert_close(got, expected[0], atol=1e-5, rtol=1e-5)


def test_argparse_settings_are_read_too(tmp_path):
    reference = tiny_hubert(1)
    args = argparse.Namespace(conv_feature_layers=CONV, encoder_attention_heads=2, layer_norm_first=False)
    path = write_fairseq_checkpoint(tmp_path / "h.pt", reference, args=args, cfg=None)
    features = load_hubert(ModelLocator(None), path)
    assert features.model.config.num_attention_heads == 2
    assert features.model.config.conv_stride == [5, 2, 2, 2, 2, 2, 2]


def test_the_locator_finds_fairseqs_file_in_the_models_dir(tmp_path, fake_fairseq):
    write_fairseq_checkpoint(tmp_path / FAIRSEQ_HUBERT.filename, tiny_hubert())
    features = load_hubert(ModelLocator(tmp_path, allow_download=False))
    assert features.source == FAIRSEQ_HUBERT.filename and features.width == 32


def test_a_missing_hubert_says_where_to_put_it(tmp_path):
    with pytest.raises(ModelFileError, match=r"facebook/hubert-base-ls960.*hubert_base_ls960\.pt"):
        load_hubert(ModelLocator(tmp_path, allow_download=False))
    with pytest.raises(ModelFileError, match="no HuBERT model"):
        load_hubert(ModelLocator(tmp_path), tmp_path / "nothing.pt")


def test_the_tiny_packs_hubert_loads_with_layer_9(tiny_models):
    features = load_hubert(ModelLocator(tiny_models, allow_download=False))
    assert len(features.model.encoder.layers) == FEATURE_LAYER
    assert features(np.zeros(3200, np.float32)).shape == (9, 32)


class _System:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"open({str(self.marker)!r}, 'w')",))


def test_a_checkpoint_calling_os_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    path = write_fairseq_checkpoint(tmp_path / "evil.pt", tiny_hubert(), args=_System(marker), cfg=None)
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|os)\.system"):
        load_hubert(ModelLocator(None), path)
    assert not marker.exists()


def test_other_callables_become_inert_stand_ins(tmp_path):
    marker = tmp_path / "ran"
    path = write_fairseq_checkpoint(tmp_path / "sly.pt", tiny_hubert(), args=_Eval(marker), cfg=None)
    load_hubert(ModelLocator(None), path)  # eval is bound to a stand-in: nothing runs
    assert not marker.exists()


def test_files_that_are_not_hubert_checkpoints(tmp_path):
    torch.save({"model": {"x": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a fairseq HuBERT"):
        load_hubert(ModelLocator(None), tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ModelFileError, match="damaged"):
        load_hubert(ModelLocator(None), tmp_path / "text.pt")
    names = ["feature_extractor.conv_layers.0.0.weight", "post_extract_proj.weight", "encoder.pos_conv.0.weight_v"]
    flat = {name: torch.zeros(()) for name in [*names, "encoder.layers.0.fc1.weight"]}
    torch.save({"model": flat}, tmp_path / "flat.pt")
    with pytest.raises(ModelFileError, match="other shapes"):
        load_hubert(ModelLocator(None), tmp_path / "flat.pt")

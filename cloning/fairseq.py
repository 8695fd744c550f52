"""fairseq's own HuBERT checkpoint (`hubert_base_ls960.pt`) read without fairseq.

The file is a pickled dict: "model" (the state dict) plus "args" / "cfg" (argparse or omegaconf
objects) and training state. Those objects would import fairseq, so the checkpoint is read with
torch's `weights_only=True` unpickler, with every class it names that torch does not know bound
to an inert stand-in: a stand-in only records what it is given, so nothing in the file can run
code (and torch still refuses the sys / os modules outright). The state dict then maps key by key
onto transformers' `HubertModel` (REFERENCE.md 6.6).
"""

from __future__ import annotations

import _compat_pickle
import ast
import io
import pickletools
import re
import zipfile
from pathlib import Path

import torch

from core.errors import ModelFileError
from core.safeload import first_line, safe_torch_load

# fairseq name -> transformers name, applied in order to each key (regular expressions).
KEY_MAP = (
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"^feature_extractor\.conv_layers\.0\.2\.", "feature_extractor.conv_layers.0.layer_norm."),
    (r"^post_extract_proj\.", "feature_projection.projection."),
    (r"^layer_norm\.", "feature_projection.layer_norm."),
    (r"^encoder\.pos_conv\.0\.weight_g$", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"^encoder\.pos_conv\.0\.weight_v$", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"^encoder\.pos_conv\.0\.", "encoder.pos_conv_embed.conv."),
    (r"\.self_attn\.(q_proj|k_proj|v_proj|out_proj)\.", r".attention.\1."),
    (r"\.self_attn_layer_norm\.", ".layer_norm."),
    (r"\.fc1\.", ".feed_forward.intermediate_dense."),
    (r"\.fc2\.", ".feed_forward.output_dense."),
    (r"^mask_emb$", "masked_spec_embed"),
)
# Pre-training heads that HubertModel does not have.
UNUSED_KEYS = re.compile(r"^(label_embs_concat|final_proj\.)")
MAX_CONV_LAYERS = 32
HUBERT_BASE_CONV = "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"


class Inert:
    """Stands in for any class or function a checkpoint names; keeps its arguments and state as data."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state) -> None:
        self.state = state


def read_fairseq_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, settings) of a fairseq checkpoint. Settings: the plain values found in args/cfg."""
    path = Path(path)
    names = _global_names(path)
    checkpoint = safe_torch_load(path, "fairseq HuBERT checkpoint", [(Inert, name) for name in names])
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path} is not a fairseq checkpoint: it has no 'model' state dict of tensors")
    settings = {}
    for key in ("args", "cfg"):
        _collect_settings(checkpoint.get(key), settings, depth=0)
    return dict(state), settings


def _global_names(path: Path) -> set[str]:
    """Every "module.name" the checkpoint's pickle asks for (GLOBAL opcodes), without running it."""
    names: set[str] = set()
    for data in _pickles(path):
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                module, name = arg.split(" ", 1)
                # Protocol 2 writes Python 2 names (__builtin__.eval); torch reads them as Python 3's.
                if (module, name) in _compat_pickle.NAME_MAPPING:
                    module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                names.add(f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}")
    return names


def _pickles(path: Path):
    """The pickle streams of a torch file: data.pkl of the zip format, or the legacy file's first four."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            if member is None:
                raise ModelFileError(f"{path} is a zip file but not a torch checkpoint (no data.pkl)")
            yield io.BytesIO(archive.read(member))
            return
    except zipfile.BadZipFile:
        pass
    try:
        with path.open("rb") as f:  # legacy format: magic, protocol, sys info, the object, storage keys
            for _ in range(4):
                start = f.tell()
                for _op in pickletools.genops(f):
                    pass
                yield io.BytesIO(_slice(f, start))
    except (ValueError, EOFError, OSError) as e:
        raise ModelFileError(f"{path} is damaged or not a torch checkpoint ({first_line(e)})") from e


def _slice(f, start: int) -> bytes:
    end = f.tell()
    f.seek(start)
    return f.read(end - start)


def _collect_settings(value, out: dict, depth: int) -> None:
    """Walk an inert args/cfg tree and keep its plain (str, int, float, bool) settings by name."""
    if depth > 12:
        return
    if isinstance(value, Inert):
        value = getattr(value, "state", None)
    if isinstance(value, dict):
        for key, item in value.items():
            plain = _plain(item)
            if isinstance(key, str) and isinstance(plain, str | int | float | bool):
                out.setdefault(key, plain)
            else:
                _collect_settings(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_settings(item, out, depth + 1)


def _plain(value):
    """A plain value, unwrapping an omegaconf-style node (its state keeps the value as "_val")."""
    state = getattr(value, "state", None) if isinstance(value, Inert) else None
    if isinstance(state, dict) and "_val" in state:
        return state["_val"]
    return value


# The key map and the model's configuration


def fairseq_to_transformers(state: dict[str, torch.Tensor], settings: dict) -> tuple[dict, dict[str, torch.Tensor]]:
    """(HubertConfig keyword arguments, transformers state dict) of a fairseq HuBERT state dict."""
    if any(".conv_layers.1.2." in k or ".conv_layers.0.2.1." in k for k in state):
        raise ModelFileError("this HuBERT uses layer-norm feature extraction (a Large model); use HuBERT Base")
    if settings.get("layer_norm_first") is True:
        raise ModelFileError("this HuBERT normalises before each layer (a Large model); use HuBERT Base")
    converted = {}
    for key, value in state.items():
        if UNUSED_KEYS.match(key):
            continue
        for pattern, replacement in KEY_MAP:
            key = re.sub(pattern, replacement, key)
        converted[key] = value
    return _config(state, settings), converted


def _config(state: dict[str, torch.Tensor], settings: dict) -> dict:
    try:
        return _config_of(state, settings)
    except KeyError as e:
        raise ModelFileError(f"not a fairseq HuBERT state dict (no {e})") from e
    except IndexError as e:
        raise ModelFileError("not a fairseq HuBERT state dict (its tensors have other shapes)") from e


def _config_of(state: dict[str, torch.Tensor], settings: dict) -> dict:
    convs = [state[f"feature_extractor.conv_layers.{i}.0.weight"] for i in range(_count(state, _CONV))]
    hidden = state["post_extract_proj.weight"].shape[0]
    pos_conv = state.get("encoder.pos_conv.0.weight_v", state.get(_POS_CONV_V))
    if pos_conv is None:
        raise KeyError("encoder.pos_conv.0.weight_v")
    layers = _count(state, _LAYER)
    intermediate = state["encoder.layers.0.fc1.weight"].shape[0]
    strides = [s for _, _, s in _conv_layers(settings.get("conv_feature_layers", HUBERT_BASE_CONV))]
    if len(strides) != len(convs):
        raise ModelFileError(f"the checkpoint has {len(convs)} conv layers but its settings describe {len(strides)}")
    heads = settings.get("encoder_attention_heads", max(1, hidden // 64))
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": int(heads),
        "intermediate_size": intermediate,
        "conv_dim": [w.shape[0] for w in convs],
        "conv_kernel": [w.shape[2] for w in convs],
        "conv_stride": strides,
        "conv_bias": "feature_extractor.conv_layers.0.0.bias" in state,
        "num_conv_pos_embeddings": pos_conv.shape[2],
        "num_conv_pos_embedding_groups": hidden // pos_conv.shape[1],
        "feat_extract_norm": "group",
        "do_stable_layer_norm": False,
    }


_POS_CONV_V = "encoder.pos_conv.0.parametrizations.weight.original1"  # newer fairseq (torch parametrize)
_CONV = re.compile(r"^feature_extractor\.conv_layers\.(\d+)\.0\.weight$")
_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.fc1\.weight$")


def _count(state: dict, pattern: re.Pattern) -> int:
    return len([k for k in state if pattern.match(k)])


def _conv_layers(text) -> list[tuple[int, int, int]]:
    """fairseq's conv_feature_layers, e.g. "[(512,10,5)] + [(512,3,2)] * 4", evaluated as data only."""

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            items = [value(n) for n in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Mult) and not (isinstance(right, int) and 0 <= right <= MAX_CONV_LAYERS):
                raise ValueError("a list may only be repeated a few times")
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(ast.dump(node))

    try:
        layers = value(ast.parse(str(text), mode="eval").body)
        return [(int(d), int(k), int(s)) for d, k, s in layers]
    except (SyntaxError, ValueError, TypeError) as e:
        raise ModelFileError(f"cannot read the checkpoint's conv_feature_layers {text!r} ({e})") from e

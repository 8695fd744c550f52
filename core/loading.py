"""Checkpoint formats: Suno's .pt files, the BERT vocabulary and EnCodec. Only this module knows them.

Suno's checkpoints are pickled dicts holding a numpy scalar (`best_val_loss`), so they need more
than torch's default `weights_only` allow-list. We allow exactly the numpy globals such a scalar
needs; a file that asks for anything else is refused, so a hostile checkpoint cannot run code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import ModelFileError
from .hub import HubFile, ModelLocator
from .model import GPT, FineGPT, GPTConfig
from .safeload import first_line, quiet_transformers, safe_torch_load
from .voice import VoicePrompt

STAGES = ("text", "coarse", "fine")
BARK_REPO = "suno/bark"
TOKENIZER_FILE = HubFile("bert-base-multilingual-cased", "vocab.txt")
CODEC_REPO = "facebook/encodec_24khz"
CODEC_CONFIG = HubFile(CODEC_REPO, "config.json")
CODEC_WEIGHTS = (HubFile(CODEC_REPO, "model.safetensors"), HubFile(CODEC_REPO, "pytorch_model.bin"))

# (input vocab, output vocab) each stage's checkpoint must have.
STAGE_VOCAB = {
    "text": (129_600, 10_048),
    "coarse": (12_096, 12_096),
    "fine": (1_056, 1_056),
}

_NUMPY_SCALAR = np._core.multiarray.scalar
# A numpy float64 scalar pickles as scalar(dtype, bytes); numpy 1 files name the module numpy.core.
SAFE_NUMPY_GLOBALS = [
    _NUMPY_SCALAR,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Float32DType,
    np.dtypes.Int64DType,
]


def checkpoint_file(stage: str, small: bool) -> HubFile:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return HubFile(BARK_REPO, f"{stage}.pt" if small else f"{stage}_2.pt")


def model_files(small: Callable[[str], bool]) -> list[tuple[HubFile, ...]]:
    """Every file a generation reads with these model sizes (small(stage)), each as its alternatives:
    the tokenizer, the three stages' checkpoints, EnCodec's config and weights."""
    checkpoints = [(checkpoint_file(stage, small(stage)),) for stage in STAGES]
    return [(TOKENIZER_FILE,), *checkpoints, (CODEC_CONFIG,), CODEC_WEIGHTS]


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(model_args, state dict) of a Suno checkpoint; prefixes stripped, mask buffers dropped."""
    path = Path(path)
    checkpoint = safe_torch_load(path, "Bark checkpoint", SAFE_NUMPY_GLOBALS, mmap=True)
    if not isinstance(checkpoint, dict) or "model_args" not in checkpoint or "model" not in checkpoint:
        raise ModelFileError(f"{path} is not a Bark checkpoint (no 'model_args' and 'model' entries)")
    state = {}
    for key, value in checkpoint["model"].items():
        key = key.removeprefix("_orig_mod.")
        if key.endswith(".attn.bias"):  # causal-mask buffer of the training code
            continue
        state[key] = value
    return dict(checkpoint["model_args"]), state


def build_model(stage: str, model_args: dict, state: dict[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """A GPT (text, coarse) or FineGPT (fine) with the checkpoint's weights, in eval mode on the CPU."""
    try:
        config = GPTConfig.from_model_args(model_args)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{source}: model_args are incomplete ({e})") from e
    expected = STAGE_VOCAB[stage]
    if (config.input_vocab_size, config.output_vocab_size) != expected:
        raise ModelFileError(
            f"{source} is not Bark's {stage} model: its vocabularies are "
            f"{config.input_vocab_size}/{config.output_vocab_size}, expected {expected[0]}/{expected[1]}"
        )
    with torch.device("meta"):
        model = FineGPT(config) if stage == "fine" else GPT(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise ModelFileError(f"{source} does not fit the {stage} model it describes: {first_line(e)}") from e
    if isinstance(model, FineGPT):
        model.tie_weights()
    return model.eval().requires_grad_(False)


def load_stage_model(locator: ModelLocator, stage: str, small: bool) -> nn.Module:
    path = locator.path(checkpoint_file(stage, small))
    model_args, state = read_checkpoint(path)
    return build_model(stage, model_args, state, source=str(path))


def load_tokenizer(locator: ModelLocator):
    """Bark's text tokenizer: the slow WordPiece BertTokenizer of bert-base-multilingual-cased."""
    from transformers import BertTokenizer

    vocab = locator.path(TOKENIZER_FILE)
    # Positional path: transformers 5 ignores vocab_file=...; the cased model must not lower-case.
    return BertTokenizer(str(vocab), do_lower_case=False)


def load_codec_model(locator: ModelLocator) -> nn.Module:
    """transformers' EncodecModel with the 24 kHz weights, eval mode on the CPU."""
    from transformers import EncodecModel

    folder = locator.path(CODEC_CONFIG).parent
    weights = locator.first_available(CODEC_WEIGHTS)
    if weights.parent != folder:
        raise ModelFileError(f"keep {weights.name} beside {folder / 'config.json'}")
    try:
        with quiet_transformers():
            model = EncodecModel.from_pretrained(folder)
    except (OSError, ValueError) as e:
        raise ModelFileError(f"EnCodec in {folder} could not be read ({first_line(e)})") from e
    return model.eval().requires_grad_(False)


PRESET_INDEX = HubFile(BARK_REPO, "speaker_embeddings_path.json")
PRESET_KEYS = ("semantic_prompt", "coarse_prompt", "fine_prompt")
_SAFE_PRESET_PATH = re.compile(r"^speaker_embeddings/[\w/-]+\.npy$")


def preset_files(locator: ModelLocator, name: str) -> dict[str, HubFile]:
    """The three .npy files of a Suno preset, as the hub repo's index names them."""
    files = {key: HubFile(BARK_REPO, f"speaker_embeddings/{name}_{key}.npy") for key in PRESET_KEYS}
    try:
        index = json.loads(locator.path(PRESET_INDEX).read_text(encoding="utf-8"))
    except (ModelFileError, OSError, ValueError):
        return files  # no index to be had: the repo's usual layout
    entry = index.get(name) if isinstance(index, dict) else None
    if isinstance(entry, dict):
        for key in PRESET_KEYS:
            path = entry.get(key)
            if isinstance(path, str) and _SAFE_PRESET_PATH.match(path) and ".." not in path:
                files[key] = HubFile(BARK_REPO, path)
    return files


def load_preset(locator: ModelLocator, name: str) -> VoicePrompt:
    """One of Suno's voice presets (e.g. "v2/en_speaker_6"), fetched from the hub and cached."""
    arrays = {}
    for key, file in preset_files(locator, name).items():
        path = locator.path(file)
        try:
            arrays[key] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ModelFileError(f"preset file {path} could not be read ({first_line(e)}); delete it") from e
    return VoicePrompt.from_arrays(
        arrays["semantic_prompt"], arrays["coarse_prompt"], arrays["fine_prompt"], source=f"preset {name}"
    )

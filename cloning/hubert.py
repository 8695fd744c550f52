"""HuBERT Base: 16 kHz speech -> the features the quantizer reads (output of transformer layer 9).

Weights come through core's ModelLocator, in this order:
1. transformers' `facebook/hubert-base-ls960` (config.json + model.safetensors or pytorch_model.bin)
   when it is on this machine (models dir or Hugging Face cache);
2. fairseq's `hubert_base_ls960.pt` in the models dir (`DIR/hubert_base_ls960.pt` or
   `DIR/facebook/hubert-base-ls960/hubert_base_ls960.pt`), converted on the fly;
3. a download of (1) from the hub.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.errors import ModelFileError
from core.hub import HubFile, ModelLocator
from core.safeload import first_line, quiet_transformers

from .fairseq import fairseq_to_transformers, read_fairseq_checkpoint

HUBERT_REPO = "facebook/hubert-base-ls960"
HUBERT_CONFIG = HubFile(HUBERT_REPO, "config.json")
HUBERT_WEIGHTS = (HubFile(HUBERT_REPO, "model.safetensors"), HubFile(HUBERT_REPO, "pytorch_model.bin"))
FAIRSEQ_HUBERT = HubFile(HUBERT_REPO, "hubert_base_ls960.pt")  # not on the hub: only looked for locally
FEATURE_LAYER = 9  # hidden_states[9]: the output of the 9th of 12 transformer layers


class HubertFeatures:
    """A HubertModel cut after layer 9 (the later layers are never used: a quarter less work)."""

    def __init__(self, model: nn.Module, source: str):
        if model.config.num_hidden_layers < FEATURE_LAYER:
            raise ModelFileError(
                f"{source} has {model.config.num_hidden_layers} layers; cloning reads layer {FEATURE_LAYER}"
            )
        model.encoder.layers = model.encoder.layers[:FEATURE_LAYER]
        self.model = model.eval().requires_grad_(False)
        self.source = source

    @property
    def width(self) -> int:
        return self.model.config.hidden_size

    def to(self, device: torch.device) -> HubertFeatures:
        self.model.to(device)
        return self

    @torch.inference_mode()
    def __call__(self, audio: np.ndarray) -> torch.Tensor:
        """(N,) float32 samples at 16 kHz, raw (no normalisation) -> (floor((N - 400) / 320) + 1, width)."""
        device = next(self.model.parameters()).device
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32), device=device)[None]
        out = self.model(x, output_hidden_states=True)
        return out.hidden_states[FEATURE_LAYER][0].float()


def load_hubert(locator: ModelLocator, path: str | Path | None = None) -> HubertFeatures:
    """HuBERT from `path` (a transformers folder or a fairseq .pt) or found by the locator (see above)."""
    if path is not None:
        path = Path(path).expanduser()
        if path.is_dir():
            return HubertFeatures(read_transformers_hubert(path), str(path))
        if path.is_file():
            return HubertFeatures(read_fairseq_hubert(path), path.name)
        raise ModelFileError(f"no HuBERT model at {path}; give a transformers folder or fairseq's .pt file")
    if locator.local_path(HUBERT_CONFIG) is None:
        fairseq = locator.local_path(FAIRSEQ_HUBERT)
        if fairseq is not None:
            return HubertFeatures(read_fairseq_hubert(fairseq), fairseq.name)
    try:
        folder = locator.path(HUBERT_CONFIG).parent
    except ModelFileError as e:
        hint = f"Alternatively put fairseq's {FAIRSEQ_HUBERT.filename} in the models directory."
        raise ModelFileError(f"{e} {hint}") from e
    weights = locator.first_available(HUBERT_WEIGHTS)
    if weights.parent != folder:
        raise ModelFileError(f"keep {weights.name} beside {folder / 'config.json'}")
    return HubertFeatures(read_transformers_hubert(folder), HUBERT_REPO)


def read_transformers_hubert(folder: Path) -> nn.Module:
    from transformers import HubertModel

    try:
        with quiet_transformers():
            return HubertModel.from_pretrained(folder).float()
    except (OSError, ValueError) as e:
        raise ModelFileError(f"HuBERT in {folder} could not be read ({first_line(e)}); download it again") from e


def read_fairseq_hubert(path: Path) -> nn.Module:
    """transformers' HubertModel with the weights of fairseq's checkpoint at `path`."""
    from transformers import HubertConfig, HubertModel

    state, settings = read_fairseq_checkpoint(path)
    config, converted = fairseq_to_transformers(state, settings)
    with torch.device("meta"):
        model = HubertModel(HubertConfig(**config))
    try:
        model.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as e:
        raise ModelFileError(f"{path} does not fit HuBERT Base: {first_line(e)}") from e
    return model

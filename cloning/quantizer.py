"""The HuBERT quantizer: HuBERT features -> Bark semantic tokens. Model, file formats and registry.

The community's quantizer ("CustomTokenizer" of GitMylo/bark-voice-cloning-HuBERT-quantizer):

    v0: LSTM(input -> hidden, 2 layers, batch_first) -> Linear(hidden, 10000)
    v1: the same LSTM -> Linear(hidden, 4096) -> Linear(4096, 10000)      (no activation between)

(The 4096 is read from the weights too, so that tiny test files can be small.)

token = argmax over the 10 000 semantic ids. A file is a `torch.save` zip of the state dict, to
which a `<stem>/.info` entry may be appended: JSON {"input_size", "hidden_size", "output_size",
"version"}. Files without it (older ones) get their version and sizes from the state dict.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.constants import SEMANTIC_VOCAB_SIZE
from core.errors import ModelFileError
from core.hub import HubFile, ModelLocator
from core.safeload import first_line, safe_torch_load

MAX_INFO_BYTES = 64 * 1024


@dataclass(frozen=True)
class QuantizerSpec:
    """A published quantizer: where it lives and what it was trained on."""

    repo_id: str
    filename: str
    version: int | None  # 0 or 1; None where unverified (the file says)
    display_name: str

    @property
    def file(self) -> HubFile:
        return HubFile(self.repo_id, self.filename)


# Language code -> published quantizer (REFERENCE.md 6.3). The user picks a language, not a file.
QUANTIZERS: dict[str, QuantizerSpec] = {
    "en": QuantizerSpec("GitMylo/bark-voice-cloning", "quantifier_V1_hubert_base_ls960_23.pth", 1, "English"),
    "en-v0": QuantizerSpec("GitMylo/bark-voice-cloning", "quantifier_hubert_base_ls960_14.pth", 0, "English (v0)"),
    "pl": QuantizerSpec(
        "Hobis/bark-voice-cloning-polish-HuBERT-quantizer", "polish-HuBERT-quantizer_8_epoch.pth", 1, "Polish"
    ),
    "de": QuantizerSpec(
        "CountFloyd/bark-voice-cloning-german-HuBERT-quantizer", "german-HuBERT-quantizer_14_epoch.pth", 1, "German"
    ),
    "es": QuantizerSpec("Lancer1408/bark-es-tokenizer", "es_tokenizer.pth", 1, "Spanish"),
    "pt": QuantizerSpec(
        "MadVoyager/bark-voice-cloning-portuguese-HuBERT-quantizer",
        "portuguese-HuBERT-quantizer_24_epoch.pth",
        1,
        "Portuguese",
    ),
    "ja": QuantizerSpec(
        "junwchina/bark-voice-cloning-japanese-HuBERT-quantizer",
        "japanese-HuBERT-quantizer_24_epoch.pth",
        None,
        "Japanese",
    ),
    "tr": QuantizerSpec(
        "egeadam/bark-voice-cloning-turkish-HuBERT-quantizer", "turkish_model_epoch_14.pth", None, "Turkish"
    ),
}


@dataclass(frozen=True)
class QuantizerConfig:
    input_size: int = 768  # HuBERT width
    hidden_size: int = 1024
    output_size: int = SEMANTIC_VOCAB_SIZE
    version: int = 1
    intermediate_size: int = 4096  # v1 only; not part of .info

    def to_info(self) -> dict:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "version": self.version,
        }


class Quantizer(nn.Module):
    """Parameter names match the published files, so loading is a plain state dict."""

    def __init__(self, config: QuantizerConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, 2, batch_first=True)
        width = config.hidden_size
        if config.version == 1:
            self.intermediate = nn.Linear(width, config.intermediate_size)
            width = config.intermediate_size
        self.fc = nn.Linear(width, config.output_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, input_size) HuBERT features -> (B, T, 10000) logits."""
        x, _ = self.lstm(features)
        if self.config.version == 1:
            x = self.intermediate(x)
        return self.fc(x)

    @torch.inference_mode()
    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """(T, input_size) features of one clip -> (T,) int64 semantic tokens 0..9999."""
        return self(features[None].to(self.fc.weight.device, torch.float32))[0].argmax(-1)


# Reading files


def read_quantizer(path: str | Path) -> Quantizer:
    """A quantizer file of either layout, with or without `.info`, on the CPU in eval mode."""
    path = Path(path)
    state = _read_state(path)
    config = _config_from_state(state, path)
    info = _read_info(path)
    if any(config.to_info()[key] != value for key, value in info.items()):
        raise ModelFileError(
            f"{path}: its .info says {info} but its weights are {config.to_info()}; the file is damaged, "
            "download it again"
        )
    with torch.device("meta"):
        model = Quantizer(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise ModelFileError(f"{path} is not a HuBERT quantizer of version {config.version}: {first_line(e)}") from e
    return model.eval().requires_grad_(False)


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    state = safe_torch_load(path, "HuBERT quantizer")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path} is not a quantizer: it holds no state dict of tensors")
    return dict(state)


def _config_from_state(state: dict[str, torch.Tensor], path: Path) -> QuantizerConfig:
    """Version and sizes from the weights: v1 has `intermediate.weight`; shapes give the sizes."""
    needed = ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ModelFileError(f"{path} is not a HuBERT quantizer (missing {', '.join(missing)})")
    intermediate = state.get("intermediate.weight")
    try:
        config = QuantizerConfig(
            input_size=state["lstm.weight_ih_l0"].shape[1],
            hidden_size=state["lstm.weight_hh_l0"].shape[1],
            output_size=state["fc.weight"].shape[0],
            version=0 if intermediate is None else 1,
            intermediate_size=0 if intermediate is None else intermediate.shape[0],
        )
    except IndexError as e:
        raise ModelFileError(f"{path} is not a HuBERT quantizer (its tensors have other shapes)") from e
    if config.output_size != SEMANTIC_VOCAB_SIZE:
        raise ModelFileError(
            f"{path} predicts {config.output_size} tokens, not Bark's {SEMANTIC_VOCAB_SIZE} semantic tokens; "
            "it is not a Bark quantizer"
        )
    return config


def _read_info(path: Path) -> dict:
    """The sizes (and version, where given: older files omit it) of the `.info` zip entry; {} without one."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [i for i in archive.infolist() if i.filename.endswith("/.info") or i.filename == ".info"]
            if not entries:
                return {}
            if entries[0].file_size > MAX_INFO_BYTES:
                raise ModelFileError(f"{path}: its .info entry is {entries[0].file_size} bytes; it should be tiny")
            info = json.loads(archive.read(entries[0]).decode("utf-8"))
    except zipfile.BadZipFile:
        return {}  # an older non-zip torch file: no .info
    except (ValueError, KeyError) as e:
        raise ModelFileError(f"{path}: its .info entry is not valid JSON ({e}); download the file again") from e
    if not isinstance(info, dict):
        raise ModelFileError(f"{path}: its .info entry is not a JSON object")
    return {key: info[key] for key in QuantizerConfig().to_info() if info.get(key) is not None}


# Finding files


def quantizer_file(language: str) -> HubFile:
    return QUANTIZERS[language].file


def load_quantizer(locator: ModelLocator, language: str, path: str | Path | None = None) -> tuple[Quantizer, str]:
    """(quantizer, where it came from): the file at `path` if given, else the language's published one."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelFileError(f"no quantizer file at {path}; check the path")
        return read_quantizer(path), path.name
    file = quantizer_file(language)
    return read_quantizer(locator.path(file)), str(file)

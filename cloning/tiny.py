"""Voice cloning's tiny models: HuBERT and the English quantizers, random weights in the real file formats.

    python -m cloning.tiny DIR

writes the whole tiny pack: Bark's (core.tiny) and, where cloning's loaders look for them,

    DIR/facebook/hubert-base-ls960/config.json + model.safetensors            transformers' HubertModel
    DIR/GitMylo/bark-voice-cloning/quantifier_V1_hubert_base_ls960_23.pth   quantizer v1, with .info
    DIR/GitMylo/bark-voice-cloning/quantifier_hubert_base_ls960_14.pth      quantizer v0, without

HuBERT keeps its 12 layers and 320-sample hop; only its width is tiny (core.tiny's TINY_WIDTH).
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import torch

from core.constants import SEMANTIC_VOCAB_SIZE
from core.fileio import atomic_writer
from core.tiny import TINY_WIDTH, write_tiny_pack

from .hubert import HUBERT_REPO
from .quantizer import QUANTIZERS

TINY_QUANTIZER_HIDDEN = 16
TINY_QUANTIZER_INTERMEDIATE = 64  # 4096 in the real v1 files
TINY_QUANTIZER_LANGUAGES = ("en", "en-v0")  # one of each version


def write_hubert(folder: Path, seed: int) -> None:
    """transformers' HubertModel: 12 layers (cloning reads layer 9), width 32, the real conv strides."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=TINY_WIDTH,
        num_hidden_layers=12,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(8,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    HubertModel(config).save_pretrained(folder)


def write_quantizer(path: Path, version: int, with_info: bool, seed: int) -> None:
    """A quantizer file as the community saves it: LSTM(32 -> 16, 2 layers) [-> Linear 64] -> Linear 10000."""
    torch.manual_seed(seed)
    hidden = TINY_QUANTIZER_HIDDEN
    state = {f"lstm.{k}": v for k, v in torch.nn.LSTM(TINY_WIDTH, hidden, 2, batch_first=True).state_dict().items()}
    width = hidden
    if version == 1:
        width = TINY_QUANTIZER_INTERMEDIATE
        intermediate = torch.nn.Linear(hidden, width)
        state.update({"intermediate.weight": intermediate.weight, "intermediate.bias": intermediate.bias})
    fc = torch.nn.Linear(width, SEMANTIC_VOCAB_SIZE)
    state.update({"fc.weight": fc.weight, "fc.bias": fc.bias})
    with atomic_writer(path) as f:
        torch.save({k: v.detach().clone() for k, v in state.items()}, f)
    if with_info:  # the JSON entry the community's save() appends to the zip
        info = {"input_size": TINY_WIDTH, "hidden_size": hidden, "output_size": SEMANTIC_VOCAB_SIZE, "version": version}
        with zipfile.ZipFile(path, "a") as archive:  # torch wants every entry in the archive's one folder
            folder = archive.namelist()[0].split("/")[0]
            archive.writestr(f"{folder}/.info", json.dumps(info))


def write_cloning_models(root: str | Path, seed: int = 0) -> Path:
    """HuBERT and the English quantizers (v1 with its .info entry, v0 without) under root."""
    root = Path(root)
    write_hubert(root / HUBERT_REPO, seed)
    for language in TINY_QUANTIZER_LANGUAGES:
        spec = QUANTIZERS[language]
        path = root / spec.repo_id / spec.filename
        write_quantizer(path, spec.version, with_info=spec.version == 1, seed=seed + spec.version)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloning.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="models directory to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_cloning_models(write_tiny_pack(args.directory, args.seed), args.seed)
    print(f"Tiny models, voice cloning's too, written to {root}. Use them with --models-dir {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

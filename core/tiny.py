"""A tiny models directory with random weights in the exact real file formats.

    python -m core.tiny DIR

writes what the loader reads from a models directory, laid out like the hub repos:

    DIR/suno/bark/text.pt, coarse.pt, fine.pt            "small" (1 layer)
    DIR/suno/bark/text_2.pt, coarse_2.pt, fine_2.pt      "large" (2 layers)
    DIR/suno/bark/speaker_embeddings_path.json + speaker_embeddings/**.npy   every preset
    DIR/bert-base-multilingual-cased/vocab.txt
    DIR/facebook/encodec_24khz/config.json + model.safetensors
    DIR/facebook/hubert-base-ls960/config.json + model.safetensors      HuBERT for voice cloning
    DIR/GitMylo/bark-voice-cloning/quantifier_V1_hubert_base_ls960_23.pth   quantizer v1, with .info
    DIR/GitMylo/bark-voice-cloning/quantifier_hubert_base_ls960_14.pth      quantizer v0, without

The vocabularies are Bark's real sizes, so every token id means what it means in the real
models; only the widths and depths are tiny (HuBERT keeps its 12 layers and 320-sample hop).
Tests, demos and screenshots run on it offline.
The audio it makes is noise.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from .constants import CODEBOOK_SIZE, N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS, SEMANTIC_VOCAB_SIZE
from .fileio import atomic_writer
from .loading import BARK_REPO, CODEC_REPO, PRESET_KEYS, STAGE_VOCAB, TOKENIZER_FILE, checkpoint_file
from .model import GPT, FineGPT, GPTConfig
from .presets import preset_names

# Voice cloning's files (cloning/ names the same paths; core does not import it).
HUBERT_REPO = "facebook/hubert-base-ls960"
QUANTIZER_REPO = "GitMylo/bark-voice-cloning"
QUANTIZER_FILES = {1: "quantifier_V1_hubert_base_ls960_23.pth", 0: "quantifier_hubert_base_ls960_14.pth"}
TINY_QUANTIZER_HIDDEN = 16
TINY_QUANTIZER_INTERMEDIATE = 64  # 4096 in the real v1 files

# n_layer per size; heads and width are the same so the two differ visibly only in depth.
TINY_LAYERS = {True: 1, False: 2}
TINY_HEADS = 2
TINY_WIDTH = 32


def tiny_config(stage: str, small: bool) -> GPTConfig:
    n_in, n_out = STAGE_VOCAB[stage]
    return GPTConfig(
        n_layer=TINY_LAYERS[small],
        n_head=TINY_HEADS,
        n_embd=TINY_WIDTH,
        block_size=1024,
        input_vocab_size=n_in,
        output_vocab_size=n_out,
        bias=False,
    )


def write_checkpoint(path: Path, stage: str, config: GPTConfig, seed: int) -> None:
    """A Suno-format checkpoint: `model_args`, a `_orig_mod.`-prefixed state dict, training leftovers."""
    torch.manual_seed(seed)
    model = FineGPT(config) if stage == "fine" else GPT(config)
    for name, p in model.named_parameters():
        if p.ndim > 1:
            torch.nn.init.normal_(p, std=0.02)
        else:  # LayerNorm: identity
            torch.nn.init.ones_(p) if name.endswith("weight") else torch.nn.init.zeros_(p)
    state = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    if stage != "fine":  # the training code's causal-mask buffer
        for i in range(config.n_layer):
            state[f"_orig_mod.transformer.h.{i}.attn.bias"] = torch.ones(1, 1, 8, 8).tril()
    model_args = config.to_model_args()
    if stage != "fine":
        del model_args["n_codes_total"], model_args["n_codes_given"]
    if stage == "coarse":  # the coarse checkpoints give one vocab_size
        model_args["vocab_size"] = model_args.pop("input_vocab_size")
        del model_args["output_vocab_size"]
    checkpoint = {
        "model_args": model_args,
        "model": state,
        "iter_num": 1000,
        "best_val_loss": np.float64(2.5),
        "config": {"batch_size": 8, "learning_rate": 3e-4},
    }
    with atomic_writer(path) as f:
        torch.save(checkpoint, f)


def write_vocab(path: Path) -> None:
    """A small cased WordPiece vocabulary: specials, characters, their ## forms, a few words."""
    words = ["hello", "world", "the", "a", "is", "of", "and", "to", "in", "it", "you", "bark", "voice", "music"]
    chars = list(string.ascii_letters + string.digits + string.punctuation) + list("♪—…äöüßéèàçñ你好世界こんにちは")
    tokens = ["[PAD]", *(f"[unused{i}]" for i in range(5)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += chars + [f"##{c}" for c in chars] + words
    with atomic_writer(path, "w") as f:
        f.write("\n".join(dict.fromkeys(tokens)) + "\n")


def write_codec(folder: Path, seed: int) -> None:
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(seed)
    config = EncodecConfig(hidden_size=16, num_filters=4, num_lstm_layers=1, codebook_dim=16)
    EncodecModel(config).save_pretrained(folder)


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


def write_presets(folder: Path, seed: int) -> None:
    """Every Suno preset as three .npy files plus the index, with random tokens of real shapes."""
    rng = np.random.default_rng(seed)
    index = {}
    for name in preset_names():
        n_semantic = int(rng.integers(150, 300))
        n_frames = round(n_semantic * 75 / 49.9)
        coarse = rng.integers(0, CODEBOOK_SIZE, (N_COARSE_CODEBOOKS, n_frames))
        fine = np.concatenate([coarse, rng.integers(0, CODEBOOK_SIZE, (N_FINE_CODEBOOKS - 2, n_frames))])
        arrays = {
            "semantic_prompt": rng.integers(0, SEMANTIC_VOCAB_SIZE, n_semantic).astype(np.int64),
            "coarse_prompt": coarse.astype(np.int64),
            "fine_prompt": fine.astype(np.int32),
        }
        index[name] = {}
        for key in PRESET_KEYS:
            rel = f"speaker_embeddings/{name}_{key}.npy"
            index[name][key] = rel
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(path) as f:
                np.save(f, arrays[key])
    index["repo_or_path"] = BARK_REPO
    with atomic_writer(folder / "speaker_embeddings_path.json", "w") as f:
        json.dump(index, f, indent=1)


def write_tiny_pack(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    for i, stage in enumerate(("text", "coarse", "fine")):
        for small in (True, False):
            file = checkpoint_file(stage, small)
            write_checkpoint(root / file.repo_id / file.filename, stage, tiny_config(stage, small), seed + i)
    write_presets(root / BARK_REPO, seed)
    write_vocab(root / TOKENIZER_FILE.repo_id / TOKENIZER_FILE.filename)
    write_codec(root / CODEC_REPO, seed)
    write_hubert(root / HUBERT_REPO, seed)
    for version, filename in QUANTIZER_FILES.items():
        write_quantizer(root / QUANTIZER_REPO / filename, version, with_info=version == 1, seed=seed + version)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="models directory to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_tiny_pack(args.directory, args.seed)
    print(f"Tiny models written to {root}. Use them with --models-dir {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

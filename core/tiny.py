"""A tiny models directory with random weights in the exact real file formats.

    python -m core.tiny DIR        # Bark's models
    python -m cloning.tiny DIR     # Bark's and voice cloning's (HuBERT, quantizers): the whole pack

writes what the loaders read from a models directory, laid out like the hub repos:

    DIR/suno/bark/text.pt, coarse.pt, fine.pt            "small" (1 layer)
    DIR/suno/bark/text_2.pt, coarse_2.pt, fine_2.pt      "large" (2 layers)
    DIR/suno/bark/speaker_embeddings_path.json + speaker_embeddings/**.npy   every preset
    DIR/bert-base-multilingual-cased/vocab.txt
    DIR/facebook/encodec_24khz/config.json + model.safetensors
    (cloning.tiny) DIR/facebook/hubert-base-ls960/ and the English quantizers of GitMylo/bark-voice-cloning

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
from pathlib import Path

import numpy as np
import torch

from .constants import CODEBOOK_SIZE, N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS, SEMANTIC_VOCAB_SIZE
from .fileio import atomic_writer
from .loading import BARK_REPO, CODEC_REPO, PRESET_KEYS, STAGE_VOCAB, TOKENIZER_FILE, checkpoint_file
from .model import GPT, FineGPT, GPTConfig
from .presets import preset_names

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
    """Bark's models, tokenizer, codec and presets under root (voice cloning's: cloning.tiny)."""
    root = Path(root)
    for i, stage in enumerate(("text", "coarse", "fine")):
        for small in (True, False):
            file = checkpoint_file(stage, small)
            write_checkpoint(root / file.repo_id / file.filename, stage, tiny_config(stage, small), seed + i)
    write_presets(root / BARK_REPO, seed)
    write_vocab(root / TOKENIZER_FILE.repo_id / TOKENIZER_FILE.filename)
    write_codec(root / CODEC_REPO, seed)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="models directory to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_tiny_pack(args.directory, args.seed)
    print(f"Tiny models written to {root}. Use them with --models-dir {root}")
    print(f"(for voice cloning's models too: python -m cloning.tiny {root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

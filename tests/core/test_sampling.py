import numpy as np
import pytest
import torch

from core.sampling import Sampling, filter_top_k, filter_top_p, sample


def reference_top_p(logits: np.ndarray, top_p: float) -> np.ndarray:
    """Suno's numpy top-p, kept here to check ours against."""
    logits = logits.copy()
    order = np.argsort(logits)[::-1]
    probs = np.exp(logits[order] - logits[order].max())
    cumulative = np.cumsum(probs / probs.sum())
    remove = cumulative > top_p
    remove[1:] = remove[:-1].copy()
    remove[0] = False
    logits[order[remove]] = -np.inf
    return logits


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.999])
def test_top_p_matches_the_reference(top_p):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 200)).astype(np.float32) * 3
    ours = filter_top_p(torch.from_numpy(logits), top_p).numpy()
    for row, expected in zip(ours, (reference_top_p(r, top_p) for r in logits), strict=True):
        np.testing.assert_array_equal(np.isinf(row), np.isinf(expected))


def test_top_p_always_keeps_the_best():
    logits = torch.tensor([[0.0, 5.0, 1.0]])
    kept = filter_top_p(logits, 0.01)
    assert torch.isfinite(kept).tolist() == [[False, True, False]]


def test_top_k_keeps_k():
    logits = torch.arange(10.0)[None]
    assert torch.isfinite(filter_top_k(logits, 3)).sum() == 3
    assert torch.isfinite(filter_top_k(logits, 50)).sum() == 10


def test_draws_depend_only_on_the_generator():
    logits = torch.randn(3, 50)
    s = Sampling(temperature=0.7, top_k=20, top_p=0.9)
    a, probs = sample(logits, s, torch.Generator().manual_seed(5))
    torch.manual_seed(123)  # the process-wide RNG plays no part
    b, _ = sample(logits, s, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert probs.shape == (3, 50)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert torch.all(probs.gather(1, a[:, None]) > 0)  # never draws a filtered token


def test_no_temperature_means_argmax():
    logits = torch.tensor([[0.1, 3.0, 0.2], [5.0, 0.0, 0.0]])
    tokens, probs = sample(logits, Sampling(temperature=None), None)
    assert tokens.tolist() == [1, 0] and probs is None

"""Sampling: each filter against a plain reference, the chain order, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from pyggml.runtime.sampling import (Sampler, SamplingParams, _draw, apply_penalties, filter_candidates,
                             sample)


def ref_softmax(x):
    e = np.exp(np.asarray(x, np.float64) - np.max(x))
    return e / e.sum()


def ref_top_p(logits, p, min_keep=0):
    """llama.cpp top-p over the whole vocabulary with a full sort."""
    order = np.argsort(-logits, kind="stable")
    probs = ref_softmax(logits[order])
    cum = 0.0
    for i, q in enumerate(probs):
        cum += q
        if cum >= p and i + 1 >= min_keep:
            return set(order[:i + 1].tolist())
    return set(order.tolist())


def ref_typical(logits, p, min_keep=0):
    probs = ref_softmax(logits)
    logp = np.log(probs)
    entropy = -(probs * logp).sum()
    order = np.argsort(np.abs(-logp - entropy), kind="stable")
    cum = 0.0
    for i, idx in enumerate(order):
        cum += probs[idx]
        if cum > p and (min_keep == 0 or i >= min_keep - 1):
            return set(order[:i + 1].tolist())
    return set(order.tolist())


OFF = dict(top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0)


def test_greedy_is_argmax_after_bias():
    logits = np.array([0.1, 3.0, 2.0, -1.0], np.float32)
    assert sample(logits, SamplingParams.greedy()) == 1
    banned = SamplingParams(temperature=0.0, logit_bias={1: -np.inf})
    assert sample(logits, banned) == 2
    assert sample(logits, SamplingParams(temperature=0.0, logit_bias={3: 10.0})) == 3
    with pytest.raises(ValueError, match="logit_bias"):
        sample(logits, SamplingParams(temperature=0.0, logit_bias={4: 1.0}))


def test_penalties_match_llama_cpp_formula():
    logits = np.array([2.0, -2.0, 1.0, 0.0, 5.0], np.float32)
    params = SamplingParams(repeat_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25)
    out = logits.copy()
    apply_penalties(out, [0, 1, 1, 3, 0, 0], params)
    # positive logits are divided, non-positive multiplied, then count*freq + presence subtracted
    expected = [2.0 / 2 - 3 * 0.5 - 0.25, -2.0 * 2 - 2 * 0.5 - 0.25, 1.0, 0.0 * 2 - 0.5 - 0.25, 5.0]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_penalty_window_only_sees_last_n():
    logits = np.array([1.0, 1.01], np.float32)
    params = SamplingParams(temperature=0.0, repeat_penalty=10.0, penalty_last_n=2)
    assert sample(logits, params, recent=[1, 0, 0]) == 1  # token 1 fell out of the window
    assert sample(logits, params, recent=[1, 1]) == 0


def test_top_k_keeps_k_largest_sorted():
    logits = np.array([0.5, 4.0, -1.0, 3.0, 2.0], np.float32)
    ids, vals = filter_candidates(logits, SamplingParams(**{**OFF, "top_k": 3}))
    assert ids.tolist() == [1, 3, 4]
    assert vals.tolist() == [4.0, 3.0, 2.0]


def test_top_p_small_case():
    probs = np.array([0.05, 0.5, 0.15, 0.3])
    logits = np.log(probs).astype(np.float32)
    ids, _ = filter_candidates(logits, SamplingParams(**{**OFF, "top_p": 0.75}))
    assert sorted(ids.tolist()) == [1, 3]
    ids, _ = filter_candidates(logits, SamplingParams(**{**OFF, "top_p": 0.75, "min_keep": 3}))
    assert sorted(ids.tolist()) == [1, 2, 3]


@pytest.mark.parametrize("seed", range(4))
def test_top_p_and_typical_match_full_sort_on_large_vocab(seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal(50_000) * (1 + seed)).astype(np.float32)
    for p in (0.3, 0.9, 0.99):
        ids, _ = filter_candidates(logits, SamplingParams(**{**OFF, "top_p": p}))
        assert set(ids.tolist()) == ref_top_p(logits, p)
        ids, _ = filter_candidates(logits, SamplingParams(**{**OFF, "typical_p": p}))
        assert set(ids.tolist()) == ref_typical(logits, p)


def test_min_p_keeps_tokens_above_fraction_of_max():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = np.log(probs).astype(np.float32)
    ids, _ = filter_candidates(logits, SamplingParams(**{**OFF, "min_p": 0.2}))
    assert sorted(ids.tolist()) == [0, 1, 2]


def test_filters_apply_in_llama_cpp_order():
    # top-k first (3 left), then top-p renormalises over those three.
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    logits = np.log(probs).astype(np.float32)
    ids, _ = filter_candidates(logits, SamplingParams(**{**OFF, "top_k": 3, "top_p": 0.7}))
    assert ids.tolist() == [0, 1]  # 0.4/0.9 = 0.44, + 0.3/0.9 -> 0.78 >= 0.7


def test_seed_reproducible_and_distribution():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4])).astype(np.float32)
    params = SamplingParams(temperature=1.0, seed=42, **OFF)
    a = Sampler(params)
    b = Sampler(params)
    seq_a = [a.sample(logits) for _ in range(50)]
    assert seq_a == [b.sample(logits) for _ in range(50)]
    c = Sampler(params, seed=43)
    assert seq_a != [c.sample(logits) for _ in range(50)]
    a.reset()
    assert [a.sample(logits) for _ in range(50)] == seq_a
    counts = np.bincount([a.sample(logits) for _ in range(5_000)], minlength=4) / 5_000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.3, 0.4], atol=0.03)


def test_temperature_sharpens():
    logits = np.log(np.array([0.3, 0.7])).astype(np.float32)
    cold = Sampler(SamplingParams(temperature=0.1, seed=0, **OFF))
    assert sum(cold.sample(logits) for _ in range(500)) > 495


def test_draw_two_level_on_large_vocab():
    w = np.zeros(262_144, np.float32)
    w[[7, 100_000, 262_143]] = [1.0, 2.0, 1.0]
    picks = [_draw(w, u) for u in np.linspace(0.0, 0.999, 400)]
    assert set(picks) == {7, 100_000, 262_143}
    assert picks.count(100_000) == pytest.approx(200, abs=2)
    assert _draw(np.array([0.0, 1.0, 0.0], np.float32), 0.0) == 1


def test_sampler_records_recent_tokens_for_penalties():
    s = Sampler(SamplingParams(temperature=0.0, repeat_penalty=100.0, penalty_last_n=4))
    logits = np.array([1.0, 0.99, 0.98], np.float32)
    s.accept([5, 6])
    assert [s.sample(logits) for _ in range(3)] == [0, 1, 2]
    assert list(s.recent) == [6, 0, 1, 2]


def test_default_chain_on_262k_vocab():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(262_144).astype(np.float32)
    logits[123_456] += 20.0
    s = Sampler(SamplingParams(seed=1, repeat_penalty=1.1))
    assert s.sample(logits) == 123_456

"""Several sequences in one KV cache (Model.load(n_seq_max=...)): eval_batch runs them in one
forward pass and must give each sequence the logits it gets alone; sequences are removed,
copied and shifted."""

from __future__ import annotations

import numpy as np
import pytest

from pyggml import ArgumentError, ContextFullError, Model

from support.synthetic_models import make_model

ARCHS = ["llama", "qwen2", "gemma3"]
# the newer members: per-head norms, rope-less layers, attention temperature, fused matrices
# with partial rope, experts (routed per token, grouped by expert over the whole batch)
NEWER_ARCHS = ["qwen3", "smollm3", "mistral3", "phi3", "qwen3moe", "mixtral", "gpt-oss"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    out = {}
    for arch in ARCHS + NEWER_ARCHS:
        path = d / f"{arch}.gguf"
        out[arch] = (str(path), make_model(arch, path, wtype="F32", seed=3))
    return out


def prompts(hp, lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, hp["n_vocab"], size=n) for n in lengths]


def alone(path, toks, **kw):
    """All logits of one sequence on a model of its own."""
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", **kw)
    return m.eval(toks, all_logits=True)


def close(got, ref, tol=1e-4):
    return float(np.abs(got - ref).max()) <= tol * float(ref.max() - ref.min())


@pytest.mark.parametrize("arch", ARCHS + NEWER_ARCHS)
def test_batch_matches_each_sequence_alone(synth, arch):
    path, hp = synth[arch]
    # past gemma3's sliding window, of different lengths, so the sequences' masks differ
    n = max(20, 2 * hp.get("sliding_window", 0) + 3)
    seqs = prompts(hp, [n, n - 7, 5, n + 4])
    refs = [alone(path, t) for t in seqs]
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_seq_max=4)
    # prompts split over steps so that decode-sized and prompt-sized parts share a batch
    cut = [t.size // 2 for t in seqs]
    first = m.eval_batch([(3 - i, t[:c]) for i, (t, c) in enumerate(zip(seqs, cut))], all_logits=True)
    for i, (t, c) in enumerate(zip(seqs, cut)):
        assert first[i].shape == (c, hp["n_vocab"])
        assert close(first[i], refs[i][:c])
        assert m.seq_pos(3 - i) == c
    # then the rest, one token at a time for some, the remainder at once for the others
    pos = list(cut)
    while any(p < t.size for p, t in zip(pos, seqs)):
        batch, which = [], []
        for i, (t, p) in enumerate(zip(seqs, pos)):
            if p < t.size:
                k = 1 if i % 2 else t.size - p
                batch.append((3 - i, t[p:p + k]))
                which.append((i, p + k))
        out = m.eval_batch(batch)
        for (i, p), row in zip(which, out):
            assert row.shape == (hp["n_vocab"],)
            assert close(row, refs[i][p - 1])
            pos[i] = p


def test_batch_more_tokens_than_n_batch(synth):
    path, hp = synth["llama"]
    seqs = prompts(hp, [13, 9, 11], seed=1)
    refs = [alone(path, t) for t in seqs]
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_batch=8, n_seq_max=3)
    out = m.eval_batch(list(enumerate(seqs)), all_logits=True)
    last = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_batch=8, n_seq_max=3)
    out_last = last.eval_batch(list(enumerate(seqs)))
    for t, ref, got, got_last in zip(seqs, refs, out, out_last):
        assert got.shape == ref.shape and close(got, ref)
        assert close(got_last, ref[-1])


def test_f16_cache_batch_matches_alone(synth):
    path, hp = synth["qwen2"]
    seqs = prompts(hp, [17, 6], seed=2)
    refs = [Model.load(path, n_ctx=64, n_threads=2).eval(t, all_logits=True) for t in seqs]
    m = Model.load(path, n_ctx=64, n_threads=2, n_seq_max=2)
    out = m.eval_batch([(1, seqs[0]), (0, seqs[1])], all_logits=True)
    assert close(out[0], refs[0], 1e-3) and close(out[1], refs[1], 1e-3)


def test_single_sequence_api_is_sequence_zero(synth):
    path, hp = synth["llama"]
    a, b = prompts(hp, [10, 8], seed=4)
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_seq_max=2)
    m.eval_batch([(1, b)])
    got = m.eval(a, all_logits=True)  # sequence 0, beside sequence 1
    assert m.n_past == 10 and m.seq_pos(1) == 8
    assert close(got, alone(path, a))
    m.reset()
    assert m.seq_pos(0) == m.seq_pos(1) == 0


def test_seq_rm_frees_and_restarts(synth):
    path, hp = synth["gemma3"]
    a, b = prompts(hp, [12, 15], seed=5)
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_seq_max=2)
    m.eval_batch([(0, a), (1, a)])
    m.seq_rm(1)
    assert m.seq_pos(1) == 0 and m.seq_pos(0) == 12
    got = m.eval_batch([(1, b)], all_logits=True)[0]
    assert close(got, alone(path, b))
    m.seq_rm(1, 5)  # keep a prefix, continue differently
    got = m.eval_batch([(1, a[5:])], all_logits=True)[0]
    assert close(got, alone(path, np.concatenate([b[:5], a[5:]]))[5:])


def test_seq_copy_shares_a_prefix(synth):
    path, hp = synth["qwen2"]
    prefix, x, y = prompts(hp, [9, 4, 6], seed=6)
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_seq_max=3)
    m.eval_batch([(0, prefix)])
    m.seq_copy(0, 1)
    m.seq_copy(0, 2, 5)
    assert [m.seq_pos(s) for s in range(3)] == [9, 9, 5]
    got = m.eval_batch([(0, x), (1, y), (2, x)], all_logits=True)
    assert close(got[0], alone(path, np.concatenate([prefix, x]))[9:])
    assert close(got[1], alone(path, np.concatenate([prefix, y]))[9:])
    assert close(got[2], alone(path, np.concatenate([prefix[:5], x]))[5:])


def test_seq_shift_matches_single_sequence_shift(synth):
    path, hp = synth["llama"]
    a, nxt, other = prompts(hp, [20, 3, 7], seed=7)
    one = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32")
    one.eval(a)
    one._native.shift_context(4, 6)
    ref = one.eval(nxt, all_logits=True)
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32", n_seq_max=3)
    m.eval_batch([(2, a), (0, other)])
    m.seq_shift(2, 4, 6)
    assert m.seq_pos(2) == 14 and m.seq_pos(0) == 7
    got = m.eval_batch([(2, nxt), (0, nxt)], all_logits=True)
    np.testing.assert_allclose(got[0], ref, rtol=0, atol=1e-5 * float(ref.max() - ref.min()))
    assert close(got[1], alone(path, np.concatenate([other, nxt]))[7:])


def test_bad_batches(synth):
    path, hp = synth["llama"]
    m = Model.load(path, n_ctx=16, n_threads=2, kv_type="f32", n_seq_max=2)
    with pytest.raises(ArgumentError, match="twice"):
        m.eval_batch([(0, [1, 2]), (0, [3])])
    with pytest.raises(ArgumentError, match="sequence id"):
        m.eval_batch([(2, [1])])
    with pytest.raises(ArgumentError, match="at least one"):
        m.eval_batch([])
    with pytest.raises(ArgumentError):
        m.eval_batch([(0, [1.5])])
    with pytest.raises(ArgumentError):
        m.eval_batch([(1, [hp["n_vocab"]])])
    m.eval_batch([(0, list(range(10)))])
    with pytest.raises(ContextFullError, match="sequence 0"):
        m.eval_batch([(1, [1, 2]), (0, list(range(7)))])
    assert m.seq_pos(1) == 0 and m.seq_pos(0) == 10  # nothing kept
    with pytest.raises(ArgumentError):
        m.seq_copy(0, 1, 11)
    with pytest.raises(ArgumentError):
        m.seq_rm(0, 11)
    with pytest.raises(ArgumentError):
        m.seq_shift(1, 0, 1)  # empty sequence
    with pytest.raises(ArgumentError, match="n_seq_max"):
        Model.load(path, n_ctx=16, n_seq_max=0)


def test_native_refuses_more_than_n_batch(synth):
    path, hp = synth["llama"]
    m = Model.load(path, n_ctx=32, n_threads=2, n_batch=4, kv_type="f32", n_seq_max=2)
    with pytest.raises(ValueError, match="n_batch"):
        m._native.eval_batch([(0, np.arange(3, dtype=np.int32)), (1, np.arange(3, dtype=np.int32))])
    assert m.seq_pos(0) == m.seq_pos(1) == 0


@pytest.mark.parametrize("arch", ["qwen2", "gemma3", "gpt-oss"])  # gpt-oss: sinks and every other layer sliding
def test_f16_cache_decode_steps_match_alone(synth, arch):
    """One token per sequence per step (the server's decode steps), F16 cache read in place."""
    path, hp = synth[arch]
    n = max(12, hp.get("sliding_window", 0) + 4)
    seqs = prompts(hp, [n + 6, n, n + 3], seed=8)
    refs = [Model.load(path, n_ctx=64, n_threads=2).eval(t, all_logits=True) for t in seqs]
    m = Model.load(path, n_ctx=64, n_threads=2, n_seq_max=3)
    m.eval_batch([(i, t[:4]) for i, t in enumerate(seqs)])
    for p in range(4, n):
        out = m.eval_batch([(i, t[p:p + 1]) for i, t in enumerate(seqs)])
        for i, row in enumerate(out):
            assert close(row, refs[i][p], 1e-3), (p, i)


def test_q8_0_cache_decode_steps_match_alone(tmp_path):
    """One token per sequence per step over a Q8_0 cache read in place (heads of whole
    blocks) gives what one sequence alone gets from the same cache loaded as floats."""
    path = str(tmp_path / "qwen2-hd32.gguf")
    hp = make_model("qwen2", path, wtype="F32", seed=2, head_dim=32)
    seqs = prompts(hp, [18, 12, 15], seed=8)
    refs = [Model.load(path, n_ctx=64, n_threads=2, kv_type="q8_0").eval(t, all_logits=True) for t in seqs]
    m = Model.load(path, n_ctx=64, n_threads=2, n_seq_max=3, kv_type="q8_0")
    m.eval_batch([(i, t[:4]) for i, t in enumerate(seqs)])
    for p in range(4, 12):
        out = m.eval_batch([(i, t[p:p + 1]) for i, t in enumerate(seqs)])
        for i, row in enumerate(out):
            assert close(row, refs[i][p], 1e-3), (p, i)
    alone = Model.load(path, n_ctx=64, n_threads=2, kv_type="q8_0")
    alone.eval(seqs[0][:4])
    for p in range(4, 12):
        assert close(alone.eval(seqs[0][p:p + 1]), refs[0][p], 1e-3), p

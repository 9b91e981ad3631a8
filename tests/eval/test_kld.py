"""KL divergence against saved base logits: a model against itself gives 0, the top-k form equals
the exact KLD when k covers the vocabulary and underestimates it otherwise, the base file round
trips and rejects damaged files, and the command line saves and compares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyggml import Model
from pyggml.cli import main
from pyggml.errors import PyggmlError
from pyggml.eval import kld as K
from pyggml.eval import perplexity as P
from pyggml.text import corpus

from support.synthetic_models import make_model

N_CTX = 32


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("kld")
    a, b = d / "a.gguf", d / "b.gguf"
    hp = make_model("llama", a, wtype="F32", seed=5)
    make_model("llama", b, wtype="Q8_0", seed=5)  # the same weights, rounded
    return str(a), str(b), hp


def _chunks(hp, n_chunk=3):
    tokens = np.random.default_rng(2).integers(3, hp["n_vocab"], size=n_chunk * N_CTX).astype(np.int32)
    tokens[0] = 1
    return corpus.make_chunks(tokens, N_CTX)


def _source(path):
    return P.model_logit_source(Model.load(path, n_ctx=N_CTX, kv_type="f32", n_threads=1))


def _base(path, chunks, n_vocab, k, n_tail=0):
    return K.collect_base(P.score_chunks(_source(path), chunks, 1, hook=K.base_hook(k, n_tail)), chunks, n_vocab)


def _compare(path, base):
    stats = K.KldStats()
    for cs in P.score_chunks(_source(path), base.tokens, 1, hook=K.compare_hook(base)):
        kld, same = cs.extra
        stats.add(cs.nll, base.nll[cs.index], kld, same)
    return stats


def _all_logprobs(path, chunks):
    out = []
    for cs in P.score_chunks(_source(path), chunks, 1):
        out.append(cs.logits.astype(np.float64) - cs.lse[:, None])
    return np.concatenate(out)


@pytest.mark.parametrize("k, n_tail", [(8, 0), (8, 16)])
def test_model_against_itself_is_zero(models, k, n_tail):
    a, _, hp = models
    chunks = _chunks(hp)
    base = _base(a, chunks, hp["n_vocab"], k, n_tail)
    assert base.n_tail == n_tail
    s = _compare(a, base)
    assert s.count == 3 * (N_CTX - 1 - N_CTX // 2)
    assert abs(s.kld()[0]) < 1e-6
    assert np.abs(np.concatenate(s.kld_values)).max() < 1e-5
    assert s.same_top()[0] == 1.0
    assert s.ppl_ratio()[0] == pytest.approx(1.0, abs=1e-6)
    assert s.p_diff_rms()[0] < 1e-6


def test_full_top_k_is_exact_small_k_bucket_underestimates_tail_sample_is_unbiased(models):
    a, b, hp = models
    n_vocab = hp["n_vocab"]
    chunks = _chunks(hp)
    lp_a, lp_b = _all_logprobs(a, chunks), _all_logprobs(b, chunks)
    exact = np.sum(np.exp(lp_a) * (lp_a - lp_b), axis=1)
    assert exact.mean() > 1e-6  # the Q8_0 model really differs

    full = _compare(b, _base(a, chunks, n_vocab, n_vocab))
    assert full.kld()[0] == pytest.approx(exact.mean(), rel=1e-4)
    top_same = np.mean(lp_a.argmax(1) == lp_b.argmax(1))
    assert full.same_top()[0] == pytest.approx(top_same)

    bucket = _compare(b, _base(a, chunks, n_vocab, 4))
    assert np.all(np.concatenate(bucket.kld_values) <= exact + 1e-6)
    assert bucket.kld()[0] < 0.9 * exact.mean()  # the lumped tail loses a real part here

    sampled = _compare(b, _base(a, chunks, n_vocab, 4, n_tail=256))
    assert sampled.kld()[0] == pytest.approx(exact.mean(), rel=0.1)


def test_tail_sample_follows_the_rest_of_the_distribution():
    p = np.array([0.5, 0.3, 0.1, 0.06, 0.04])
    logits = np.log(p).astype(np.float32)[None, :]
    ids, logp = K.sample_tail(logits, np.array([0.0]), np.array([[0, 1]], np.int32), 20000, seed=0)
    assert set(np.unique(ids)) == {2, 3, 4}
    freq = np.bincount(ids[0], minlength=5)[2:] / 20000
    assert np.allclose(freq, p[2:] / p[2:].sum(), atol=0.01)
    assert np.allclose(logp[0], np.log(p)[ids[0]], atol=1e-6)
    ids, _ = K.sample_tail(logits, np.array([0.0]), np.array([[0, 1]], np.int32), 50, seed=0)
    again, _ = K.sample_tail(logits, np.array([0.0]), np.array([[0, 1]], np.int32), 50, seed=0)
    assert np.array_equal(ids, again)  # seeded: the same base file every time


def test_kld_rows_tail_bucket():
    """Two tokens kept, the other two lumped: p_rest log(p_rest/q_rest) is added."""
    p = np.array([0.5, 0.3, 0.15, 0.05])
    q = np.array([0.4, 0.4, 0.1, 0.1])
    logits = np.log(q).astype(np.float32)[None, :]
    lse = np.array([0.0])
    ids = np.array([[0, 1]], np.int32)
    logp = np.log(p[:2]).astype(np.float32)[None, :]
    got = K.kld_rows(logits, lse, ids, logp)[0]
    want = 0.5 * math.log(0.5 / 0.4) + 0.3 * math.log(0.3 / 0.4) + 0.2 * math.log(0.2 / 0.2)
    assert got == pytest.approx(want, rel=1e-5)


def test_top_k_order_and_ties():
    logits = np.array([[1.0, 3.0, 3.0, 2.0, 0.0]], np.float32)
    ids, logp = K.top_k_logprobs(logits, np.array([0.0]), 3)
    assert ids.tolist() == [[1, 2, 3]]
    assert np.allclose(logp, [[3.0, 3.0, 2.0]])


def _small_base(n_chunk=2, k=4, n_vocab=100, n_ctx=16, m=3):
    rng = np.random.default_rng(7)
    n_score = n_ctx - 1 - n_ctx // 2
    return K.BaseLogits(
        rng.integers(0, n_vocab, (n_chunk, n_ctx)).astype(np.int32),
        rng.random((n_chunk, n_score)).astype(np.float32),
        rng.integers(0, n_vocab, (n_chunk, n_score, k)).astype(np.int32),
        -rng.random((n_chunk, n_score, k)).astype(np.float32), n_vocab,
        rng.integers(0, n_vocab, (n_chunk, n_score, m)).astype(np.int32),
        -rng.random((n_chunk, n_score, m)).astype(np.float32))


def test_base_file_round_trip(tmp_path):
    base = _small_base()
    path = tmp_path / "base.kld"
    base.save(path)
    back = K.BaseLogits.load(path)
    assert (back.n_vocab, back.n_ctx, back.first, back.n_chunk, back.top_k, back.n_tail) == (100, 16, 8, 2, 4, 3)
    for name in ("tokens", "nll", "top_ids", "top_logp", "tail_ids", "tail_logp"):
        assert np.array_equal(getattr(back, name), getattr(base, name))
    assert not (tmp_path / "base.kld.tmp").exists()


def test_base_file_size_for_20k_tokens(tmp_path):
    """40 chunks of 512 (20480 tokens), top-32 + 32 tail samples: a few MB, not llama.cpp's GBs."""
    path = tmp_path / "base.kld"
    _small_base(40, K.DEFAULT_TOP_K, 1000, 512, K.DEFAULT_TAIL).save(path)
    assert path.stat().st_size < 6 * 2**20


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1], "truncated or corrupt"),
    (lambda b: b + b"\0", "truncated or corrupt"),
    (lambda b: b"_logits_" + b[8:], "not a pyggml base-logits file"),
    (lambda b: b[:4], "not a pyggml base-logits file"),
    (lambda b: b[:8] + (0).to_bytes(4, "little") + b[12:], "inconsistent header"),
])
def test_damaged_base_file(tmp_path, damage, message):
    path = tmp_path / "base.kld"
    _small_base().save(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(PyggmlError, match=message) as e:
        K.BaseLogits.load(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("field", ["top_ids", "tail_ids", "tokens"])
def test_base_file_with_bad_token_ids(tmp_path, field):
    base = _small_base()
    getattr(base, field)[0, 0] = 100
    path = tmp_path / "base.kld"
    base.save(path)
    with pytest.raises(PyggmlError, match="outside the vocabulary"):
        K.BaseLogits.load(path)


def test_missing_base_file(tmp_path):
    with pytest.raises(PyggmlError, match="no such base logits file"):
        K.BaseLogits.load(tmp_path / "none.kld")


def test_cli_save_and_compare(models, tmp_path, capsys):
    a, b, _ = models
    text = tmp_path / "text.txt"
    text.write_text(" ".join(["the quick brown fox jumps over the lazy dog"] * 30))
    base = tmp_path / "base.kld"
    assert main(["perplexity", "-m", a, "-f", str(text), "-c", str(N_CTX), "--kl-divergence-base", str(base),
                 "--top-k", "16", "--no-progress", "-t", "1"]) == 0
    saved = K.BaseLogits.load(base)
    assert saved.top_k == 16 and saved.n_ctx == N_CTX
    capsys.readouterr()
    assert main(["perplexity", "-m", a, "--kl-divergence-base", str(base), "--kl-divergence",
                 "--no-progress", "-t", "1"]) == 0
    out = capsys.readouterr().out
    assert "Same top p: 100.000" in out
    assert abs(float(next(x for x in out.splitlines() if x.startswith("Mean    KLD:")).split()[2])) < 1e-6
    assert main(["perplexity", "-m", b, "--kl-divergence-base", str(base), "--kl-divergence",
                 "--no-progress", "-t", "1"]) == 0
    out = capsys.readouterr().out
    kld = float(next(x for x in out.splitlines() if x.startswith("Mean    KLD:")).split()[2])
    assert kld > 0
    assert "Mean PPL(Q)/PPL(base)" in out and "99.0%   KLD" in out


def test_cli_kld_argument_errors(models, tmp_path, capsys):
    a, _, _ = models
    assert main(["perplexity", "-m", a, "--kl-divergence", "--no-progress"]) == 1
    assert "needs --kl-divergence-base" in capsys.readouterr().err
    assert main(["perplexity", "-m", a, "--kl-divergence-base", str(tmp_path / "x.kld"), "--kl-divergence",
                 "--no-progress"]) == 1
    assert "no such base logits file" in capsys.readouterr().err


def test_vocabulary_mismatch(tmp_path, models):
    a, _, hp = models
    base = _small_base(n_vocab=hp["n_vocab"] + 1, n_ctx=N_CTX)
    path = tmp_path / "b.kld"
    base.save(path)
    with pytest.raises(PyggmlError, match="vocabulary"):
        K.check_compatible(K.BaseLogits.load(path), hp["n_vocab"], str(path))

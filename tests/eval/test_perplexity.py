"""Perplexity as llama.cpp computes it: chunking, BOS replacement, the scored half, the running
estimate and its uncertainty, against a direct numpy computation on a synthetic model; clear
errors for bad text files; the command line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyggml import Model
from pyggml.cli import main
from pyggml.errors import PyggmlError
from pyggml.eval import perplexity as P
from pyggml.text import corpus
from pyggml.text.tokenizer import Tokenizer

from support.reference_forward import ReferenceModel
from support.synthetic_models import make_model

N_CTX = 32


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = tmp_path_factory.mktemp("ppl") / "llama.gguf"
    hp = make_model("llama", path, wtype="F32", seed=3)
    return str(path), hp


def direct_perplexity(ref: ReferenceModel, tokens: np.ndarray, n_ctx: int, bos: int):
    """llama.cpp's perplexity written out plainly: float64 log-softmax over every chunk."""
    n_chunk = len(tokens) // n_ctx
    first = n_ctx // 2
    nll = []
    for c in range(n_chunk):
        chunk = tokens[c * n_ctx:(c + 1) * n_ctx].copy()
        inputs = chunk.copy()
        inputs[0] = bos
        logits = ref.logits(inputs).astype(np.float64)
        for j in range(first, n_ctx - 1):
            row = logits[j]
            lse = row.max() + math.log(np.exp(row - row.max()).sum())
            nll.append(lse - row[chunk[j + 1]])
    nll = np.array(nll)
    ppl = math.exp(nll.mean())
    return ppl, ppl * nll.std() / math.sqrt(len(nll) - 1), len(nll)


@pytest.mark.parametrize("n_seq", [1, 2, 3])
def test_perplexity_matches_direct_numpy(synth, n_seq):
    """One chunk per pass, and several (each a sequence of its own; 2 leaves a group of one)."""
    path, hp = synth
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, hp["n_vocab"], size=3 * N_CTX + 7).astype(np.int32)
    tokens[0] = 1  # BOS, as tokenize_text would start the stream
    model = Model.load(path, n_ctx=N_CTX, kv_type="f32", n_threads=1, n_seq_max=n_seq)
    chunks = corpus.make_chunks(tokens, N_CTX)
    assert chunks.shape == (3, N_CTX)
    source = P.model_logit_source(model)
    assert source.n_seq == n_seq
    result = P.perplexity(source, chunks, bos_id=1)
    ppl, unc, count = direct_perplexity(ReferenceModel(path), tokens, N_CTX, bos=1)
    assert result.stats.count == count == 3 * (N_CTX - 1 - N_CTX // 2)
    assert result.ppl == pytest.approx(ppl, rel=1e-4)
    assert result.ppl_uncertainty == pytest.approx(unc, rel=1e-3)
    assert len(result.chunk_ppl) == 3 and result.chunk_ppl[-1] == result.ppl


def test_chunking_bos_and_scored_positions():
    """The source sees each chunk with BOS over its first token and is asked from first = n_ctx/2;
    the scored targets are tokens first+1 .. n_ctx-1 of each chunk."""
    n_vocab, n_ctx = 50, 8
    tokens = np.arange(10, 10 + 3 * n_ctx + 5, dtype=np.int32) % n_vocab
    seen = []

    def source(inputs, first):
        seen.append((inputs.copy(), first))
        logits = np.zeros((n_ctx - 1 - first, n_vocab), np.float32)
        logits[np.arange(logits.shape[0]), inputs[first + 1:]] = 5.0  # confident and right
        return logits

    chunks = corpus.make_chunks(tokens, n_ctx)
    scores = list(P.score_chunks(source, chunks, bos_id=2))
    assert len(seen) == 3
    for c, (inputs, first) in enumerate(seen):
        assert first == n_ctx // 2
        assert inputs[0] == 2 and np.array_equal(inputs[1:], tokens[c * n_ctx + 1:(c + 1) * n_ctx])
        assert np.array_equal(scores[c].targets, tokens[c * n_ctx + first + 1:(c + 1) * n_ctx])
    expected = math.log(math.exp(5.0) + n_vocab - 1) - 5.0
    assert np.allclose(np.concatenate([s.nll for s in scores]), expected)
    assert np.array_equal(scores[0].argmax, scores[0].targets)
    # no BOS replacement when the vocabulary adds none
    seen.clear()
    list(P.score_chunks(source, chunks, bos_id=None))
    assert seen[1][0][0] == tokens[n_ctx]


def test_uncertainty_formula():
    nll = np.random.default_rng(1).gamma(2.0, 1.0, size=1000)
    s = P.NllStats()
    s.add(nll[:400])
    s.add(nll[400:])
    assert s.ppl == pytest.approx(math.exp(nll.mean()))
    assert s.ppl_uncertainty == pytest.approx(math.exp(nll.mean()) * nll.std() / math.sqrt(999))


def test_log_softmax_stats_large_logits():
    logits = np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]], np.float32)
    nll, lse, top = P.log_softmax_stats(logits, np.array([1, 2]))
    assert nll[0] == pytest.approx(1.0 + math.log1p(math.exp(-1.0)))
    assert nll[1] == pytest.approx(math.log(3))
    assert list(top) == [0, 0]


def test_tokenize_text_adds_bos_like_llama_cpp(synth):
    tok = Tokenizer.from_gguf(synth[0])
    ids = corpus.tokenize_text(tok, "The quick brown fox")
    assert tok.add_bos and ids[0] == tok.bos_id == corpus.bos_for_chunks(tok)
    assert list(ids[1:]) == tok.encode("The quick brown fox", add_special=False)


def test_too_few_tokens_is_a_clear_error():
    with pytest.raises(PyggmlError, match="only 100 tokens.*at least 128"):
        corpus.make_chunks(np.zeros(100, np.int32), 64, source="t.txt")
    assert corpus.make_chunks(np.zeros(130, np.int32), 64, n_chunks=1).shape == (1, 64)


@pytest.mark.parametrize("content, message", [
    (b"", "the text is empty"),
    (b"  \n\t\n", "the text is empty"),
    (b"abc\xff\xfedef", r"not UTF-8 text \(byte 0xff at offset 3\)"),
    (b"GGUF\x03\x00\x00\x00\x00", "not a text file"),
])
def test_bad_text_files(tmp_path, content, message):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    with pytest.raises(PyggmlError, match=message) as e:
        corpus.read_text(f)
    assert str(f) in str(e.value)


def test_missing_text_file_and_directory(tmp_path):
    with pytest.raises(PyggmlError, match="no such text file"):
        corpus.read_text(tmp_path / "missing.txt")
    with pytest.raises(PyggmlError, match="directory"):
        corpus.read_text(tmp_path)


def _text(n_words: int) -> str:
    words = "the quick brown fox jumps over the lazy dog while a small model reads".split()
    return " ".join(words[i % len(words)] for i in range(n_words)) + "\n"


def test_cli_perplexity(synth, tmp_path, capsys):
    f = tmp_path / "text.txt"
    f.write_text(_text(200))
    assert main(["perplexity", "-m", synth[0], "-f", str(f), "-c", "32", "--no-progress", "-t", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1]")
    line = next(x for x in out.splitlines() if x.startswith("Final estimate: PPL = "))
    ppl, unc = line.split("= ")[1].split(" +/- ")
    assert float(ppl) > 1 and float(unc) > 0
    # -b 4 * c: four chunks per pass, the same figures
    assert main(["perplexity", "-m", synth[0], "-f", str(f), "-c", "32", "-b", "128", "--no-progress", "-t", "1"]) == 0
    captured = capsys.readouterr()
    assert "4 chunks per pass" in captured.err
    line4 = next(x for x in captured.out.splitlines() if x.startswith("Final estimate: PPL = "))
    ppl4, unc4 = line4.split("= ")[1].split(" +/- ")
    assert float(ppl4) == pytest.approx(float(ppl), rel=1e-3) and float(unc4) == pytest.approx(float(unc), rel=1e-2)


@pytest.mark.parametrize("content, message", [
    (b"", "the text is empty"),
    (b"\xff\xff\xff", "not UTF-8"),
    ("short text".encode(), "needs at least 64"),
])
def test_cli_bad_text_exits_with_a_message(synth, tmp_path, capsys, content, message):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    assert main(["perplexity", "-m", synth[0], "-f", str(f), "-c", "32", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "pyggml: error:" in err and message in err and str(f) in err


def test_cli_missing_text_file(synth, tmp_path, capsys):
    assert main(["perplexity", "-m", synth[0], "-f", str(tmp_path / "none.txt"), "--no-progress"]) == 1
    assert "no such text file" in capsys.readouterr().err


@pytest.mark.real_model
@pytest.mark.llama_cpp
@pytest.mark.slow
def test_gemma_perplexity_close_to_llama_cpp(gemma_path):
    """Two 64-token chunks of the shipped text: pyggml and llama.cpp on the same file agree."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from pathlib import Path

    text = corpus.read_text(Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "devils_dictionary_eval.txt")
    tok = Tokenizer.from_gguf(gemma_path)
    chunks = corpus.make_chunks(corpus.tokenize_text(tok, text[:4000]), 64, 2)
    ours = P.perplexity(P.model_logit_source(Model.load(gemma_path, n_ctx=64)), chunks, corpus.bos_for_chunks(tok))
    llm = llama_cpp.Llama(gemma_path, n_ctx=64, logits_all=True, verbose=False)

    def source(inputs, first):
        llm.reset()
        llm.eval(list(map(int, inputs[:-1])))
        return np.asarray(llm.scores[first:len(inputs) - 1], dtype=np.float32)

    theirs = P.perplexity(source, chunks, corpus.bos_for_chunks(tok))
    assert ours.ppl == pytest.approx(theirs.ppl, rel=0.03)

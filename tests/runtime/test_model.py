"""pyggml.Model: the C++ forward pass against the numpy reference, KV cache behaviour,
context limits and memory use.

Synthetic models of every architecture are compared at every position with
reference_forward.ReferenceModel (F32 weights and F32 KV cache: max |diff| at most
1e-3 of the logit range and the same top-1 token everywhere). The default F16 cache
and the Q8_0 option are checked for closeness to that. Real models are marked
real_model.
"""

from __future__ import annotations

import os
import tempfile
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyggml
from pyggml import ContextFullError, GGUFError, Model

from support.reference_forward import ReferenceModel
from support.synthetic_models import make_model

ARCHS = ["llama", "mistral", "qwen2", "gemma3", "qwen3", "smollm3", "mistral3", "qwen3moe", "mixtral", "phi3",
         "gpt-oss"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """arch -> (path, hparams) of a tiny F32 model; built once per module."""
    out = {}
    d = tmp_path_factory.mktemp("synthetic")
    for arch in ARCHS:
        path = d / f"{arch}.gguf"
        hp = make_model(arch, path, wtype="F32", seed=1)
        out[arch] = (str(path), hp)
    return out


def prompt(hp, n, seed=0):
    return np.random.default_rng(seed).integers(0, hp["n_vocab"], size=n)


def rel_diff(got, ref):
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


def prompt_len(hp):
    # longer than gemma3's sliding window, so sliding layers really drop keys
    return max(24, 3 * hp.get("sliding_window", 0))


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_reference_all_positions(synth, arch):
    path, hp = synth[arch]
    toks = prompt(hp, prompt_len(hp))
    ref = ReferenceModel(path, n_ctx=64).logits(toks)
    # n_batch 7: several native calls, each attending to keys cached by earlier ones
    m = Model.load(path, n_ctx=64, n_threads=2, n_batch=7, kv_type="f32")
    got = m.eval(toks, all_logits=True)
    assert got.shape == ref.shape
    assert rel_diff(got, ref) <= 1e-3
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    assert m.n_past == len(toks)


@pytest.mark.parametrize("arch", ["qwen2", "gemma3", "gpt-oss"])
def test_prompt_over_several_key_chunks_matches_reference(synth, arch):
    # A batch of tokens attends in tiles that take the cached keys in chunks of 256
    # (attention_prefill), each chunk's softmax joining the others' by its log-sum-exp
    # (gpt-oss: the sinks join once; gemma3: its global layers). Batches of 200 over 700
    # tokens: tiles whose keys end inside, at and past chunk edges, so that some tiles are
    # done after an earlier round of chunks than others; the threads share out each round's
    # tiles as they come, and neither their number nor the share changes a bit.
    path, hp = synth[arch]
    toks = prompt(hp, 700, seed=4)
    ref = ReferenceModel(path, n_ctx=700).logits(toks)
    runs = []
    for n_threads in (1, 2, 3):
        m = Model.load(path, n_ctx=700, n_threads=n_threads, n_batch=200, kv_type="f32")
        runs.append(m.eval(toks, all_logits=True))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert rel_diff(runs[1], ref) <= 2e-5  # (measured 2-4e-7; the tiny models' attention is flat)
    np.testing.assert_array_equal(runs[1].argmax(1), ref.argmax(1))


@pytest.mark.parametrize("arch", ARCHS)
def test_f16_cache_close_to_reference(synth, arch):
    path, hp = synth[arch]
    toks = prompt(hp, prompt_len(hp), seed=1)
    ref = ReferenceModel(path, n_ctx=64).logits(toks)
    got = Model.load(path, n_ctx=64, n_threads=2).eval(toks, all_logits=True)
    assert rel_diff(got, ref) <= 5e-3
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


@pytest.mark.parametrize("arch", ["llama", "gemma3", "gpt-oss"])
def test_incremental_decoding_equals_batch(synth, arch):
    path, hp = synth[arch]
    toks = prompt(hp, prompt_len(hp), seed=2)
    # F32 cache: with F16, float-rounding differences between the batched and the
    # one-token matmuls can flip a cached key's F16 rounding, which moves logits by
    # ~1e-5 of their range on some prompts (on either path).
    m = Model.load(path, n_ctx=64, n_threads=2, kv_type="f32")
    full = m.eval(toks, all_logits=True)
    m.reset()
    assert m.n_past == 0
    first = m.eval(toks[:5], all_logits=True)
    steps = [m.eval(toks[i : i + 1]) for i in range(5, len(toks))]
    inc = np.concatenate([first, np.stack(steps)])
    np.testing.assert_allclose(inc, full, rtol=0, atol=1e-5 * (full.max() - full.min()))
    # last-position logits are the last row of the full pass
    m.reset()
    np.testing.assert_allclose(m.eval(toks), full[-1], rtol=0, atol=1e-6 * (full.max() - full.min()))


def test_reset_forgets_the_cache(synth):
    path, hp = synth["qwen2"]
    a, b = prompt(hp, 6, seed=3), prompt(hp, 6, seed=4)
    m = Model.load(path, n_ctx=32, n_threads=1)
    fresh = m.eval(b)
    m.reset()
    m.eval(a)
    assert m.n_past == 6
    m.reset()
    np.testing.assert_array_equal(m.eval(b), fresh)


def test_context_full_raises_and_keeps_the_cache(synth):
    path, hp = synth["llama"]
    m = Model.load(path, n_ctx=16, n_threads=1)
    m.eval(prompt(hp, 12))
    with pytest.raises(ContextFullError, match="context is full"):
        m.eval(prompt(hp, 5))
    assert m.n_past == 12
    m.eval(prompt(hp, 4))  # exactly fills it
    assert m.n_past == 16
    with pytest.raises(ContextFullError):
        m.eval(prompt(hp, 1))


def test_context_shift_matches_fresh_run(tmp_path):
    # With one layer, K and V depend only on (token, position), so after dropping tokens
    # and re-rotating the kept keys, decoding must match a fresh run of the kept tokens.
    path = tmp_path / "one_layer.gguf"
    hp = make_model("llama", path, n_layer=1, seed=5)
    toks = prompt(hp, 20, seed=6)
    m = Model.load(path, n_ctx=16, n_threads=1, kv_type="f32", context_shift=True, n_keep=2)
    m.eval(toks[:16])
    got = m.eval(toks[16:17])  # full: drops (16 - 2) // 2 = 7 tokens after the first 2
    assert m.n_past == 10
    kept = np.concatenate([toks[:2], toks[9:17]])
    fresh = Model.load(path, n_ctx=16, n_threads=1, kv_type="f32").eval(kept)
    np.testing.assert_allclose(got, fresh, rtol=0, atol=1e-4 * (fresh.max() - fresh.min()))


def test_context_shift_refuses_a_batch_larger_than_the_context(synth):
    path, hp = synth["llama"]
    m = Model.load(path, n_ctx=8, n_threads=1, context_shift=True)
    with pytest.raises(ContextFullError):
        m.eval(prompt(hp, 9))


@pytest.mark.parametrize("arch", ["mistral", "gemma3"])
def test_q8_0_cache_close_to_f16(synth, arch):
    path, hp = synth[arch]
    toks = prompt(hp, prompt_len(hp), seed=7)
    f16 = Model.load(path, n_ctx=64, n_threads=2, kv_type="f16").eval(toks, all_logits=True)
    q8 = Model.load(path, n_ctx=64, n_threads=2, kv_type="q8_0")
    got = q8.eval(toks, all_logits=True)
    assert q8.kv_bytes < Model.load(path, n_ctx=64, n_threads=1).kv_bytes
    assert rel_diff(got, f16) <= 3e-2
    assert (got.argmax(1) == f16.argmax(1)).mean() >= 0.9


@pytest.mark.parametrize("wtype", ["Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16", "TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0",
                                   "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"])
def test_quantized_weights_match_reference(tmp_path, wtype):
    path = tmp_path / f"gemma3_{wtype}.gguf"
    hp = make_model("gemma3", path, wtype=wtype, seed=8)
    toks = prompt(hp, prompt_len(hp), seed=9)
    ref = ReferenceModel(path).logits(toks)
    # float32 activations: only summation order differs from the reference
    precise = Model.load(path, n_ctx=32, n_threads=2, kv_type="f32", precise=True)
    got = precise.eval(toks, all_logits=True)
    assert rel_diff(got, ref) <= 1e-3
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    # the default path rounds activations to the weights' dot types as llama.cpp does
    fast = Model.load(path, n_ctx=32, n_threads=2).eval(toks, all_logits=True)
    assert rel_diff(fast, ref) <= 3e-2
    assert (fast.argmax(1) == ref.argmax(1)).mean() >= 0.8


def test_metadata_read_into_hparams(synth):
    path, hp = synth["gemma3"]
    m = Model.load(path, n_ctx=32, n_threads=1)
    assert m.arch == "gemma3"
    assert m.hparams["layer_swa"] == [1 if s else 0 for s in hp["swa_pattern"]]
    assert m.hparams["layer_rope_base"] == [10000.0, 10000.0, hp["rope_base"]]
    assert m.hparams["n_swa"] == hp["sliding_window"]
    assert m.hparams["head_dim_k"] == hp["head_dim"]
    assert m.hparams["embd_scale"] == pytest.approx(hp["n_embd"] ** 0.5)


def test_unknown_architecture_lists_supported(tmp_path):
    from support.gguf_files import write_gguf

    path = write_gguf(tmp_path / "gpt2.gguf", {"token_embd.weight": np.zeros((8, 4), np.float32)}, arch="gpt2")
    with pytest.raises(GGUFError, match="gpt2.*supported: gemma3, gpt-oss, llama, mistral, mistral3, phi3, qwen2, qwen3, "
                                        "qwen3moe, smollm3"):
        Model.load(path)


def test_bad_arguments(synth):
    path, hp = synth["llama"]
    with pytest.raises(ValueError, match="kv_type"):
        Model.load(path, kv_type="q4_0")
    m = Model.load(path, n_ctx=16, n_threads=1)
    with pytest.raises(ValueError, match="token ids"):
        m.eval([hp["n_vocab"]])
    with pytest.raises(ValueError, match="token ids"):
        m.eval([-1])
    with pytest.raises(ValueError):
        m.eval([])
    assert m.n_past == 0


def test_weight_shape_mismatch_is_a_gguf_error(tmp_path):
    path = tmp_path / "bad.gguf"
    make_model("llama", path, seed=10)
    f = pyggml.GGUFFile(path)
    meta = {k: v for k, v in f.metadata.items() if k.startswith("llama.")}
    f.close()
    # claim a wider FFN than the tensors hold
    from support.gguf_files import write_gguf

    ref = ReferenceModel(path)
    tensors = {name: ref.weight(name) for name in ref.tensors}
    meta["llama.feed_forward_length"] = meta["llama.feed_forward_length"] * 2
    bad = write_gguf(tmp_path / "bad2.gguf", tensors, meta, arch="llama")
    with pytest.raises(GGUFError, match=r"'blk.0.ffn_gate.weight' has shape ne=\[64, 160\]: expected \[64, 320\] = "
                                         r"\(embedding_length, feed_forward_length\)"):
        Model.load(bad)


# ---------------------------------------------------------------- real models

REAL_PROMPTS = {  # "The capital of France is", "def fibonacci(n):\n    " as each model tokenizes them
    "gemma": [[2, 818, 5279, 529, 7001, 563], [2, 2063, 10779, 78113, 236769, 236749, 1473, 107, 140]],
    "qwen": [[785, 6722, 315, 9625, 374], [750, 75698, 1445, 982, 257]],
}


def _check_real(path, prompts, n_skip=0):
    """Logits of every position from n_skip on, the first n_skip tokens going through
    the KV cache in one batch whose logits are not compared."""
    rows = [np.arange(n_skip, len(p)) for p in prompts]
    refs = ReferenceModel(path, cache_weights=False).logits_many(prompts, rows)
    m = Model.load(path, n_ctx=1024, kv_type="f32", precise=True)
    for i, (p, ref) in enumerate(zip(prompts, refs)):
        m.reset()
        if n_skip:
            m.eval(p[:n_skip])
        got = m.eval(p[n_skip:], all_logits=True)
        assert rel_diff(got, ref) <= 1e-3, f"prompt {i}"
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


@pytest.mark.real_model
def test_real_gemma_matches_reference(gemma_path):
    _check_real(gemma_path, REAL_PROMPTS["gemma"])


@pytest.mark.real_model
def test_real_qwen_matches_reference(qwen_path):
    _check_real(qwen_path, REAL_PROMPTS["qwen"])


@pytest.mark.real_model
def test_real_gemma_prompt_longer_than_sliding_window(gemma_path):
    n_swa = pyggml.GGUFFile(gemma_path).get("gemma3.attention.sliding_window")
    toks = [2] + list(np.random.default_rng(11).integers(1000, 20000, size=n_swa + 40))
    # compare positions on both sides of the window edge
    _check_real(gemma_path, [toks], n_skip=n_swa - 8)


@pytest.mark.real_model
def test_real_gemma_peak_rss(gemma_path):
    """Peak RSS grows by less than file size + KV cache + 10% while running the model.

    Measured from just before Model.load, in a fresh interpreter (the interpreter and
    imported libraries themselves are not counted). What is resident: the matrices' copies
    in the model's buffer (about the file's size: Gemma's tied token_embd is both looked up
    in the file and copied as the output matrix, the other matrices are copied and their
    file pages released), the KV cache, the metadata's pages, and while loading, one 16 MB
    slice of file pages beside its copy. The norms are copied too: reading them in the
    file would map whole page-cache folios around them (up to 2 MiB each where the file
    system uses large folios, as ext4 and xfs do on recent kernels), pages of the matrices
    beside them; that put 36 MB of released matrix pages back in before they were copied.
    The file mapping's resident bytes are printed in the failure message."""
    code = textwrap.dedent(
        f"""
        import os, numpy as np, pyggml
        def status(k):
            return int(next(l for l in open('/proc/self/status') if l.startswith(k)).split()[1]) * 1024
        def file_rss(path):
            rss, cur = 0, False
            for line in open('/proc/self/smaps'):
                if line[0] in '0123456789abcdef' and ' ' in line and '-' in line.split()[0]:
                    cur = line.rstrip().endswith(os.path.basename(path))
                elif cur and line.startswith('Rss:'):
                    rss += int(line.split()[1]) * 1024
            return rss
        base = status('VmRSS:')
        m = pyggml.Model.load({str(gemma_path)!r}, n_ctx=1024)
        m.eval(np.arange(100, 132))
        for t in range(4):
            m.eval([t + 1000])
        print(status('VmHWM:') - base, os.path.getsize({str(gemma_path)!r}), m.kv_bytes, file_rss({str(gemma_path)!r}))
        """
    )
    # the child imports the same pyggml as this process (installed, or a developer build)
    here = os.path.dirname(os.path.dirname(pyggml.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=tempfile.gettempdir())
    grown, size, kv, file_resident = (int(v) for v in out.stdout.split())
    assert grown < (size + kv) * 1.10, dict(grown=grown, file=size, kv=kv, file_resident=file_resident)


def test_bench_command_prints_pp_and_tg(synth, capsys):
    from pyggml.cli import main

    path, _ = synth["llama"]
    assert main(["bench", "-m", path, "-p", "8", "-n", "4", "-r", "1", "-t", "1", "--no-llama-cpp",
                 "--read-seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "| pyggml" in line]
    assert [r.split("|")[6].strip() for r in rows] == ["pp8", "tg4"]
    assert all(float(r.split("|")[7].split("±")[0]) > 0 for r in rows)
    # both roofline lines: the whole-run bar and the per-repetition one (two read windows
    # for one repetition)
    roof = [line for line in out.splitlines() if line.startswith("tg4 roofline")]
    assert len(roof) == 2 and "pyggml" in roof[0] and "pyggml" in roof[1]
    assert len(roof[1].split("each: ")[1].split(" GB/s")[0].split(", ")) == 2


def test_bench_depth_times_tg_after_the_context(synth, capsys):
    from pyggml.cli import main

    path, _ = synth["llama"]
    assert main(["bench", "-m", path, "-p", "0", "-n", "3", "-d", "0,5,20", "-r", "1", "-t", "1", "--no-llama-cpp",
                 "--read-seconds", "0.05"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "| pyggml" in line]
    assert [r.split("|")[6].strip() for r in rows] == ["tg3", "tg3@d5", "tg3@d20"]
    # with a prompt test, the prompt at each depth too (llama-bench's pp512 @ d4096)
    assert main(["bench", "-m", path, "-p", "6", "-n", "2", "-d", "20", "-r", "1", "-t", "1", "--no-llama-cpp",
                 "--read-seconds", "0.05"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "| pyggml" in line]
    assert [r.split("|")[6].strip() for r in rows] == ["pp6", "tg2", "pp6@d20", "tg2@d20"]
    assert all(float(r.split("|")[7].split("±")[0]) > 0 for r in rows)
    with pytest.raises(SystemExit):
        main(["bench", "-m", path, "-d", "5,-1"])


def test_bench_flash_attn_flag_takes_llama_bench_values(synth):
    from pyggml.cli import main
    from pyggml.cli.bench import _flash_attn

    assert _flash_attn("1") == (True,) and _flash_attn("off") == (False,)
    assert _flash_attn("0,1,1") == (False, True)
    path, _ = synth["llama"]
    for bad in ("2", "", "yes"):
        with pytest.raises(SystemExit):
            main(["bench", "-m", path, "-fa", bad])


@pytest.mark.llama_cpp
def test_bench_times_llama_cpp_with_and_without_flash_attention(tmp_path, capsys):
    """-fa 0,1 gives one llama.cpp row (and ratio) per setting; a Q8_0 cache runs in llama.cpp
    with flash attention only, so -fa 0 is refused for it with the reason, and 1 still runs."""
    pytest.importorskip("llama_cpp")
    from pyggml.cli import main

    path = str(tmp_path / "llama-hd32.gguf")  # heads of whole Q8_0 blocks, as llama.cpp needs
    make_model("llama", path, wtype="F32", seed=2, n_embd=128, head_dim=32)
    common = ["bench", "-m", path, "-p", "8", "-n", "2", "-r", "1", "-t", "1", "--read-seconds", "0.05", "-fa", "0,1"]
    assert main(common) == 0
    out = capsys.readouterr().out
    assert "pp8: pyggml / llama.cpp fa=0 = " in out and "pp8: pyggml / llama.cpp fa=1 = " in out
    assert "f16 KV cache; llama.cpp fa=0 flash attention off, llama.cpp fa=1 flash attention on" in out
    assert main(common + ["--kv-type", "q8_0"]) == 0
    captured = capsys.readouterr()
    assert "llama.cpp fa=0: llama.cpp needs flash attention for a q8_0 V cache" in captured.err
    assert "fa=0 =" not in captured.out and "tg2: pyggml / llama.cpp fa=1 = " in captured.out
    assert "q8_0 KV cache; llama.cpp fa=1 flash attention on" in captured.out


def test_bench_depth_fills_each_cache_once_and_times_from_exactly_the_depth():
    from pyggml.cli.bench import _Backend, _time_tests

    class Fake:  # a cache of tokens; records the cache each single-token eval sees
        def __init__(self):
            self.cache, self.evaluated, self.seen = [], 0, []

        def eval(self, toks):
            if len(toks) == 1:
                self.seen.append(tuple(self.cache))
            self.cache += list(toks)
            self.evaluated += len(toks)

        def truncate(self, n):
            assert 0 <= n <= len(self.cache)
            del self.cache[n:]

        def reset(self):
            self.cache = []

    fakes = [Fake(), Fake()]
    backends = [_Backend(f"b{i}", f.reset, f.eval, 50, f.truncate) for i, f in enumerate(fakes)]
    heard = []
    _time_tests(backends, 0, 3, 4, depths=(20, 0, 5), say=heard.append)
    for f, b in zip(fakes, backends):
        assert list(b.results) == ["tg3", "tg3@d5", "tg3@d20"]
        assert all(len(rates) == 4 for rates in b.results.values())
        # each timed run at depth D began from the same D tokens (the deeper context extends
        # the shallower one)
        d5 = {s for s in f.seen if len(s) == 5}
        d20 = [s for s in f.seen if len(s) == 20]
        assert len(d5) == 1 and len(d20) == 4 and len(set(d20)) == 1 and d20[0][:5] in d5
        # warm-up 1 + tg 4 x 3 + the context once (20 tokens) + 4 x 3 at each depth
        assert f.evaluated == 1 + 12 + 20 + 24
    assert fakes[0].seen == fakes[1].seen  # the same tokens for both runtimes
    assert len(heard) == 4 and "20 tokens" in heard[-1]


def test_bench_depth_times_the_prompt_from_exactly_the_depth():
    from pyggml.cli.bench import _Backend, _time_tests

    class Fake:  # records the cache length each 6-token eval (a timed prompt) starts from
        def __init__(self):
            self.cache, self.starts = [], []

        def eval(self, toks):
            if len(toks) == 6:
                self.starts.append(len(self.cache))
            self.cache += list(toks)

        def truncate(self, n):
            del self.cache[n:]

        def reset(self):
            self.cache = []

    f = Fake()
    b = _Backend("b", f.reset, f.eval, 50, f.truncate)
    _time_tests([b], 6, 0, 3, depths=(20, 5))
    assert list(b.results) == ["pp6", "pp6@d5", "pp6@d20"]
    assert all(len(rates) == 3 for rates in b.results.values())
    assert f.starts == [0] * 4 + [5] * 3 + [20] * 3  # (the warm-up takes 6 tokens too)


@pytest.mark.llama_cpp
def test_bench_truncate_leaves_each_runtime_as_a_fresh_fill(synth):
    """The depth tests cut the caches back instead of refilling them: the next token's logits
    must be those of a cache filled with just the kept tokens, in both runtimes."""
    pytest.importorskip("llama_cpp")
    from pyggml.cli.bench import llama_cpp_backend, pyggml_backend

    path, _ = synth["llama"]
    m, ours = pyggml_backend(path, 64, 1, 16)
    theirs = llama_cpp_backend(path, 64, 1, 16)
    llm = theirs.eval.__self__

    def ours_next():
        return np.asarray(m.eval([7]))[-1]

    def theirs_next():
        llm.eval([7])
        return llm.scores[llm.n_tokens - 1].copy()

    for b, next_logits in [(ours, ours_next), (theirs, theirs_next)]:
        b.reset()
        b.eval(list(range(1, 6)))
        fresh = next_logits()
        b.reset()
        b.eval(list(range(1, 21)))
        b.truncate(5)
        np.testing.assert_allclose(next_logits(), fresh, rtol=1e-5, atol=1e-5, err_msg=b.name)


@pytest.mark.parametrize("kv_type", ["f32", "f16", "q8_0"])
@pytest.mark.parametrize("arch", ARCHS + ["qwen2-head-dim-32"])
def test_decoding_is_the_same_on_one_and_two_threads(synth, tmp_path, arch, kv_type):
    # Threads split the matmul rows into tiles and the attention by kv heads (gemma3's
    # single kv head: by query heads); every row's arithmetic stays the same.
    if arch == "qwen2-head-dim-32":  # heads of whole Q8_0 blocks
        path = str(tmp_path / "qwen2-hd32.gguf")
        hp = make_model("qwen2", path, wtype="F32", seed=2, head_dim=32)
    else:
        path, hp = synth[arch]
    toks = prompt(hp, 20, seed=9)
    runs = []
    for n_threads in (1, 2):
        m = Model.load(path, n_ctx=64, n_threads=n_threads, kv_type=kv_type)
        runs.append(np.stack([m.eval(toks[:4])] + [m.eval(toks[i : i + 1]) for i in range(4, len(toks))]))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("kv_type", ["f16", "q8_0"])
@pytest.mark.parametrize("arch", ["qwen2", "gpt-oss"])
def test_decoding_over_a_long_cache_is_attention_in_chunks(arch, kv_type, tmp_path):
    """One token over more than kKeyChunk (512) cached keys attends chunk by chunk and combines
    the chunks by their log-sum-exp (gpt-oss: its sinks join once). The logits equal one batch's
    over the same tokens up to float rounding, and do not depend on the thread count."""
    path = tmp_path / f"{arch}.gguf"
    make_model(arch, path, wtype="F32", seed=3, head_dim=32)
    toks = np.random.default_rng(5).integers(0, 90, 1300).tolist()
    n0 = 1290  # the last ten tokens decoded one by one: 1290..1299 cached keys, three chunks

    def decoded(n_threads):
        m = Model.load(str(path), n_ctx=1300, n_threads=n_threads, kv_type=kv_type)
        m.eval(toks[:n0])
        return np.stack([np.asarray(m.eval([t])).ravel() for t in toks[n0:]])

    one, two = decoded(1), decoded(2)
    np.testing.assert_array_equal(one, two)
    batch = Model.load(str(path), n_ctx=1300, n_threads=2, kv_type=kv_type, n_batch=1300)
    whole = np.asarray(batch.eval(toks, all_logits=True))[n0:]
    np.testing.assert_allclose(one, whole, rtol=0, atol=2e-4 * np.abs(whole).max())

"""The CUDA back end on a GPU (marked `gpu`; skipped where pyggml._core.cuda_available() is
false): each kernel against the CPU reference, then whole models with blocks on the GPU
against the numpy reference and the CPU path, decoding (the graph path), context shift,
embeddings, greedy generation, placements with several boundaries, and the commands.

Tolerances: dequantization is bit-exact with the CPU; matrix products within float32
summation error; whole models within the CPU path's own tolerance for an F16 KV cache
(5e-3 of the logit range against the reference, the same top token everywhere). The GPU
multiplies float32 activations (like the CPU's precise=True), so on quantized weights it is
compared with the precise CPU path and held to the CPU default path's tolerance against the
reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyggml import Model, _core, quantize
from pyggml.runtime import gpu
from pyggml.formats.quants import dequantize

from support.reference_forward import ReferenceModel
from support.synthetic_models import make_model

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not _core.cuda_available(), reason="no usable CUDA GPU (pyggml._core.cuda_available())")]

TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL",
         "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"]
TYPE_ID = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
           "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ4_NL": 20, "IQ4_XS": 23, "BF16": 30}
K_TYPES = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"}
ARCHS = ["llama", "mistral", "qwen2", "gemma3"]


def weights(wtype, n_rows, n_cols, seed=0):
    """(bytes (n_rows, row_bytes), the CPU's float32 dequantization)."""
    x = np.random.default_rng(seed).standard_normal((n_rows, n_cols)).astype(np.float32)
    q = quantize(x, wtype)
    return q, dequantize(q, wtype, shape=(n_rows, n_cols))


def rel_diff(got, ref):
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


# ---------------------------------------------------------------- kernels

@pytest.mark.parametrize("wtype", TYPES)
def test_dequantize_is_bit_exact(wtype):
    q, ref = weights(wtype, 7, 512, seed=1)
    got = _core.testing.cuda_dequantize(TYPE_ID[wtype], q.reshape(-1), 7, 512)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("wtype", TYPES)
@pytest.mark.parametrize("T, mode", [(1, 0), (3, 0), (8, 0), (9, 0), (70, 0), (1, 2), (5, 1)])
def test_matmul_against_cpu_dequantized(wtype, T, mode):
    # rows not a multiple of the tiles; an odd count of 32-value units where the type allows
    n_rows, n_cols = 67, (768 if wtype in K_TYPES else 96)
    q, w = weights(wtype, n_rows, n_cols, seed=T)
    x = np.random.default_rng(100 + T).standard_normal((T, n_cols)).astype(np.float32)
    got = _core.testing.cuda_matmul(TYPE_ID[wtype], q.reshape(-1), n_rows, n_cols, x, mode)
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    bound = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T  # float32 summation error scale
    assert got.shape == (T, n_rows)
    assert np.all(np.abs(got - ref) <= 1e-5 * bound + 1e-30)


def test_matmul_large_shapes():
    # more tiles than one wave, a 151936-row head like Qwen2.5's in miniature
    q, w = weights("Q6_K", 4099, 1536, seed=5)
    for T in (1, 130):
        x = np.random.default_rng(T).standard_normal((T, 1536)).astype(np.float32)
        got = _core.testing.cuda_matmul(TYPE_ID["Q6_K"], q.reshape(-1), 4099, 1536, x)
        ref = x.astype(np.float64) @ w.astype(np.float64).T
        bound = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T
        assert np.all(np.abs(got - ref) <= 1e-5 * bound)


Q8_TYPES = ["Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]  # the integer matrix-vector kernels' types


def quantize_q8_ref(x):
    """Activations as the one-token products quantize them: int8 per 32 values, d = max |x| /
    127 (float32), q = x / d (float32) rounded to nearest even. Returns (q int8, d float32)."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    d = (np.abs(b).max(axis=1) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d[:, None] > 0, np.rint(b / np.where(d > 0, d, np.float32(1))[:, None]), 0)
    return q.astype(np.int8).reshape(-1), d


def quantize_rows_q8(x):
    """x as the integer kernels see it: quantize_q8_ref, dequantized (float64)."""
    q, d = quantize_q8_ref(x)
    return (q.reshape(-1, 32).astype(np.float64) * d[:, None].astype(np.float64)).reshape(np.shape(x))


def check_q8_product(got, x, w):
    """got = W x with x quantized (quantize_rows_q8): within float32 summation error."""
    xq = quantize_rows_q8(x)
    ref = xq @ w.astype(np.float64).T
    bound = np.abs(xq) @ np.abs(w).astype(np.float64).T
    assert np.all(np.abs(got - ref) <= 1e-5 * bound + 1e-30)
    # and close to the float32 activations' product (int8 activations: about 1% of the scale)
    assert rel_diff(got, x.astype(np.float64) @ w.astype(np.float64).T) < 2e-2


def test_quantize_q8_matches_numpy():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(32 * 40) * np.repeat(np.geomspace(1e-6, 1e4, 40), 32)).astype(np.float32)
    x[64:96] = 0.0  # a block of zeros: d = 0, q = 0
    x[96:128] = 0.5  # every value at the maximum
    x[128:160] = np.linspace(-1, 1, 32, dtype=np.float32)
    q, d = _core.testing.cuda_quantize_q8(x)
    rq, rd = quantize_q8_ref(x)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(q, rq)


# rows x columns: the row-group sizes the launcher picks (one warp per row, two, four), rows
# that do not fill the last block, more rows than one wave of the GPU
Q8_SHAPES = [(67, 768), (1500, 8960), (3001, 2048), (4099, 1536)]


@pytest.mark.parametrize("wtype", Q8_TYPES)
@pytest.mark.parametrize("n_rows, n_cols", Q8_SHAPES)
def test_integer_matvec(wtype, n_rows, n_cols):
    q, w = weights(wtype, n_rows, n_cols, seed=7)
    x = np.random.default_rng(n_cols).standard_normal((1, n_cols)).astype(np.float32)
    x[0, :32] = 0.0  # a block of zeros (d = 0)
    x[0, 32:64] *= 1000.0  # a block far larger than the others
    got = _core.testing.cuda_matmul(TYPE_ID[wtype], q.reshape(-1), n_rows, n_cols, x, 3)
    assert got.shape == (1, n_rows)
    check_q8_product(got, x, w)


@pytest.mark.parametrize("wtype", ["Q4_1", "Q5_1", "IQ4_NL", "Q3_K", "F16"])
def test_integer_matvec_refuses_other_types(wtype):
    q = weights(wtype, 4, 256)[0].reshape(-1)
    x = np.ones((1, 256), np.float32)
    with pytest.raises(ValueError):
        _core.testing.cuda_matmul(TYPE_ID[wtype], q, 4, 256, x, 3)


@pytest.mark.parametrize("wtype", Q8_TYPES)
@pytest.mark.parametrize("rows", [(1536, 256, 256), (64, 4099), (2, 3, 5)])
def test_integer_matvec_of_several_matrices(wtype, rows):
    # the model's q, k and v in one launch: blocks of each matrix one after another
    n_cols = 1536
    mats = [weights(wtype, r, n_cols, seed=20 + i) for i, r in enumerate(rows)]
    x = np.random.default_rng(21).standard_normal((1, n_cols)).astype(np.float32)
    ys = _core.testing.cuda_matvec_q8_multi(TYPE_ID[wtype], [q.reshape(-1) for q, _ in mats], list(rows), n_cols, x)
    assert [y.shape for y in ys] == [(r,) for r in rows]
    for y, (_, w) in zip(ys, mats):
        check_q8_product(y[None, :], x, w)


@pytest.mark.parametrize("wtype", Q8_TYPES)
@pytest.mark.parametrize("act", ["silu", "gelu_tanh"])
def test_integer_gate_and_up(wtype, act):
    # act(gate x) * (up x) in one launch against the two products and the CPU's activation
    n_rows, n_cols = 4608, 1536  # one warp per row in the single products too: the same sums
    qg, wg = weights(wtype, n_rows, n_cols, seed=30)
    qu, wu = weights(wtype, n_rows, n_cols, seed=31)
    x = np.random.default_rng(32).standard_normal((1, n_cols)).astype(np.float32)
    got = _core.testing.cuda_matvec_q8_glu(act, TYPE_ID[wtype], qg.reshape(-1), qu.reshape(-1), n_rows, n_cols, x)
    g = _core.testing.cuda_matmul(TYPE_ID[wtype], qg.reshape(-1), n_rows, n_cols, x, 3)[0]
    u = _core.testing.cuda_matmul(TYPE_ID[wtype], qu.reshape(-1), n_rows, n_cols, x, 3)[0]
    check_q8_product(g[None, :], x, wg)
    ref = _core.ops_act_mul(act, g, u, isa="scalar")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * float(np.abs(ref).max()))


def test_norm_and_activation_write_int8_too():
    # the model's one-token path: the norm before q, k, v (and gate, up) and the gated
    # activation before down also write their output quantized, as quantize_q8 would
    rng = np.random.default_rng(12)
    n = 1536
    x = (rng.standard_normal((1, n)) * 3).astype(np.float32)
    o = rng.standard_normal((1, n)).astype(np.float32)
    w = (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)
    new_x, y, q, d = _core.testing.cuda_residual_norm(x, o, None, w, 1e-6, quantized=True)
    _, y_plain = _core.testing.cuda_residual_norm(x, o, None, w, 1e-6)
    np.testing.assert_array_equal(y, y_plain)
    rq, rd = quantize_q8_ref(y)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(q, rq)
    gate = (rng.standard_normal(8960) * 4).astype(np.float32)
    up = rng.standard_normal(8960).astype(np.float32)
    for act in ("silu", "gelu_tanh"):
        y2, q2, d2 = _core.testing.cuda_act_mul(act, gate, up, quantized=True)
        np.testing.assert_array_equal(y2, _core.testing.cuda_act_mul(act, gate, up))
        rq2, rd2 = quantize_q8_ref(y2)
        np.testing.assert_array_equal(d2, rd2)
        np.testing.assert_array_equal(q2, rq2)


@pytest.mark.parametrize("post", [False, True])
def test_residual_norm_against_cpu(post):
    rng = np.random.default_rng(2)
    n = 1536
    x = rng.standard_normal((5, n)).astype(np.float32) * 3
    o = rng.standard_normal((5, n)).astype(np.float32)
    pw = (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)
    w = (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)
    new_x, y = _core.testing.cuda_residual_norm(x, o, pw if post else None, w, 1e-6)
    o_ref = _core.ops_rms_norm(o, pw, 1e-6, isa="scalar") if post else o
    x_ref = x + o_ref
    np.testing.assert_allclose(new_x, x_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y, _core.ops_rms_norm(x_ref, w, 1e-6, isa="scalar"), rtol=1e-6, atol=1e-7)
    # the first block's input: no residual, the norm alone
    same_x, y0 = _core.testing.cuda_residual_norm(x, None, None, w, 1e-5)
    np.testing.assert_array_equal(same_x, x)
    np.testing.assert_allclose(y0, _core.ops_rms_norm(x, w, 1e-5, isa="scalar"), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("act", ["silu", "gelu_tanh"])
def test_act_mul_against_cpu(act):
    rng = np.random.default_rng(3)
    gate = (rng.standard_normal(10_000) * 4).astype(np.float32)
    up = rng.standard_normal(10_000).astype(np.float32)
    got = _core.testing.cuda_act_mul(act, gate, up)
    # GELU's 1 + tanh cancels for negative gates: the error is absolute there
    np.testing.assert_allclose(got, _core.ops_act_mul(act, gate, up, isa="scalar"), rtol=2e-6, atol=1e-5)


@pytest.mark.parametrize("neox", [False, True])
@pytest.mark.parametrize("head_dim, n_rot", [(64, 64), (128, 64), (256, 256), (16, 16)])
def test_rope_against_cpu(neox, head_dim, n_rot):
    rng = np.random.default_rng(4)
    T, n_head, pos0 = 6, 3, 1000
    x = rng.standard_normal((T, n_head, head_dim)).astype(np.float32)
    cs = _core.ops_rope_cache(n_rot, 10000.0, 0.5, pos0, T)
    got = _core.testing.cuda_rope(x, n_rot, neox, cs)
    ref = np.stack([_core.ops_rope(x[t], n_rot, neox, 10000.0, 0.5, pos0 + t, isa="scalar") for t in range(T)])
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("T, n_past, window, softcap", [(1, 0, 0, 0.0), (1, 300, 0, 0.0), (1, 300, 64, 0.0),
                                                        (7, 20, 0, 0.0), (40, 10, 16, 0.0), (33, 0, 0, 30.0),
                                                        (1, 700, 0, 50.0)])
@pytest.mark.parametrize("n_head, n_head_kv, hdk, hdv", [(4, 4, 64, 64), (12, 2, 128, 128), (4, 1, 256, 256),
                                                         (6, 2, 16, 16)])
def test_attention_against_cpu(T, n_past, window, softcap, n_head, n_head_kv, hdk, hdv):
    rng = np.random.default_rng(T + n_past)
    n_keys = n_past + T
    q = (rng.standard_normal((T, n_head, hdk)) / np.sqrt(hdk)).astype(np.float32)
    k = rng.standard_normal((n_keys, n_head_kv, hdk)).astype(np.float16)
    v = rng.standard_normal((n_keys, n_head_kv, hdv)).astype(np.float16)
    got = _core.testing.cuda_attend(q, k.view(np.uint16), v.view(np.uint16), n_past, window, softcap)
    ref = _core.ops_attend(q, k.astype(np.float32), v.astype(np.float32), n_past + 1, window, softcap,
                           isa="scalar", kv_f16=True)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("n_head, n_head_kv, hd", [(12, 2, 128), (4, 1, 256), (8, 8, 32)])
def test_attention_writes_int8_too(n_head, n_head_kv, hd):
    # one token: the attention output, also quantized for the output matrix's integer product
    rng = np.random.default_rng(hd)
    n_keys = 50
    q = (rng.standard_normal((1, n_head, hd)) / np.sqrt(hd)).astype(np.float32)
    k = rng.standard_normal((n_keys, n_head_kv, hd)).astype(np.float16).view(np.uint16)
    v = rng.standard_normal((n_keys, n_head_kv, hd)).astype(np.float16).view(np.uint16)
    out, q8, d8 = _core.testing.cuda_attend(q, k, v, n_keys - 1, 0, 0.0, quantized=True)
    np.testing.assert_array_equal(out, _core.testing.cuda_attend(q, k, v, n_keys - 1, 0, 0.0))
    rq, rd = quantize_q8_ref(out)
    np.testing.assert_array_equal(d8, rd)
    np.testing.assert_array_equal(q8, rq)


def test_read_bandwidth_is_plausible():
    assert _core.cuda_read_bandwidth(256 << 20, 2) > 50  # GB/s: any discrete GPU of this decade


# ---------------------------------------------------------------- whole models

@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """arch -> (path, hparams) of a small F32 model of four blocks (gemma3: two sliding, then
    global, then sliding: both rope bases on the GPU at once)."""
    out = {}
    d = tmp_path_factory.mktemp("cuda_synthetic")
    for arch in ARCHS:
        path = d / f"{arch}.gguf"
        extra = dict(swa_pattern=[True, True, False, True]) if arch == "gemma3" else {}
        out[arch] = (str(path), make_model(arch, path, wtype="F32", seed=1, n_layer=4, **extra))
    return out


def prompt(hp, n, seed=0):
    return np.random.default_rng(seed).integers(0, hp["n_vocab"], size=n)


def prompt_len(hp):
    return max(24, 3 * hp.get("sliding_window", 0))  # past gemma3's window of 8


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("ngl", [2, 4, 5])  # half the blocks, all of them, and the head too
@pytest.mark.parametrize("n_batch", [7, 64])  # the matrix-vector kernels in slices; the tiled kernel at once
def test_logits_match_reference(synth, arch, ngl, n_batch):
    path, hp = synth[arch]
    toks = prompt(hp, prompt_len(hp), seed=ngl)
    ref = ReferenceModel(path).logits(toks)
    m = Model.load(path, n_ctx=64, n_threads=2, n_batch=n_batch, n_gpu_layers=ngl)
    assert m.gpu_device and m.gpu_bytes["total"] > 0
    got = m.eval(toks, all_logits=True)
    cpu = Model.load(path, n_ctx=64, n_threads=2, n_batch=n_batch).eval(toks, all_logits=True)
    assert rel_diff(got, ref) <= 5e-3
    assert rel_diff(got, cpu) <= 5e-3
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    # the last row alone (the head on one token)
    m.reset()
    np.testing.assert_allclose(m.eval(toks), got[-1], rtol=0, atol=1e-3 * (got.max() - got.min()))


@pytest.mark.parametrize("wtype", ["Q4_K", "Q6_K", "Q5_K", "Q8_0", "Q4_0", "Q5_0", "F16"])
def test_quantized_models_match_precise_cpu(tmp_path, wtype):
    path = tmp_path / f"gemma3_{wtype}.gguf"
    hp = make_model("gemma3", path, wtype=wtype, seed=8)
    toks = prompt(hp, prompt_len(hp), seed=9)
    ref = ReferenceModel(path).logits(toks)
    precise = Model.load(path, n_ctx=32, n_threads=2, precise=True).eval(toks, all_logits=True)
    got = Model.load(path, n_ctx=32, n_threads=2, n_gpu_layers=-1).eval(toks, all_logits=True)
    assert rel_diff(got, precise) <= 5e-3
    assert rel_diff(got, ref) <= 3e-2
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_qwen_shaped_quantized_model(tmp_path):
    # Qwen2's biases and tied head over Q4_K blocks
    path = tmp_path / "qwen2_q4k.gguf"
    hp = make_model("qwen2", path, wtype="Q4_K", seed=4, n_layer=3)
    toks = prompt(hp, 40, seed=1)
    precise = Model.load(path, n_ctx=64, n_threads=2, precise=True).eval(toks, all_logits=True)
    for ngl in (1, 3, 4):
        got = Model.load(path, n_ctx=64, n_threads=2, n_gpu_layers=ngl).eval(toks, all_logits=True)
        assert rel_diff(got, precise) <= 5e-3, ngl


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_decoding_one_token_at_a_time(synth, arch):
    # one-token calls replay a CUDA graph; prompts run the batched kernels
    path, hp = synth[arch]
    toks = prompt(hp, prompt_len(hp), seed=2)
    m = Model.load(path, n_ctx=64, n_threads=2, n_gpu_layers=-1)
    full = m.eval(toks, all_logits=True)
    m.reset()
    first = m.eval(toks[:5], all_logits=True)
    steps = [m.eval(toks[i:i + 1]) for i in range(5, len(toks))]
    inc = np.concatenate([first, np.stack(steps)])
    assert rel_diff(inc, full) <= 1e-3
    np.testing.assert_array_equal(inc.argmax(1), full.argmax(1))


@pytest.mark.parametrize("wtype", Q8_TYPES)
def test_quantized_decoding_with_int8_products(tmp_path, monkeypatch, wtype):
    # one-token calls of a quantized model take the integer kernels (q, k, v in one launch;
    # gate, up and the activation in one; the head); prompts and PYGGML_CUDA_MMVQ=0 the float ones
    path = tmp_path / f"qwen2_{wtype}.gguf"
    hp = make_model("qwen2", path, wtype=wtype, seed=12, n_layer=3)
    toks = prompt(hp, 24, seed=13)

    def decode(**kw):
        m = Model.load(path, n_ctx=64, n_threads=2, **kw)
        first = m.eval(toks[:4], all_logits=True)
        return np.concatenate([first, np.stack([m.eval(toks[i:i + 1]) for i in range(4, len(toks))])])

    full = Model.load(path, n_ctx=64, n_threads=2, n_gpu_layers=-1).eval(toks, all_logits=True)
    int8 = decode(n_gpu_layers=-1)
    half = decode(n_gpu_layers=2)  # the head and the first block on the CPU
    cpu = decode()  # the CPU's default path rounds activations to 8 bits too
    monkeypatch.setenv("PYGGML_CUDA_MMVQ", "0")
    float32 = decode(n_gpu_layers=-1)
    assert rel_diff(float32, full) <= 1e-3
    for got in (int8, half):
        assert rel_diff(got, full) <= 3e-2
        assert rel_diff(got, cpu) <= 5e-2  # two roundings of the activations, each its own way
        assert (got.argmax(1) == full.argmax(1)).mean() >= 0.9
    assert np.all(np.isfinite(int8))


def test_graphs_give_the_same_logits_as_plain_launches(synth, monkeypatch):
    path, hp = synth["qwen2"]
    toks = prompt(hp, 20, seed=3)

    def decode():
        m = Model.load(path, n_ctx=64, n_threads=2, n_gpu_layers=3)  # the head on the CPU: states come back
        return np.stack([m.eval(toks[i:i + 1]) for i in range(len(toks))])

    with_graphs = decode()
    monkeypatch.setenv("PYGGML_CUDA_GRAPHS", "0")
    np.testing.assert_array_equal(decode(), with_graphs)


def test_greedy_generation_matches_cpu(synth):
    path, hp = synth["qwen2"]
    gpu_m = Model.load(path, n_ctx=64, n_threads=2, n_gpu_layers=-1)
    cpu_m = Model.load(path, n_ctx=64, n_threads=2)
    toks = list(prompt(hp, 6, seed=4))
    a, b = gpu_m.eval(toks), cpu_m.eval(toks)
    for _ in range(40):
        ta, tb = int(a.argmax()), int(b.argmax())
        if ta != tb:  # only a near tie may pick differently
            assert abs(b[ta] - b[tb]) <= 1e-3 * (b.max() - b.min()), (ta, tb)
            break
        a, b = gpu_m.eval([ta]), cpu_m.eval([tb])


@pytest.mark.parametrize("spec", ["0,2,output", "1-2", "output", "3"])
def test_named_blocks_with_several_boundaries(synth, spec):
    path, hp = synth["gemma3"]
    toks = prompt(hp, prompt_len(hp), seed=5)
    cpu = Model.load(path, n_ctx=64, n_threads=2).eval(toks, all_logits=True)
    m = Model.load(path, n_ctx=64, n_threads=2, n_batch=9, gpu_layers=spec)
    assert rel_diff(m.eval(toks, all_logits=True), cpu) <= 5e-3


def test_context_shift_moves_the_gpu_cache(synth):
    path, hp = synth["llama"]
    toks = prompt(hp, 40, seed=6)

    def run(**kw):
        m = Model.load(path, n_ctx=32, n_threads=2, context_shift=True, n_keep=4, **kw)
        m.eval(toks[:28])
        return np.stack([m.eval(toks[i:i + 1]) for i in range(28, 40)])  # shifts at position 32

    got, cpu = run(n_gpu_layers=2), run()
    assert rel_diff(got, cpu) <= 5e-3
    np.testing.assert_array_equal(got.argmax(1), cpu.argmax(1))


def test_embeddings_from_gpu_blocks(synth):
    path, hp = synth["qwen2"]
    toks = prompt(hp, 12, seed=7)
    cpu = Model.load(path, n_ctx=32, n_threads=2).embed(toks)
    for ngl in (2, -1):
        got = Model.load(path, n_ctx=32, n_threads=2, n_gpu_layers=ngl).embed(toks)
        np.testing.assert_allclose(got, cpu, rtol=0, atol=5e-3 * (np.abs(cpu).max()))


def test_gpu_bytes_are_the_plan(synth):
    from pyggml.runtime.hparams import read_hparams
    from pyggml.runtime.model import _native_tensors, _open_gguf

    path, _ = synth["gemma3"]
    _, meta, tensors = _open_gguf(path)
    hp = read_hparams(path, meta, tensors)
    for ngl in (1, 5):
        m = Model.load(path, n_ctx=48, n_batch=16, n_gpu_layers=ngl)
        assert m.gpu_bytes == gpu.plan(hp, _native_tensors(path, tensors), gpu.placement(4, ngl), 48, 16)
        assert "GPU" in m.placement_summary()


def test_capture_stays_on_the_cpu(synth):
    path, hp = synth["llama"]
    m = Model.load(path, n_ctx=32, n_gpu_layers=1)
    with pytest.raises(RuntimeError, match="CPU only"):
        m.capture(prompt(hp, 4), [(0, 0)])


def test_too_much_for_the_gpu_is_refused_before_loading(tmp_path):
    # 8 KiB of F16 cache per block and position: 128 GiB per block at n_ctx = 2^24
    path = tmp_path / "wide_kv.gguf"
    make_model("llama", path, n_layer=4, n_embd=256, n_head=8, n_head_kv=8, head_dim=256, n_ff=256)
    free = gpu.device_info()["free_bytes"]
    if 4 * (128 << 30) < free:
        pytest.skip("this GPU holds even that")
    with pytest.raises(gpu.GPUError, match="fits"):
        Model.load(path, n_ctx=1 << 24, n_gpu_layers=4)


# ---------------------------------------------------------------- commands

def test_bench_with_gpu_layers(synth, capsys):
    from pyggml.cli import main

    path, _ = synth["llama"]
    assert main(["bench", "-m", path, "-p", "16", "-n", "4", "-r", "1", "-t", "2", "--no-llama-cpp",
                 "--read-seconds", "0.05", "-ngl", "0,2,99"]) == 0
    out = capsys.readouterr().out
    backends = {line.split("|")[4].strip() for line in out.splitlines() if "| pyggml" in line}
    assert backends == {"pyggml", "pyggml ngl=2", "pyggml ngl=99"}
    assert out.count("roofline: ") >= 3 and "on the GPU at" in out


def test_run_with_ngl(synth, capsys):
    from pyggml.cli import main

    path, _ = synth["qwen2"]
    assert main(["run", "-m", path, "-p", "one two", "-n", "4", "--temp", "0", "-ngl", "99"]) == 0
    err = capsys.readouterr().err
    assert "pyggml: GPU " in err and "and the output head" in err


@pytest.mark.real_model
def test_real_qwen_on_the_gpu(qwen_path):
    toks = np.random.default_rng(0).integers(0, 151000, size=40)
    precise = Model.load(qwen_path, n_ctx=64, precise=True).eval(toks, all_logits=True)
    for ngl in (14, -1):
        got = Model.load(qwen_path, n_ctx=64, n_gpu_layers=ngl).eval(toks, all_logits=True)
        assert rel_diff(got, precise) <= 1e-2, ngl

"""The forward pass's element-wise and attention kernels (cpp/kernels/ops.cpp, cpp/arch/x86/ops_avx2.cpp):
each SIMD twin against its scalar reference, and the references against numpy.

rms_norm and rope are the references' float operations in the same order (rope bit for
bit); the activations and attention use a polynomial exp and fused multiply-adds, so
they agree to a few float ulps. Attention must not depend on how queries are grouped
into tiles: a token decoded alone gets exactly what it gets inside a batch.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyggml import _core

# the higher x86 tiers run the AVX2 ops
SIMD = [isa for isa in ("avx2", "neon", "dotprod") if isa in _core.cpu_tier()["available"]]


def test_best_is_a_known_isa():
    assert _core.cpu_isa() in ("scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm")
    x = np.ones((1, 8), np.float32)
    np.testing.assert_allclose(_core.testing.ops_rms_norm(x, None, 0.0, "best"), x)
    with pytest.raises(ValueError, match="instruction set"):
        _core.testing.ops_rms_norm(x, None, 0.0, "sse9")


def np_rms_norm(x, w, eps):
    x64 = x.astype(np.float64)
    y = (x / np.sqrt((x64 * x64).mean(1, keepdims=True) + eps)).astype(np.float32)
    return y * w if w is not None else y


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("n", [1, 7, 8, 37, 640])
def test_rms_norm(isa, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n)).astype(np.float32) * 3
    w = rng.standard_normal(n).astype(np.float32)
    for wt in (w, None):
        got = _core.testing.ops_rms_norm(x, wt, 1e-6, isa)
        np.testing.assert_allclose(got, np_rms_norm(x, wt, 1e-6), rtol=2e-6, atol=1e-7)
        if isa != "scalar":
            np.testing.assert_allclose(got, _core.testing.ops_rms_norm(x, wt, 1e-6, "scalar"), rtol=2e-7, atol=0)


def np_act(act, g):
    g = g.astype(np.float64)
    if act == "silu":
        return g / (1 + np.exp(-g))
    return 0.5 * g * (1 + np.tanh(np.sqrt(2 / np.pi) * (g + 0.044715 * g**3)))


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("act", ["silu", "gelu_tanh"])
def test_activation_times_up(isa, act):
    rng = np.random.default_rng(1)
    # the tails (|g| up to 120, where e^x leaves the float range) and the region near 0
    g = np.concatenate([rng.standard_normal(1000) * 4, np.linspace(-120, 120, 997), [0.0, -0.0, 1e-30]])
    g = g.astype(np.float32)
    up = rng.standard_normal(g.size).astype(np.float32)
    got = _core.testing.ops_act_mul(act, g, up, isa)
    want = np_act(act, g) * up
    # 0.5 g (1 + tanh(z)) cancels for g << 0 (in the float reference and in numpy): there
    # only the absolute error is small
    atol = 1e-30 if act == "silu" else 5e-7
    np.testing.assert_allclose(got, want, rtol=3e-6, atol=atol)
    if isa != "scalar":
        ref = _core.testing.ops_act_mul(act, g, up, "scalar")
        np.testing.assert_allclose(got, ref, rtol=3e-6, atol=atol)


@pytest.mark.parametrize("isa", SIMD)
@pytest.mark.parametrize("neox", [False, True])
@pytest.mark.parametrize("head_dim,n_rot", [(64, 64), (48, 32), (40, 40), (256, 256)])
def test_rope_simd_is_bit_identical(isa, neox, head_dim, n_rot):
    rng = np.random.default_rng(head_dim + n_rot)
    x = rng.standard_normal((3, head_dim)).astype(np.float32)
    for pos in (0.0, 5.0, 1234.0, -7.0):
        ref = _core.testing.ops_rope(x, n_rot, neox, 10000.0, 1.0, pos, "scalar")
        got = _core.testing.ops_rope(x, n_rot, neox, 10000.0, 1.0, pos, isa)
        np.testing.assert_array_equal(got, ref)


def test_rope_tables_for_a_batch_equal_the_per_position_ones():
    for base, scale, pos0 in [(10000.0, 1.0, 0.0), (1e6, 0.25, 37.0), (500.0, 1.0, -5.0)]:
        rows = _core.testing.ops_rope_cache(64, base, scale, pos0, 9, rows=True)
        one = _core.testing.ops_rope_cache(64, base, scale, pos0, 9, rows=False)
        np.testing.assert_array_equal(rows, one)
        theta = (pos0 + np.arange(9))[:, None] * base ** (-np.arange(32) * 2 / 64) * scale
        np.testing.assert_allclose(rows[:, 0::2], np.cos(theta), atol=1e-6)
        np.testing.assert_allclose(rows[:, 1::2], np.sin(theta), atol=1e-6)


def test_rope_reference_rotates_pairs():
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    pos, base = 3.0, 100.0
    theta = pos * base ** (-np.arange(4) * 2 / 8)
    c, s = np.cos(theta), np.sin(theta)
    got = _core.testing.ops_rope(x, 8, False, base, 1.0, pos, "scalar")
    a, b = x[:, 0::2], x[:, 1::2]
    np.testing.assert_allclose(got[:, 0::2], a * c - b * s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 1::2], a * s + b * c, rtol=1e-5, atol=1e-6)
    got = _core.testing.ops_rope(x, 8, True, base, 1.0, pos, "scalar")
    a, b = x[:, :4], x[:, 4:]
    np.testing.assert_allclose(got[:, :4], a * c - b * s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 4:], a * s + b * c, rtol=1e-5, atol=1e-6)


def np_attend(q, k, v, hi0, window, softcap):
    n_tok, n_head, _ = q.shape
    group = n_head // k.shape[1]
    out = np.zeros((n_tok, n_head, v.shape[2]))
    for t in range(n_tok):
        hi = hi0 + t
        lo = max(0, hi - window) if window else 0
        for h in range(n_head):
            s = k[lo:hi, h // group].astype(np.float64) @ q[t, h]
            if softcap:
                s = softcap * np.tanh(s / softcap)
            p = np.exp(s - s.max())
            out[t, h] = p @ v[lo:hi, h // group] / p.sum()
    return out


ATTN_CASES = [
    # n_tok, n_head, n_head_kv, hdk, hdv, n_keys, window, softcap
    (9, 4, 1, 32, 32, 30, 0, 0.0),
    (6, 6, 2, 16, 16, 6, 0, 0.0),
    (7, 4, 2, 64, 32, 41, 5, 0.0),
    (5, 8, 8, 24, 40, 13, 0, 0.0),
    (3, 2, 1, 128, 128, 100, 0, 20.0),
    (4, 2, 1, 12, 20, 9, 3, 0.0),  # head dims that are not multiples of 8
    (3, 12, 2, 128, 128, 77, 0, 0.0),  # Qwen2.5's head groups of six
    (2, 14, 2, 64, 64, 40, 9, 0.0),  # groups of seven: a group of six and one row
]


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("case", ATTN_CASES)
def test_attention_matches_numpy(isa, case):
    n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap = case
    rng = np.random.default_rng(n_keys)
    q = (rng.standard_normal((n_tok, n_head, hdk)) / np.sqrt(hdk)).astype(np.float32) * 2
    k = rng.standard_normal((n_keys, n_kv, hdk)).astype(np.float32)
    v = rng.standard_normal((n_keys, n_kv, hdv)).astype(np.float32)
    hi0 = n_keys - n_tok + 1
    want = np_attend(q, k, v, hi0, window, softcap)
    got = _core.testing.ops_attend(q, k, v, hi0, window, softcap, 1, 1, isa)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    if isa != "scalar":
        ref = _core.testing.ops_attend(q, k, v, hi0, window, softcap, 1, 1, "scalar")
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)


def attention_inputs(case, seed):
    """Random q (n_tok, n_head, hdk), k and v of an ATTN_CASES case, and the hi0 that lets the
    last token see every key."""
    n_tok, n_head, n_kv, hdk, hdv, n_keys, _, _ = case
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_tok, n_head, hdk)).astype(np.float32)
    k = rng.standard_normal((n_keys, n_kv, hdk)).astype(np.float32)
    v = rng.standard_normal((n_keys, n_kv, hdv)).astype(np.float32)
    return q, k, v, n_keys - n_tok + 1


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("case", ATTN_CASES)
def test_attention_does_not_depend_on_tiling(isa, case):
    n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap = case
    q, k, v, hi0 = attention_inputs(case, seed=1)
    one = _core.testing.ops_attend(q, k, v, hi0, window, softcap, 1, 1, isa)
    group = n_head // n_kv
    for tile_tok, tile_heads in [(n_tok, group), (3, group), (4, max(1, group // 2)), (2, 1)]:
        got = _core.testing.ops_attend(q, k, v, hi0, window, softcap, tile_tok, tile_heads, isa)
        np.testing.assert_array_equal(got, one)
    # the last token alone, as in decoding
    last = _core.testing.ops_attend(q[-1:], k, v, hi0 + n_tok - 1, window, softcap, 1, group, isa)
    np.testing.assert_array_equal(last[0], one[-1])


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("case", [c for c in ATTN_CASES if c[6] == 0])
def test_attention_key_cap_gives_every_token_the_same_keys(isa, case):
    # key_cap (attn_tile.n_keys): token t sees keys [0, min(hi0 + t, key_cap)), a chunk of
    # keys every token of a prefill tile sees whole; each row equals that token alone.
    n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap = case
    q, k, v, _ = attention_inputs(case, seed=4)
    group = n_head // n_kv
    hi0 = max(1, n_keys - n_tok - 3)
    cap = min(n_keys, hi0 + n_tok // 2)
    got = _core.testing.ops_attend(q, k, v, hi0, window, softcap, n_tok, group, isa, key_cap=cap)
    for t in range(n_tok):
        hi = min(hi0 + t, cap)
        alone = _core.testing.ops_attend(q[t:t + 1], k, v, hi, window, softcap, 1, group, isa)
        np.testing.assert_array_equal(got[t], alone[0])
        np.testing.assert_allclose(got[t], np_attend(q[t:t + 1], k[:hi], v[:hi], hi, window, softcap)[0],
                                   rtol=0, atol=2e-5)


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("case", ATTN_CASES)
def test_attention_reads_f16_keys_and_values_as_their_float_values(isa, case):
    # F16 keys and values (an F16 KV cache read in place) give exactly what float32 keys
    # and values holding the same numbers give: the conversion is exact, the rest the same.
    n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap = case
    q, k, v, hi0 = attention_inputs(case, seed=2)
    k16, v16 = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    group = n_head // n_kv
    for tile_tok, tile_heads in [(1, 1), (n_tok, group)]:
        want = _core.testing.ops_attend(q, k16, v16, hi0, window, softcap, tile_tok, tile_heads, isa)
        got = _core.testing.ops_attend(q, k, v, hi0, window, softcap, tile_tok, tile_heads, isa, kv_f16=True)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, np_attend(q, k16, v16, hi0, window, softcap), rtol=0, atol=1e-5)


Q8_ATTN_CASES = [c for c in ATTN_CASES if c[3] % 32 == 0 and c[4] % 32 == 0] + [
    (1, 4, 2, 64, 64, 300, 0, 0.0),  # decoding over a long cache
    (1, 8, 1, 32, 32, 70, 16, 0.0),  # a sliding window
]


def q8_0_values(x):
    """What a Q8_0 cache holds for x: gguf's reference quantizer, dequantized."""
    from gguf import GGMLQuantizationType, quants

    flat = x.reshape(-1, 32)
    t = GGMLQuantizationType.Q8_0
    return quants.dequantize(quants.quantize(flat, t), t).reshape(x.shape).astype(np.float32)


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("case", Q8_ATTN_CASES)
def test_attention_reads_q8_0_keys_and_values_as_their_dequantized_values(isa, case):
    # A Q8_0 KV cache read in place (quants times the block scale as they are loaded) gives
    # exactly what its dequantized float32 rows give.
    n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap = case
    q, k, v, hi0 = attention_inputs(case, seed=3)
    k8, v8 = q8_0_values(k), q8_0_values(v)
    group = n_head // n_kv
    for tile_tok, tile_heads in [(1, 1), (n_tok, group)]:
        want = _core.testing.ops_attend(q, k8, v8, hi0, window, softcap, tile_tok, tile_heads, isa)
        got = _core.testing.ops_attend(q, k, v, hi0, window, softcap, tile_tok, tile_heads, isa, kv_q8=True)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, np_attend(q, k8, v8, hi0, window, softcap), rtol=0, atol=1e-5)


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
def test_attention_reads_q8_0_blocks_with_subnormal_scales_as_dequantized(isa):
    # Blocks of tiny values get scales that are subnormal halves (below 2**-14): the in-place
    # read converts each block's scale once, and must convert these exactly too.
    case = (1, 6, 2, 128, 128, 90, 0, 0.0)
    q, k, v, hi0 = attention_inputs(case, seed=5)
    k[::3] *= np.float32(2.0**-14)  # every third key's blocks: scales of about 2**-20
    v[1::4, :, 32:64] *= np.float32(2.0**-16)  # one block of every fourth value
    k8, v8 = q8_0_values(k), q8_0_values(v)
    d = np.frombuffer((np.abs(v8[1::4, :, 32:64]).max(axis=-1) / 127).astype(np.float16).tobytes(), np.uint16)
    assert (((d & 0x7C00) == 0) & (d != 0)).any()  # some scales are subnormal indeed
    want = _core.testing.ops_attend(q, k8, v8, hi0, 0, 0.0, 1, 3, isa)
    got = _core.testing.ops_attend(q, k, v, hi0, 0, 0.0, 1, 3, isa, kv_q8=True)
    np.testing.assert_array_equal(got, want)


def test_attention_rejects_bad_shapes():
    q = np.zeros((2, 4, 8), np.float32)
    k = np.zeros((5, 2, 8), np.float32)
    with pytest.raises(ValueError, match="keys out of range"):
        _core.testing.ops_attend(q, k, k, 5, 0, 0.0)
    with pytest.raises(ValueError, match="inconsistent"):
        _core.testing.ops_attend(q, np.zeros((5, 3, 8), np.float32), k, 4, 0, 0.0)


def np_attend_sinks(q, k, v, hi0, window, sinks):
    """np_attend with one more logit per head, sinks[h], in the softmax's denominator (gpt-oss)."""
    n_tok, n_head, _ = q.shape
    group = n_head // k.shape[1]
    out = np.zeros((n_tok, n_head, v.shape[2]))
    for t in range(n_tok):
        hi = hi0 + t
        lo = max(0, hi - window) if window else 0
        for h in range(n_head):
            s = k[lo:hi, h // group].astype(np.float64) @ q[t, h]
            mx = max(s.max(), sinks[h])
            p = np.exp(s - mx)
            out[t, h] = p @ v[lo:hi, h // group] / (p.sum() + np.exp(sinks[h] - mx))
    return out


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("case", [c for c in ATTN_CASES if not c[7]])
def test_attention_with_sinks_matches_numpy_and_tiles_alike(isa, case):
    n_tok, n_head, n_kv, hdk, hdv, n_keys, window, _ = case
    q, k, v, hi0 = attention_inputs(case, seed=3)
    q = q / np.float32(np.sqrt(hdk))
    # sinks from far below to far above the scores: the weights of the keys shrink accordingly
    sinks = np.linspace(-20, 6, n_head).astype(np.float32)
    want = np_attend_sinks(q, k, v, hi0, window, sinks)
    one = _core.testing.ops_attend(q, k, v, hi0, window, 0.0, 1, 1, isa, sinks=sinks)
    np.testing.assert_allclose(one, want, rtol=0, atol=2e-6)
    group = n_head // n_kv
    for tile_tok, tile_heads in [(n_tok, group), (3, max(1, group // 2))]:
        got = _core.testing.ops_attend(q, k, v, hi0, window, 0.0, tile_tok, tile_heads, isa, sinks=sinks)
        np.testing.assert_array_equal(got, one)
    got = _core.testing.ops_attend(q, k, v, hi0, window, 0.0, n_tok, group, isa, kv_f16=True, sinks=sinks)
    k16, v16 = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(got, np_attend_sinks(q, k16, v16, hi0, window, sinks), rtol=0, atol=2e-6)
    if hdk % 32 == 0 and hdv % 32 == 0:  # a Q8_0 cache read in place: as its dequantized rows
        got = _core.testing.ops_attend(q, k, v, hi0, window, 0.0, n_tok, group, isa, kv_q8=True, sinks=sinks)
        k8, v8 = q8_0_values(k), q8_0_values(v)
        want = _core.testing.ops_attend(q, k8, v8, hi0, window, 0.0, n_tok, group, isa, sinks=sinks)
        np.testing.assert_array_equal(got, want)
    # a sink far below every score changes nothing
    none = _core.testing.ops_attend(q, k, v, hi0, window, 0.0, 1, 1, isa)
    low = _core.testing.ops_attend(q, k, v, hi0, window, 0.0, 1, 1, isa, sinks=np.full(n_head, -1e4, np.float32))
    np.testing.assert_array_equal(low, none)


@pytest.mark.parametrize("rows", [True, False])
def test_rope_yarn_angles_follow_ggml(rows):
    """YaRN (ggml's rope_yarn, ext_factor 1): pair i's angle mixes the interpolated and the
    extrapolated one by 1 - clamp((i - lo) / (hi - lo)), lo and hi from
    ggml_rope_yarn_corr_dims."""
    n_rot, base, factor, orig, pos0, n = 16, 1000.0, 4.0, 256, 3.0, 5

    def corr(beta):
        return n_rot * np.log(orig / (beta * 2 * np.pi)) / (2 * np.log(base))

    lo, hi = max(0.0, np.floor(corr(32.0))), min(n_rot - 1.0, np.ceil(corr(1.0)))
    assert (lo, hi) == (0.0, 5.0)  # the ramp crosses the table: some pairs of each kind
    i = np.arange(n_rot // 2)
    mix = 1 - np.clip((i - lo) / max(0.001, hi - lo), 0, 1)
    inv = base ** (-2.0 * i / n_rot)
    theta = (pos0 + np.arange(n))[:, None] * inv * ((1 - mix) / factor + mix)
    got = _core.testing.ops_rope_cache(n_rot, base, 1 / factor, pos0, n, rows, yarn_n_ctx_orig=orig)
    np.testing.assert_allclose(got[:, 0::2], np.cos(theta), rtol=0, atol=2e-6)
    np.testing.assert_allclose(got[:, 1::2], np.sin(theta), rtol=0, atol=2e-6)
    plain = _core.testing.ops_rope_cache(n_rot, base, 1 / factor, pos0, n, rows)
    assert not np.allclose(plain, got)


def test_swiglu_oai_clamps_as_ggml():
    gate = np.array([-30, -8, -1, 0, 0.5, 6.9, 7, 7.5, 100], np.float32)
    up = np.array([-9, -7, -0.5, 3, 2, 8, 1, -20, 0.25], np.float32)
    x, y = np.minimum(gate, 7), np.clip(up, -7, 7)
    want = x / (1 + np.exp(-1.702 * x)) * (y + 1)
    np.testing.assert_allclose(_core.testing.ops_act_mul("swiglu_oai", gate, up, "scalar"), want, rtol=1e-6, atol=1e-7)

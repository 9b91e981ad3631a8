"""Dot kernels: every SIMD kernel against its scalar reference, and both against float64.

Weights are random block bytes (every bit pattern a file may hold, with finite scale
fields); activations go through the same conversion matmul uses. Three checks:

* exact: scale fields set to 1.0 make every block's contribution an integer; when the
  sum of their magnitudes is below 2**24 every float32 partial sum is exact in any
  order, so SIMD and scalar must agree bit for bit. This pins down the integer dot
  products (nibble/bit unpacking, scale unpacking, maddubs ranges).
* close: with random scales, kernels differ only in float32 summation order. For a
  row of nb blocks each result is within (nb + 3) * 2**-24 * S of the exact value,
  where S bounds the magnitudes of the summed terms; S <= 4 * sum|w_i x_i| for these
  random blocks (the min/offset parts at most triple a term), so we allow
  4 * (nb + 8) * 2**-24 * sum|w_i x_i|. One wrong element moves a result by about
  sum|w_i x_i| / n, orders of magnitude more.
* the float64 oracle (gguf.quants dequantization) checks the scalar reference itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import quants as gq

from pyggml import _core

ALL_TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL",
             "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS",
             "TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0",
             "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]
# (block elements, block bytes, byte offsets of fp16 scale fields)
LAYOUT = {
    "Q4_0": (32, 18, [0]), "Q4_1": (32, 20, [0, 2]), "Q5_0": (32, 22, [0]), "Q5_1": (32, 24, [0, 2]),
    "Q8_0": (32, 34, [0]), "IQ4_NL": (32, 18, [0]), "Q2_K": (256, 84, [80, 82]),
    "Q3_K": (256, 110, [108]), "Q4_K": (256, 144, [0, 2]), "Q5_K": (256, 176, [0, 2]),
    "Q6_K": (256, 210, [208]), "IQ4_XS": (256, 136, [0]),
    "TQ1_0": (256, 54, [52]), "TQ2_0": (256, 66, [64]), "MXFP4": (32, 17, []), "NVFP4": (64, 36, []),
    "Q1_0": (128, 18, [0]),
    "IQ2_XXS": (256, 66, [0]), "IQ2_XS": (256, 74, [0]), "IQ2_S": (256, 82, [0]), "IQ3_XXS": (256, 98, [0]),
    "IQ3_S": (256, 110, [0]), "IQ1_S": (256, 50, [0]), "IQ1_M": (256, 56, []),
}
IQ1_M_SCALES = 48  # byte offset of IQ1_M's four scale words, whose top nibbles hold its fp16 scale
# 8-bit scale fields (byte offsets): E8M0 (MXFP4, 2^(e - 128)) and UE4M3 (NVFP4, halved)
# codes, with the code of 1.0 for unit scales.
BYTE_SCALES = {"MXFP4": ([0], 128, (120, 133)), "NVFP4": ([0, 1, 2, 3], 0x40, (0x20, 0x50))}
SIMD = [isa for isa in ("avx2", "neon", "dotprod") if _core.testing.has_vec_dot_isa(int(QT.Q4_0), isa)]
U = 2.0 ** -24


def type_id(name):
    return int(QT[name])


def block_size(name):
    return LAYOUT[name][0] if name in LAYOUT else 1


def random_weights(rng, name, n_rows, n_cols, unit_scales=False):
    """(n_rows, row_bytes) uint8 of random blocks with finite fp16 scales."""
    if name == "F32":
        return rng.standard_normal((n_rows, n_cols), dtype=np.float32).view(np.uint8)
    if name == "F16":
        return rng.standard_normal((n_rows, n_cols)).astype(np.float16).view(np.uint8)
    if name == "BF16":
        f = rng.standard_normal((n_rows, n_cols)).astype(np.float32)
        return (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    bs, nbytes, fields = LAYOUT[name]
    nb = n_cols // bs
    w = rng.integers(0, 256, size=(n_rows, nb, nbytes), dtype=np.uint8)
    for off in fields:
        if unit_scales:
            val = np.ones((n_rows, nb), dtype=np.float16)
        else:
            val = (rng.uniform(0.5, 2.0, (n_rows, nb)) * 2.0 ** rng.integers(-8, -2, (n_rows, nb))).astype(np.float16)
        w[:, :, off:off + 2] = val.view(np.uint8).reshape(n_rows, nb, 2)
    if name == "IQ1_M":
        val = np.ones((n_rows, nb), np.float16) if unit_scales else (
            rng.uniform(0.5, 2.0, (n_rows, nb)) * 2.0 ** rng.integers(-8, -2, (n_rows, nb))).astype(np.float16)
        h = val.view(np.uint16).astype(np.uint16)
        words = w[:, :, IQ1_M_SCALES:IQ1_M_SCALES + 8].copy().view(np.uint16)
        for k in range(4):
            words[:, :, k] = (words[:, :, k] & 0x0FFF) | (((h >> (4 * k)) & 0xF) << 12)
        w[:, :, IQ1_M_SCALES:IQ1_M_SCALES + 8] = words.view(np.uint8)
    if name in BYTE_SCALES:
        offsets, unit, (lo, hi) = BYTE_SCALES[name]
        for off in offsets:
            w[:, :, off] = unit if unit_scales else rng.integers(lo, hi, (n_rows, nb))
    return w.reshape(n_rows, nb * nbytes)


def dequantize_q1_0(w):
    """Q1_0 from its layout (gguf.quants has no Q1_0): fp16 d, 128 sign bits."""
    b = w.reshape(w.shape[0], -1, 18)
    d = b[:, :, :2].copy().view(np.float16).astype(np.float64)
    bits = np.unpackbits(b[:, :, 2:], axis=-1, bitorder="little").astype(bool)
    return np.where(bits, d, -d).reshape(w.shape[0], -1)


def dequantize_weights(name, w, n_cols):
    if name == "F32":
        return w.view(np.float32).astype(np.float64)
    if name == "F16":
        return w.view(np.float16).astype(np.float64)
    if name == "BF16":
        return (w.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if name == "Q1_0":
        return dequantize_q1_0(w)
    return gq.dequantize(w, QT[name]).reshape(w.shape[0], n_cols).astype(np.float64)


def dequantize_activations(dot_type, a, n_cols):
    n = a.shape[0]
    if dot_type in ("F32", "F16", "BF16"):
        return dequantize_weights(dot_type, a, n_cols)
    if dot_type == "Q8_0":
        return gq.dequantize(a, QT.Q8_0).reshape(n, n_cols).astype(np.float64)
    if dot_type == "Q8_1":  # d (f16), s (f16), 32 int8
        b = a.reshape(n, -1, 36)
        d = b[:, :, 0:2].copy().view(np.float16).astype(np.float64)
        return (d * b[:, :, 4:].view(np.int8)).reshape(n, n_cols)
    if dot_type == "Q8_K":  # d (f32), 256 int8, 16 int16
        b = a.reshape(n, -1, 292)
        d = b[:, :, 0:4].copy().view(np.float32).astype(np.float64)
        return (d * b[:, :, 4:260].view(np.int8)).reshape(n, n_cols)
    raise AssertionError(dot_type)


def q8_1_sum_correction(w, a, n_cols):
    """Q4_1/Q5_1 use the activation block's stored s = fp16(d * sum(q)) for the min term;
    return sum over blocks of m * (s - d * sum(q)) so the oracle uses the same s."""
    nb = n_cols // 32
    m = w.reshape(w.shape[0], nb, -1)[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float64)
    b = a.reshape(a.shape[0], nb, 36)
    d = b[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float64)
    s = b[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float64)
    err = s - d * b[:, :, 4:].view(np.int8).astype(np.float64).sum(-1)
    return err @ m.T


def dot_type_name(name):
    return QT(_core.testing.vec_dot_type(type_id(name))).name


def make_case(rng, name, n_rows, n_tokens, n_blocks):
    n_cols = n_blocks * (256 if dot_type_name(name) == "Q8_K" else max(32, block_size(name)))
    if name in ("F32", "F16", "BF16"):
        n_cols = int(rng.integers(1, 300))
    w = random_weights(rng, name, n_rows, n_cols)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    a = _core.testing.quantize_activations(type_id(name), x)
    return w, a, n_cols


def tolerance(name, w, a, n_cols):
    wd = np.abs(dequantize_weights(name, w, n_cols))
    ad = np.abs(dequantize_activations(dot_type_name(name), a, n_cols))
    nb = max(1, n_cols // 32)
    return 4 * (nb + 8) * U * (ad @ wd.T) + 1e-30


@pytest.mark.parametrize("name", ALL_TYPES)
def test_scalar_reference_matches_float64(name):
    rng = np.random.default_rng(ALL_TYPES.index(name))
    for n_blocks in (1, 3, 8):
        w, a, n_cols = make_case(rng, name, 5, 3, n_blocks)
        got = _core.testing.vec_dot(type_id(name), "scalar", w, a, n_cols)
        want = dequantize_activations(dot_type_name(name), a, n_cols) @ dequantize_weights(name, w, n_cols).T
        if dot_type_name(name) == "Q8_1":
            want += q8_1_sum_correction(w, a, n_cols)
        assert np.all(np.abs(got - want) <= tolerance(name, w, a, n_cols)), name


@pytest.mark.skipif(not SIMD, reason="this CPU runs no SIMD kernels")
@pytest.mark.parametrize("name", ALL_TYPES)
def test_simd_close_to_scalar_random_shapes(name):
    rng = np.random.default_rng(1000 + ALL_TYPES.index(name))
    for _ in range(12):
        n_rows, n_tokens, n_blocks = (int(v) for v in rng.integers(1, 10, 3))
        w, a, n_cols = make_case(rng, name, n_rows, n_tokens, n_blocks)
        ref = _core.testing.vec_dot(type_id(name), "scalar", w, a, n_cols)
        for isa in SIMD:
            got = _core.testing.vec_dot(type_id(name), isa, w, a, n_cols, rows_per_call=int(rng.integers(1, 6)))
            assert np.all(np.abs(got - ref) <= tolerance(name, w, a, n_cols)), (name, isa, n_cols)


@pytest.mark.parametrize("isa", ["avxvnni", "avx512"])
@pytest.mark.parametrize("name", ["F32", "F16", "BF16"])
def test_upper_tier_float_kernels_close_to_scalar(isa, name):
    # The x86 tiers above AVX2 keep its float kernels except where they have their own
    # (BF16 with VDPBF16PS on CPUs with AVX-512 BF16): long rows reach every unrolled step.
    if not _core.testing.has_vec_dot_isa(type_id(name), isa):
        pytest.skip(f"this CPU has no {isa} tier")
    rng = np.random.default_rng(77)
    for n_cols in (1, 31, 32, 64, 100, 128, 129, 1536, 4099):
        n_rows, n_tokens = int(rng.integers(1, 7)), int(rng.integers(1, 6))
        w = random_weights(rng, name, n_rows, n_cols)
        x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
        a = _core.testing.quantize_activations(type_id(name), x)
        ref = _core.testing.vec_dot(type_id(name), "scalar", w, a, n_cols)
        got = _core.testing.vec_dot(type_id(name), isa, w, a, n_cols, rows_per_call=int(rng.integers(1, 6)))
        assert np.all(np.abs(got - ref) <= tolerance(name, w, a, n_cols)), (name, isa, n_cols)


def test_q1_0_avx512_kernel_equals_avx2():
    # The AVX-512 tier's Q1_0 kernel takes the sign bits as a mask; its integer sums are exact
    # and its float steps the AVX2 kernel's, so the two agree bit for bit, for every row
    # grouping and token count, at the extremes too (every bit set or clear, quants -127/127).
    if not _core.testing.has_vec_dot_isa(type_id("Q1_0"), "avx512"):
        pytest.skip("this CPU has no avx512 tier")
    rng = np.random.default_rng(79)
    for n_cols in (128, 384, 1536):
        for n_tokens in (1, 2, 3, 4):
            n_rows = int(rng.integers(1, 11))
            w = random_weights(rng, "Q1_0", n_rows, n_cols)
            blocks = w.reshape(n_rows, -1, 18)
            blocks[0, :, 2:] = 0xFF
            blocks[-1, :, 2:] = 0x00
            x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
            x[0, ::2] = np.abs(x[0]).max()
            a = _core.testing.quantize_activations(type_id("Q1_0"), x)
            ref = _core.testing.vec_dot(type_id("Q1_0"), "scalar", w, a, n_cols)
            want = _core.testing.vec_dot(type_id("Q1_0"), "avx2", w, a, n_cols)
            for rows in (1, 3, n_rows):
                got = _core.testing.vec_dot(type_id("Q1_0"), "avx512", w, a, n_cols, rows_per_call=rows)
                np.testing.assert_array_equal(got, want, err_msg=f"{n_cols} columns, {n_tokens} tokens, {rows} rows")
            assert np.all(np.abs(want - ref) <= tolerance("Q1_0", w, a, n_cols))


@pytest.mark.parametrize("name", ALL_TYPES)
def test_row_grouping_does_not_change_results(name):
    """A kernel called on several rows (matvec passes take rows i, i + q, i + 2q, i + 3q,
    then the rest) gives each row's own result."""
    rng = np.random.default_rng(4000 + ALL_TYPES.index(name))
    for n_tokens in (1, 3):
        w, a, n_cols = make_case(rng, name, 14, n_tokens, 5)
        for isa in ["scalar", *SIMD]:
            one = _core.testing.vec_dot(type_id(name), isa, w, a, n_cols, rows_per_call=1)
            for rows in (2, 3, 7, 11, 14):
                np.testing.assert_array_equal(_core.testing.vec_dot(type_id(name), isa, w, a, n_cols, rows_per_call=rows),
                                              one, err_msg=f"{name} {isa} rows_per_call={rows}")


def unit_scale_activations(rng, dot_type, n_tokens, n_cols):
    """Activations with scale 1.0, full-range int8 quants, half of them zero."""
    q = rng.integers(-127, 128, (n_tokens, n_cols)).astype(np.int8)
    q[rng.random(q.shape) < 0.5] = 0
    if dot_type == "Q8_0":
        b = np.zeros((n_tokens, n_cols // 32, 34), np.uint8)
        b[:, :, 0:2] = np.ones((n_tokens, n_cols // 32), np.float16).view(np.uint8).reshape(n_tokens, -1, 2)
        b[:, :, 2:] = q.reshape(n_tokens, -1, 32).view(np.uint8)
    elif dot_type == "Q8_1":
        b = np.zeros((n_tokens, n_cols // 32, 36), np.uint8)
        qb = q.reshape(n_tokens, -1, 32)
        b[:, :, 0:2] = np.ones(qb.shape[:2], np.float16).view(np.uint8).reshape(*qb.shape[:2], 2)
        b[:, :, 2:4] = qb.sum(-1).astype(np.float16).view(np.uint8).reshape(*qb.shape[:2], 2)
        b[:, :, 4:] = qb.view(np.uint8)
    else:  # Q8_K
        b = np.zeros((n_tokens, n_cols // 256, 292), np.uint8)
        qb = q.reshape(n_tokens, -1, 256)
        b[:, :, 0:4] = np.ones(qb.shape[:2], np.float32).view(np.uint8).reshape(*qb.shape[:2], 4)
        b[:, :, 4:260] = qb.view(np.uint8)
        bsums = qb.reshape(n_tokens, -1, 16, 16).astype(np.int16).sum(-1).astype(np.int16)
        b[:, :, 260:] = bsums.view(np.uint8).reshape(*qb.shape[:2], 32)
    return b.reshape(n_tokens, -1)


QUANTIZED = [t for t in ALL_TYPES if t in LAYOUT]


@pytest.mark.skipif(not SIMD, reason="this CPU runs no SIMD kernels")
@pytest.mark.parametrize("name", QUANTIZED)
def test_simd_integer_dot_bit_exact(name):
    rng = np.random.default_rng(2000 + QUANTIZED.index(name))
    dot_type = dot_type_name(name)
    n_cols = 256 if dot_type == "Q8_K" else max(64, block_size(name))
    w = random_weights(rng, name, 16, n_cols, unit_scales=True)
    a = unit_scale_activations(rng, dot_type, 5, n_cols)
    # Bound on every partial sum: |w| plus the largest min/offset term (63 for k-quant
    # mins, 1 * |s| for Q4_1/Q5_1) bounds each part of each element's product.
    wd = np.abs(dequantize_weights(name, w, n_cols)) + 2 * 63
    ad = np.abs(dequantize_activations(dot_type, a, n_cols))
    assert (ad @ wd.T).max() < 2**24, "test data too large for exact float sums"
    ref = _core.testing.vec_dot(type_id(name), "scalar", w, a, n_cols)
    # integers, or eighths for the types with power-of-two factors (IQ2's 1/8, IQ1's 1/8 shift,
    # NVFP4's halved scales): still exact in float32
    assert np.all(ref * 8 == np.round(ref * 8)), "terms are not multiples of 1/8"
    for isa in SIMD:
        for rows in (1, 2, 16):
            got = _core.testing.vec_dot(type_id(name), isa, w, a, n_cols, rows_per_call=rows)
            np.testing.assert_array_equal(got, ref, err_msg=f"{name} {isa}")


@pytest.mark.skipif(not SIMD, reason="this CPU runs no SIMD kernels")
def test_nvfp4_every_scale_code():
    """The SIMD kernels convert a block's four UE4M3 scales together, without branches: every
    one of the 256 codes (subnormals, 0, the NaN code 0x7F read as zero, bit 7 ignored) gives
    the scalar reference's result. One code per row for all four scales, unit activation
    scales: each row's result is the code's value times an integer, exact in float32."""
    rng = np.random.default_rng(41)
    n_cols = 128
    w = random_weights(rng, "NVFP4", 256, n_cols).reshape(256, -1, 36)
    w[:, :, 0:4] = np.arange(256, dtype=np.uint8)[:, None, None]
    w = w.reshape(256, -1)
    for n_tokens in (1, 3):  # one token: the matvec passes; more: the per-token kernels
        a = unit_scale_activations(rng, "Q8_0", n_tokens, n_cols)
        ref = _core.testing.vec_dot(type_id("NVFP4"), "scalar", w, a, n_cols)
        assert np.all(ref[:, 0] == 0) and np.all(ref[:, 0x7F] == 0) and np.any(ref[:, 0xFF] != 0)
        for isa in SIMD:
            for rows in (1, 3, 256):
                got = _core.testing.vec_dot(type_id("NVFP4"), isa, w, a, n_cols, rows_per_call=rows)
                np.testing.assert_array_equal(got, ref, err_msg=f"{isa} {n_tokens} tokens, {rows} rows a call")


@pytest.mark.parametrize("name", ["Q8_0", "Q4_0"])
def test_extreme_quants_do_not_saturate(name):
    """All quants at their extremes (the vpmaddubsw pair-sum worst case)."""
    bs, nbytes, fields = LAYOUT[name]
    w = np.zeros((1, nbytes), np.uint8)
    w[0, 0:2] = np.array([1.0], np.float16).view(np.uint8)
    w[0, 2:] = 0x80 if name == "Q8_0" else 0x00  # -128 resp. nibble 0 -> -8
    x = np.full((1, bs), -1.0, np.float32)
    a = _core.testing.quantize_activations(type_id(name), x)
    ref = _core.testing.vec_dot(type_id(name), "scalar", w, a, bs)
    for isa in ["best", *SIMD]:
        assert _core.testing.vec_dot(type_id(name), isa, w, a, bs)[0, 0] == ref[0, 0]


def test_dispatch_reports_an_instruction_set():
    feats = _core.testing.cpu_features()
    isa = _core.cpu_isa()
    assert isa in ("avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm", "scalar")
    if feats["avx2"] and feats["fma"] and feats["f16c"] and feats["bmi2"] and not _core.cpu_tier()["requested"]:
        want = "avx512" if feats["avx512"] and feats["avx512_vnni"] else "avxvnni" if feats["avx_vnni"] else "avx2"
        assert isa == want
    for name in ALL_TYPES:
        assert _core.testing.has_vec_dot_isa(type_id(name), "scalar")
        assert _core.testing.has_vec_dot_isa(type_id(name), isa)


def test_dot_types_follow_ggml():
    want = {"F32": "F32", "F16": "F16", "BF16": "BF16", "Q4_0": "Q8_0", "Q4_1": "Q8_1", "Q5_0": "Q8_0",
            "Q5_1": "Q8_1", "Q8_0": "Q8_0", "IQ4_NL": "Q8_0", "Q2_K": "Q8_K", "Q3_K": "Q8_K",
            "Q4_K": "Q8_K", "Q5_K": "Q8_K", "Q6_K": "Q8_K", "IQ4_XS": "Q8_K",
            "TQ1_0": "Q8_K", "TQ2_0": "Q8_K", "MXFP4": "Q8_0", "NVFP4": "Q8_0", "Q1_0": "Q8_0",
            **{t: "Q8_K" for t in ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M")}}
    assert {t: dot_type_name(t) for t in ALL_TYPES} == want


def test_q8_K_activation_quantizer_matches_ggml_rule():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 512)).astype(np.float32)
    x[1, :256] = 0.0  # an all-zero block
    a = _core.testing.quantize_activations(type_id("Q4_K"), x).reshape(2, 2, 292)
    for t in range(2):
        for b in range(2):
            blk = x[t, 256 * b:256 * (b + 1)]
            d = a[t, b, 0:4].copy().view(np.float32)[0]
            q = a[t, b, 4:260].view(np.int8)
            bsums = a[t, b, 260:].copy().view(np.int16)
            if not np.any(blk):
                assert d == 0 and not q.any() and not bsums.any()
                continue
            mx = blk[np.argmax(np.abs(blk))]
            iscale = np.float32(-127.0) / mx
            want = np.minimum(127, np.rint(iscale * blk)).astype(np.int8)
            np.testing.assert_array_equal(q, want)
            np.testing.assert_array_equal(bsums, q.astype(np.int16).reshape(16, 16).sum(-1))
            assert d == np.float32(1.0) / iscale


@pytest.mark.parametrize("isa", ["scalar"] + SIMD)
@pytest.mark.parametrize("name", ["Q4_0", "Q4_1", "Q4_K"])
def test_activation_quants_are_never_minus_128(isa, name):
    """Q8_0, Q8_1 and Q8_K activations lie in -127..127: the ARMv8.0 kernels' int16 pair sums
    (cpp/arch/arm/neon_tier.h, sdot) are exact only while one operand holds no -128."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((8, 512)) * 10.0 ** rng.integers(-3, 4, (8, 1))).astype(np.float32)
    x[0] = -1.0  # every element at the block's (negative) maximum
    x[1] = np.where(np.arange(512) % 2, -1.0000001, 1.0)  # the negative side a hair the larger
    x[2] = np.where(np.arange(512) % 2, -2.9999998, 3.0)  # the positive side a hair the larger
    x[3] = -np.float32(3.4e38) * np.sign(x[3])
    head, block = {"Q4_0": (2, 34), "Q4_1": (4, 36), "Q4_K": (4, 292)}[name]
    a = _core.testing.quantize_activations(type_id(name), x, isa).reshape(8, -1, block)
    q = a[:, :, head:head + (256 if name == "Q4_K" else 32)].view(np.int8)
    assert q.min() >= -127 and q.max() <= 127 and (q == -127).any()


def test_bad_arguments_raise():
    w = np.zeros((2, 18), np.uint8)
    a = np.zeros((1, 34), np.uint8)
    with pytest.raises(ValueError):
        _core.testing.vec_dot(type_id("Q4_0"), "sse9", w, a, 32)
    with pytest.raises(ValueError):
        _core.testing.vec_dot(type_id("Q4_0"), "scalar", w, a, 64)
    with pytest.raises(ValueError):
        _core.testing.vec_dot(type_id("Q4_0"), "scalar", w, np.zeros((1, 36), np.uint8), 32)
    with pytest.raises(ValueError):
        _core.testing.quantize_activations(type_id("Q4_K"), np.zeros((1, 32), np.float32))


@pytest.mark.skipif(not SIMD, reason="this CPU runs no SIMD kernels")
@pytest.mark.parametrize("name", ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q4_K"])
def test_simd_activation_conversion_is_byte_identical(name):
    """Random values, rounding ties (x * id exactly k + 0.5) and all-zero blocks."""
    rng = np.random.default_rng(3000 + ALL_TYPES.index(name))
    x = (rng.standard_normal((6, 512)) * 10.0 ** rng.integers(-3, 3, (6, 1))).astype(np.float32)
    ties = rng.integers(-126, 126, (2, 512)) + 0.5
    ties[0, ::32] = 127.0   # Q8_0/Q8_1: amax 127 -> id = 1
    ties[1, ::256] = -127.0  # Q8_K: max -127 -> iscale = 1
    x[1:3] = ties.astype(np.float32)
    x[3, :256] = 0.0
    want = _core.testing.quantize_activations(type_id(name), x, "scalar")
    for isa in SIMD:
        np.testing.assert_array_equal(_core.testing.quantize_activations(type_id(name), x, isa), want, err_msg=isa)

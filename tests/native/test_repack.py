"""Weights repacked 8 rows at a time (cpp/kernels/repack.h; Q2_K, Q3_K, Q4_K, Q5_K, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K, Q8_0, IQ4_NL,
IQ4_XS and MXFP4): the scalar
reference of the repacked dot equals the plain dot, every x86 tier's kernel (AVX2, AVX-VNNI,
AVX-512) equals the scalar reference bit for bit, for every number of tokens a call takes, and
matmul over a repacked buffer (odd row counts: a plain tail where the type allows one) equals
matmul over the plain one, for 1 and several tokens."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

from support.cpu_tiers import HOST_SIMD_TIERS, tier_params
from test_kernels import random_weights

from pyggml import _core

Q4_K = int(QT.Q4_K)
SIMD_TIERS = tier_params(*HOST_SIMD_TIERS)
TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K", "Q8_0", "IQ4_NL", "IQ4_XS", "MXFP4"]
BLOCK_BYTES = {"Q2_K": 84, "Q3_K": 110, "IQ4_XS": 136, "Q4_K": 144, "Q5_K": 176, "Q4_1": 20, "Q5_1": 24, "Q4_0": 18, "Q5_0": 22, "Q6_K": 210, "Q8_0": 34, "IQ4_NL": 18, "MXFP4": 17}
SCALE_BYTES = {"MXFP4": 1}  # the legacy layouts' scale: fp16 but for MXFP4's E8M0 exponent


def qt(name):
    return int(QT[name])


def test_repack_keeps_every_byte_and_the_plain_tail():
    rng = np.random.default_rng(1)
    w = random_weights(rng, "Q4_K", 19, 512)
    p = _core.testing.repack(w, Q4_K, 512)
    assert p.shape == w.shape
    # tail rows untouched; per group and super-block, the same quant bytes rearranged
    assert np.array_equal(p[16:], w[16:])
    assert not np.array_equal(p[:16], w[:16])
    plain_qs = w[:16].reshape(2, 8, 2, 144)[..., 16:].transpose(0, 2, 1, 3).reshape(2, 2, -1)
    packed_qs = p[:16].reshape(2, 2, 1152)[..., 128:]
    assert np.array_equal(np.sort(packed_qs, axis=-1), np.sort(plain_qs, axis=-1))


@pytest.mark.parametrize("name", ["Q4_0", "Q8_0", "IQ4_NL", "MXFP4"])
def test_legacy_repack_layout(name):
    """Scales of the 8 rows side by side, then 4 quant bytes of each row in turn."""
    rng = np.random.default_rng(11)
    n_cols, nbytes, sb = 96, BLOCK_BYTES[name], SCALE_BYTES.get(name, 2)
    w = random_weights(rng, name, 16, n_cols)
    p = _core.testing.repack(w, qt(name), n_cols).reshape(2, n_cols // 32, 8 * nbytes)
    blocks = w.reshape(2, 8, n_cols // 32, nbytes).transpose(0, 2, 1, 3)  # (group, block, row, bytes)
    assert np.array_equal(p[..., :8 * sb], blocks[..., :sb].reshape(2, -1, 8 * sb))
    quads = blocks[..., sb:].reshape(2, n_cols // 32, 8, -1, 4).transpose(0, 1, 3, 2, 4)
    assert np.array_equal(p[..., 8 * sb:], quads.reshape(2, n_cols // 32, -1))


def test_q5_0_repack_layout():
    """Quants as Q4_0's; qh[4r + b] bit k = row r's fifth bit of element 4k + b."""
    rng = np.random.default_rng(13)
    w = random_weights(rng, "Q5_0", 8, 64)
    p = _core.testing.repack(w, int(QT.Q5_0), 64).reshape(2, 176)
    blocks = w.reshape(8, 2, 22).transpose(1, 0, 2)  # (block, row, bytes)
    assert np.array_equal(p[:, :16], blocks[..., :2].reshape(2, 16))
    quads = blocks[..., 6:].reshape(2, 8, 4, 4).transpose(0, 2, 1, 3)
    assert np.array_equal(p[:, 48:], quads.reshape(2, -1))
    bits = np.unpackbits(blocks[..., 2:6], axis=-1, bitorder="little")  # (block, row, element)
    qh = np.unpackbits(p[:, 16:48].reshape(2, 8, 4), axis=-1, bitorder="little").reshape(2, 8, 4, 8)
    assert np.array_equal(qh, bits.reshape(2, 8, 8, 4).transpose(0, 1, 3, 2))


@pytest.mark.parametrize("name", ["Q4_1", "Q5_1"])
def test_min_repack_layout(name):
    """The 8 rows' scales, then their mins; Q5_1's fifth bits and the nibbles as Q5_0's."""
    rng = np.random.default_rng(19)
    nbytes = BLOCK_BYTES[name]
    w = random_weights(rng, name, 8, 64)
    p = _core.testing.repack(w, qt(name), 64).reshape(2, 8 * nbytes)
    blocks = w.reshape(8, 2, nbytes).transpose(1, 0, 2)  # (block, row, bytes)
    assert np.array_equal(p[:, :16], blocks[..., :2].reshape(2, 16))
    assert np.array_equal(p[:, 16:32], blocks[..., 2:4].reshape(2, 16))
    as_q5_0 = np.concatenate([blocks[..., :2], blocks[..., 4:]], axis=-1)  # Q5_1 less its mins: a Q5_0 block
    twin = "Q5_0" if name == "Q5_1" else "Q4_0"
    ref = _core.testing.repack(np.ascontiguousarray(as_q5_0.transpose(1, 0, 2)).reshape(8, -1), qt(twin), 64)
    assert np.array_equal(p[:, 32:], ref.reshape(2, -1)[:, 16:])


def test_iq4_xs_repack_layout():
    """d of the 8 rows, their scales_l by pairs of sub-blocks, their scales_h, then 4 bytes of
    quants of each row in turn."""
    rng = np.random.default_rng(23)
    w = random_weights(rng, "IQ4_XS", 8, 512)
    p = _core.testing.repack(w, int(QT.IQ4_XS), 512).reshape(2, 1088)
    blocks = w.reshape(8, 2, 136).transpose(1, 0, 2)  # (block, row, bytes)
    assert np.array_equal(p[:, :16], blocks[..., :2].reshape(2, 16))
    assert np.array_equal(p[:, 16:48], blocks[..., 4:8].transpose(0, 2, 1).reshape(2, 32))
    assert np.array_equal(p[:, 48:64], blocks[..., 2:4].reshape(2, 16))
    assert np.array_equal(p[:, 64:], blocks[..., 8:].reshape(2, 8, 32, 4).transpose(0, 2, 1, 3).reshape(2, -1))


def test_q5_K_repack_layout():
    """Scales and nibbles as Q4_K's (the same bytes as a Q4_K group made of the rows without
    their qh); qh[32u + 4r + b] = row r's qh[4u + b]."""
    rng = np.random.default_rng(17)
    w = random_weights(rng, "Q5_K", 16, 512)
    p = _core.testing.repack(w, int(QT.Q5_K), 512).reshape(2, 2, 1408)
    blocks = w.reshape(16, 2, 176)
    as_q4 = np.concatenate([blocks[..., :16], blocks[..., 48:]], axis=-1).reshape(16, -1)
    q4 = _core.testing.repack(np.ascontiguousarray(as_q4), Q4_K, 512).reshape(2, 2, 1152)
    assert np.array_equal(p[..., :128], q4[..., :128])  # d, dmin, scales
    assert np.array_equal(p[..., 384:], q4[..., 128:])  # nibbles
    qh = blocks[..., 16:48].reshape(2, 8, 2, 8, 4).transpose(0, 2, 3, 1, 4)  # (group, block, u, row, b)
    assert np.array_equal(p[..., 128:384], qh.reshape(2, 2, 256))


def _q6_K_values(blocks):
    """(..., 210) Q6_K blocks -> (..., 256) six-bit quants 0..63 in element order."""
    ql, qh = blocks[..., :128].astype(np.uint8), blocks[..., 128:192].astype(np.uint8)
    out = []
    for h in range(2):
        lo, hi = ql[..., 64 * h:64 * h + 64], qh[..., 32 * h:32 * h + 32]
        out += [(lo[..., :32] & 15) | (hi & 3) << 4, (lo[..., 32:] & 15) | (hi >> 2 & 3) << 4,
                (lo[..., :32] >> 4) | (hi >> 4 & 3) << 4, (lo[..., 32:] >> 4) | (hi >> 6 & 3) << 4]
    return np.concatenate(out, axis=-1)


def test_q6_K_repack_layout():
    """Scales by pairs of sub-blocks and row; each 16 columns' quants of the 8 rows in three
    vectors, the fourth vector's bits in their top bits."""
    rng = np.random.default_rng(14)
    w = random_weights(rng, "Q6_K", 8, 512)
    p = _core.testing.repack(w, int(QT.Q6_K), 512).reshape(2, 1680)
    blocks = w.reshape(8, 2, 210).transpose(1, 0, 2)  # (block, row, bytes)
    assert np.array_equal(p[:, :16], blocks[..., 208:].reshape(2, 16))
    scales = blocks[..., 192:208].reshape(2, 8, 8, 2).transpose(0, 2, 1, 3)  # (block, pair, row, 2)
    assert np.array_equal(p[:, 16:144], scales.reshape(2, 128))
    v = _q6_K_values(blocks).reshape(2, 8, 16, 4, 4).transpose(0, 2, 3, 1, 4)  # (block, set, vector, row, byte)
    qs = p[:, 144:].reshape(2, 16, 3, 32)
    assert np.array_equal(qs & 63, v[:, :, :3].reshape(2, 16, 3, 32))
    v3 = (qs[:, :, 0] >> 6) | (qs[:, :, 1] >> 6) << 2 | (qs[:, :, 2] >> 6) << 4
    assert np.array_equal(v3, v[:, :, 3].reshape(2, 16, 32))


def _q3_K_plain(blocks):
    """(..., 110) Q3_K blocks -> (..., 256) quants 0..7 (the value plus 4) in element order and
    (..., 16) six-bit scales 0..63."""
    hmask, qs, sc = blocks[..., :32], blocks[..., 32:96], blocks[..., 96:108].astype(np.int32)
    e = np.arange(256)
    lo = (qs[..., 32 * (e // 128) + e % 32] >> (2 * ((e % 128) // 32))) & 3
    hi = (hmask[..., e % 32] >> (e // 32)) & 1
    j = np.arange(16)
    low4 = np.where(j < 8, sc[..., j % 8] & 15, sc[..., j % 8] >> 4)
    top2 = (sc[..., 8 + j % 4] >> (2 * (j // 4))) & 3
    return lo | hi << 2, low4 | top2 << 4


def test_q3_K_repack_layout():
    """d of the 8 rows; each scale's low 4 bits and top 2 bits by pair of sub-blocks and row
    (block_q3_Kx8); per 16 columns the low 2 bits of 4 quant vectors in one 32-byte vector, per 32
    columns the third bits in another."""
    rng = np.random.default_rng(29)
    w = random_weights(rng, "Q3_K", 8, 512)
    p = _core.testing.repack(w, int(QT.Q3_K), 512).reshape(2, 880)
    blocks = w.reshape(8, 2, 110).transpose(1, 0, 2)  # (block, row, bytes)
    q, sc = _q3_K_plain(blocks)  # (block, row, 256), (block, row, 16)
    assert np.array_equal(p[:, :16], blocks[..., 108:].reshape(2, 16))
    jj, rr = np.meshgrid(np.arange(16), np.arange(8), indexing="ij")  # (sub-block, row)
    pair, h = jj // 2, jj % 2
    lo = p[:, 16:80][:, 16 * (pair % 4) + 2 * rr + h] >> (4 * (pair // 4)) & 15
    hi = p[:, 80:112][:, 16 * (pair % 2) + 2 * rr + h] >> (2 * (pair // 2)) & 3
    assert np.array_equal(lo | hi << 4, sc.transpose(0, 2, 1))
    e = np.arange(256)
    c, u, b = e // 16, (e % 16) // 4, e % 4
    r = np.arange(8)[:, None]
    low2 = p[:, 368:][:, 32 * c + 4 * r + b] >> (2 * u) & 3  # (block, row, element)
    bit3 = p[:, 112:368][:, 32 * (c // 2) + 4 * r + b] >> (4 * (c % 2) + u) & 1
    assert np.array_equal(low2 | bit3 << 2, q)


def test_q2_K_repack_layout():
    """d and dmin of the 8 rows; the scale bytes by pair of sub-blocks and row (block_q6_Kx8's
    order); the quants as block_q3_Kx8's low bits."""
    rng = np.random.default_rng(37)
    w = random_weights(rng, "Q2_K", 8, 512)
    p = _core.testing.repack(w, int(QT.Q2_K), 512).reshape(2, 672)
    blocks = w.reshape(8, 2, 84).transpose(1, 0, 2)  # (block, row, bytes)
    assert np.array_equal(p[:, :16], blocks[..., 80:82].reshape(2, 16))
    assert np.array_equal(p[:, 16:32], blocks[..., 82:84].reshape(2, 16))
    scales = blocks[..., :16].reshape(2, 8, 8, 2).transpose(0, 2, 1, 3)  # (block, pair, row, 2)
    assert np.array_equal(p[:, 32:160], scales.reshape(2, 128))
    e = np.arange(256)
    want = (blocks[..., 16:80][..., 32 * (e // 128) + e % 32] >> (2 * ((e % 128) // 32))) & 3
    c, u, b = e // 16, (e % 16) // 4, e % 4
    r = np.arange(8)[:, None]
    assert np.array_equal(p[:, 160:][:, 32 * c + 4 * r + b] >> (2 * u) & 3, want)


def test_repacked_q4_0_activations_carry_block_sums():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 320)).astype(np.float32)
    act = _core.testing.repacked_activations(qt("Q4_0"), x).reshape(3, 10, 36)
    q8 = _core.testing.quantize_activations(qt("Q4_0"), x).reshape(3, 10, 34)
    assert np.array_equal(act[..., :2], q8[..., :2])
    assert np.array_equal(act[..., 4:], q8[..., 2:])
    sums = act[..., 2:4].copy().view(np.int16)[..., 0]
    assert np.array_equal(sums, q8[..., 2:].view(np.int8).sum(-1, dtype=np.int64))


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("n_tokens", [1, 3, 6])
def test_repacked_reference_equals_plain_dot(name, n_tokens):
    rng = np.random.default_rng(2)
    n_rows, n_cols = 24, 768
    w = random_weights(rng, name, n_rows, n_cols)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    plain = _core.testing.vec_dot(qt(name), "scalar", w, _core.testing.quantize_activations(qt(name), x), n_cols)
    act = _core.testing.repacked_activations(qt(name), x)
    packed = _core.testing.vec_dot_repacked("scalar", qt(name), _core.testing.repack(w, qt(name), n_cols), act, n_cols)
    np.testing.assert_allclose(packed, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


@pytest.mark.parametrize("tier", SIMD_TIERS)
@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("n_rows", [32, 48, 56])  # one token reads 4 groups at once, then 2 or 3
def test_repacked_kernel_equals_reference(tier, name, n_rows):
    """Every number of tokens a call takes, 1 to the tier's most (1: the memory-bound pass)."""
    rng = np.random.default_rng(3)
    n_cols = 1024
    w = random_weights(rng, name, n_rows, n_cols)
    max_nt = _core.testing.repacked_max_tokens(tier)
    x = rng.standard_normal((max_nt + 3, n_cols)).astype(np.float32)
    act = _core.testing.repacked_activations(qt(name), x)
    p = _core.testing.repack(w, qt(name), n_cols)
    ref = _core.testing.vec_dot_repacked("scalar", qt(name), p, act, n_cols)
    for nt in range(1, max_nt + 1):
        got = _core.testing.vec_dot_repacked(tier, qt(name), p, act, n_cols, tokens_per_call=nt)
        assert np.array_equal(got, ref), (tier, name, nt)


def _extreme(name, w):
    """Weights at the kernels' integer bounds: Q2_K quants 3 with scales and mins 15, Q3_K quants 7 with scales -32 and 31, Q4_K/Q4_0/Q4_1 nibbles 15 (Q5_0/Q5_1 quants 31) (Q4_K scales and
    mins 63; Q5_K the same with the fifth bits set: quants 31), Q6_K quants 63 with scales -128 and 127, Q8_0 quants -128 (two neighbours at a time: with
    activations -127 a pair's products sum to 32512, the bound of int16 sums of neighbouring products) and 127."""
    if name in ("Q4_K", "Q5_K"):
        blocks = w.reshape(w.shape[0], -1, BLOCK_BYTES[name])
        blocks[:, :, 4:] = 0xFF
    elif name == "Q2_K":
        w.reshape(w.shape[0], -1, 84)[:, :, :80] = 0xFF  # quants 3, scales and mins 15
    elif name == "Q3_K":
        blocks = w.reshape(w.shape[0], -1, 110)
        blocks[:, :, :96] = 0xFF  # quants 7 (the value 3 plus 4)
        blocks[:, :, 96:108] = np.where(np.arange(w.shape[0]) % 2, 0xFF, 0x00)[:, None, None]  # scales 31, -32
    elif name == "Q6_K":
        blocks = w.reshape(w.shape[0], -1, 210)
        blocks[:, :, :192] = 0xFF  # quants 63
        blocks[:, :, 192:208] = np.where(np.arange(16) % 2, 0x80, 0x7F).astype(np.uint8)  # scales -128, 127
    elif name in ("Q4_0", "Q5_0"):
        w.reshape(w.shape[0], -1, BLOCK_BYTES[name])[:, :, 2:] = 0xFF  # Q5_0: fifth bits set too
    elif name in ("Q4_1", "Q5_1"):
        w.reshape(w.shape[0], -1, BLOCK_BYTES[name])[:, :, 4:] = 0xFF  # nibbles 15, Q5_1's fifth bits set
    elif name == "IQ4_XS":  # nibbles 0 (-127) and 15 (113), scales 0 (-32) and 63 (31)
        blocks = w.reshape(w.shape[0], -1, 136)
        blocks[:, :, 8:] = np.where(np.arange(128) % 5 == 0, 0xF0, 0x00).astype(np.uint8)
        blocks[:, :, 2:4] = 0xFF
        blocks[:, ::2, 2:8] = 0x00
        blocks[:, 1::2, 4:8] = 0xFF
    elif name == "IQ4_NL":  # nibble 0: the grid's -127, mixed with 15: 113
        w.reshape(w.shape[0], -1, 18)[:, :, 2:] = np.where(np.arange(16) % 5 == 0, 0xF0, 0x00).astype(np.uint8)
    elif name == "MXFP4":  # nibbles 15 (-12) and 7 (+12), exponents 0 and 1 (below float's normal range) among them
        blocks = w.reshape(w.shape[0], -1, 17)
        blocks[:, :, 1:] = np.where(np.arange(16) % 5 == 0, 0x7F, 0xFF).astype(np.uint8)
        blocks[:, ::4, 0] = np.arange(blocks[:, ::4, 0].size).reshape(blocks[:, ::4, 0].shape) % 2
    else:
        q = w.reshape(w.shape[0], -1, 34)[:, :, 2:]
        q[:] = np.where(np.arange(32) // 2 % 3 == 0, 0x80, 0x7F).astype(np.uint8)  # -128 in neighbouring pairs
    return w


@pytest.mark.parametrize("tier", SIMD_TIERS)
@pytest.mark.parametrize("name", TYPES)
def test_repacked_kernel_extreme_values(tier, name):
    """Weights at their bounds and activations -128/127: the int16 sums at their bound."""
    rng = np.random.default_rng(4)
    n_cols = 512
    w = _extreme(name, random_weights(rng, name, 24, n_cols))  # AVX-512: a pair of groups, then one
    x = np.where(rng.random((4, n_cols)) < 0.5, -1.0, 1.0).astype(np.float32)
    x[:, ::3] = -1.0
    x[1] = 1.0  # every activation at its bound (Q8_0 127, Q8_K -128): the largest sums
    x[3] = -1.0
    act = _core.testing.repacked_activations(qt(name), x)
    p = _core.testing.repack(w, qt(name), n_cols)
    ref = _core.testing.vec_dot_repacked("scalar", qt(name), p, act, n_cols)
    for nt in (1, 2, 4):
        got = _core.testing.vec_dot_repacked(tier, qt(name), p, act, n_cols, tokens_per_call=nt)
        assert np.array_equal(got, ref), (tier, name, nt)
    plain = _core.testing.vec_dot(qt(name), "scalar", w, _core.testing.quantize_activations(qt(name), x), n_cols)
    np.testing.assert_allclose(ref, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("n_rows", [8, 13, 67])
@pytest.mark.parametrize("n_tokens", [1, 5])
def test_matmul_repacked_equals_plain(name, n_rows, n_tokens):
    rng = np.random.default_rng(5)
    n_cols = 768
    w = random_weights(rng, name, n_rows, n_cols)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    pool = _core.ThreadPool(2)
    plain = _core.testing.matmul(pool, qt(name), w, n_cols, x)
    layout = _core.testing.repacked_layout(qt(name))
    if not layout:
        pytest.skip("this CPU keeps the file layout")
    if name in ("Q4_0", "Q5_0", "Q8_0", "IQ4_NL", "MXFP4") and n_rows % 8:  # kernels read other activations than the plain tail's
        with pytest.raises(ValueError, match="cannot be repacked"):
            _core.testing.repack(w, qt(name), n_cols)
        return
    packed = _core.testing.matmul(pool, qt(name), _core.testing.repack(w, qt(name), n_cols), n_cols, x, layout=layout)
    np.testing.assert_allclose(packed, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


def test_repack_rejects_bad_shapes():
    w = np.zeros((8, 100), np.uint8)
    with pytest.raises(ValueError):
        _core.testing.repack(w, Q4_K, 256)
    with pytest.raises(ValueError, match="no repacked layout"):
        _core.testing.repack(np.zeros((8, 66), np.uint8), int(QT.TQ2_0), 256)
    with pytest.raises(ValueError):
        _core.testing.vec_dot_repacked("scalar", Q4_K, np.zeros((5, 144), np.uint8), np.zeros((1, 292), np.uint8), 256)
    with pytest.raises(ValueError, match="does not fit"):
        _core.testing.matmul(_core.ThreadPool(1), int(QT.TQ2_0), np.zeros((8, 66), np.uint8), 256,
                     np.zeros((1, 256), np.float32), layout=1)
    with pytest.raises(ValueError, match="does not fit"):
        _core.testing.matmul(_core.ThreadPool(1), int(QT.Q4_0), np.zeros((9, 18), np.uint8), 32,
                     np.zeros((1, 32), np.float32), layout=2)


def _rel_diff(got, ref):
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


@pytest.mark.parametrize("wtype", TYPES)
def test_model_logits_with_and_without_repack(tmp_path, wtype):
    """One token goes through the same integer sums either way (floats differ by rounding);
    over a batch the file layout uses other kernels than for one token, whose rounding
    can flip the int8 rounding of later activations, so only the tolerance of the fast
    path against the reference (test_model.py) applies there."""
    from support.synthetic_models import make_model

    from pyggml import Model

    path = tmp_path / f"{wtype}.gguf"
    hp = make_model("gemma3", path, wtype=wtype, seed=8)
    toks = np.random.default_rng(9).integers(0, hp["n_vocab"], size=12)
    plain = Model.load(path, n_ctx=32, n_threads=2, repack=False)
    packed = Model.load(path, n_ctx=32, n_threads=2)
    assert plain._native.repacked_bytes == 0
    assert (packed._native.repacked_bytes > 0) == _core.testing.repack_preferred()
    assert _rel_diff(packed.eval(toks[:1]), plain.eval(toks[:1])) <= 1e-5
    plain.reset()
    packed.reset()
    want = plain.eval(toks, all_logits=True)
    got = packed.eval(toks, all_logits=True)
    assert _rel_diff(got, want) <= 3e-2
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.8
    # the repacked kernels give a batch exactly what they give token by token
    packed.reset()
    one_by_one = np.stack([packed.eval([t]).reshape(-1) for t in toks])
    assert np.array_equal(one_by_one, got) or not _core.testing.repack_preferred()


def test_model_holds_plain_matrices_in_huge_page_buffer(tmp_path):
    """TQ2_0 has no repacked layout: where the weight buffer takes huge pages its matrices
    are copied there as they are (and the logits do not change); elsewhere they stay in
    the mapped file."""
    from support.synthetic_models import make_model

    from pyggml import Model

    path = tmp_path / "tq2_0.gguf"
    hp = make_model("qwen2", path, wtype="TQ2_0", seed=4)
    toks = np.random.default_rng(5).integers(0, hp["n_vocab"], size=6)
    mapped = Model.load(path, n_ctx=16, n_threads=2, repack=False)
    held = Model.load(path, n_ctx=16, n_threads=2)
    assert mapped._native.copied_bytes == 0
    assert held._native.repacked_bytes == 0
    assert (held._native.copied_bytes > 0) == _core.testing.weight_buffer_huge_pages()
    assert np.array_equal(held.eval(toks, all_logits=True), mapped.eval(toks, all_logits=True))


@pytest.mark.real_model
def test_real_qwen_logits_with_and_without_repack(qwen_path):
    from pyggml import Model

    toks = np.random.default_rng(3).integers(1000, 20000, size=9)
    packed = Model.load(qwen_path, n_ctx=64, n_threads=2)
    plain = Model.load(qwen_path, n_ctx=64, n_threads=2, repack=False)
    assert _rel_diff(packed.eval(toks[:1]), plain.eval(toks[:1])) <= 1e-4
    packed.reset()
    plain.reset()
    got, want = packed.eval(toks, all_logits=True), plain.eval(toks, all_logits=True)
    assert _rel_diff(got, want) <= 3e-2
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.75  # random tokens: near ties

"""The load-time weight formats (pyggml.runtime.weight_format): their bytes against numpy
references written from the formats' definitions (bitsandbytes' for NF4 / FP4 and the dynamic
map), the code books against bitsandbytes' published values, names and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from pyggml import _core
from pyggml.errors import ArgumentError
from pyggml.runtime.weight_format import FORMATS, parse_weight_format, valid_names

IDS = {row["name"]: row["id"] for row in _core.runtime_type_table()}
F = np.float32

# bitsandbytes.functional.get_4bit_type (0.50): the values as published, before its division by the absmax.
BNB_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
           -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
           0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
           0.7229568362236023, 1.0]
BNB_FP4 = [0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0]


def code_book(kind):
    v = np.array(BNB_NF4 if kind == "nf4" else BNB_FP4, dtype=F)
    return v / np.abs(v).max()


def linspace_f32(start, end, steps):  # torch.linspace in float32: from both ends
    step = F((F(end) - F(start)) / F(steps - 1))
    return np.array([F(start) + step * F(i) if i < steps // 2 else F(end) - step * F(steps - 1 - i)
                     for i in range(steps)], dtype=F)


def dynamic_map():  # bitsandbytes.functional.create_dynamic_map(signed=True, 7, 8)
    data = []
    for i in range(7):
        b = linspace_f32(0.1, 1.0, 2 ** i + 1)
        means = (b[:-1] + b[1:]) / F(2)
        scale = F(10.0 ** (-6 + i))
        data += list(scale * means) + list(-scale * means)
    data += [F(0), F(1)]
    return np.sort(np.array(data, dtype=F))


def bucketize(v, values):
    """torch.bucketize over the sorted code book's midpoints, then back to codes (stable order)."""
    order = np.argsort(values, kind="stable")
    mid = (values[order[:-1]] + values[order[1:]]) / F(2)
    return order[np.searchsorted(mid, v, side="left")].astype(np.uint8)


def ref_bnb4(x, kind, dq):
    """(n_rows, n) float32 -> the rows' bytes (core/blocks.h layouts)."""
    rows, n = x.shape
    nb = n // 64
    blocks = x.reshape(rows, nb, 64)
    absmax = np.abs(blocks).max(axis=2)
    scaled = np.clip(blocks * (F(1) / np.maximum(absmax, F(1e-38)))[..., None], -1, 1)
    q = bucketize(scaled, code_book(kind)).reshape(rows, nb, 32, 2)
    packed = (q[..., 0] << 4 | q[..., 1]).astype(np.uint8).reshape(rows, nb * 32)
    if not dq:
        out = np.zeros((rows, nb, 36), np.uint8)
        out[:, :, :4] = absmax.astype(F)[..., None].view(np.uint8)
        out[:, :, 4:] = packed.reshape(rows, nb, 32)
        return out.reshape(rows, -1)
    offset = F(absmax.astype(np.float64).mean())
    ng = -(-nb // 256)
    header = 4 + 4 * ng + -(-nb // 4) * 4
    out = np.zeros((rows, header + n // 2), np.uint8)
    dyn = dynamic_map()
    for r in range(rows):
        out[r, :4] = np.array([offset], F).view(np.uint8)
        for g in range(ng):
            v = (absmax[r, g * 256:(g + 1) * 256] - offset).astype(F)
            s2 = F(np.abs(v).max())
            out[r, 4 + 4 * g: 8 + 4 * g] = np.array([s2], F).view(np.uint8)
            codes = bucketize(np.clip(v * (F(1) / max(s2, F(1e-38))), -1, 1), dyn)
            out[r, 4 + 4 * ng + g * 256: 4 + 4 * ng + g * 256 + v.size] = codes
        out[r, header:] = packed[r]
    return out


def ref_int8(x, kind, gran):
    rows, n = x.shape
    g = {"row": n, "tensor": n, "block64": 64}[gran]
    groups = x.reshape(rows, n // g, g)
    if kind == "absmax":
        amax = np.abs(x).max() if gran == "tensor" else np.abs(groups).max(axis=2)
        amax = np.broadcast_to(np.asarray(amax, F), groups.shape[:2])
        d = (amax / F(127)).astype(F)
        inv = np.where(amax > 0, F(127) / np.where(amax > 0, amax, 1), 0).astype(F)
        q = np.clip(np.rint(groups * inv[..., None]), -127, 127).astype(np.int8)
        head = [d[..., None].view(np.uint8)]
    else:
        lo = np.minimum(x.min() if gran == "tensor" else groups.min(axis=2), 0).astype(F)
        hi = np.maximum(x.max() if gran == "tensor" else groups.max(axis=2), 0).astype(F)
        lo, hi = np.broadcast_to(lo, groups.shape[:2]), np.broadcast_to(hi, groups.shape[:2])
        d = ((hi - lo) / F(255)).astype(F)
        inv = (F(1) / d).astype(F)
        z = np.clip(F(-128) - np.rint(lo * inv), -128, 127).astype(np.int32)
        q = np.clip(np.rint(groups * inv[..., None]) + z[..., None], -128, 127).astype(np.int8)
        head = [d[..., None].view(np.uint8), z[..., None].view(np.uint8)]
    parts = head + [q.view(np.uint8)]
    if gran == "block64":
        return np.concatenate(parts, axis=2).reshape(rows, -1)
    return np.concatenate([p.reshape(rows, -1) for p in parts], axis=1)


def weights(rng, rows, n):
    x = rng.standard_normal((rows, n)).astype(F) * F(0.05)
    x[0, :7] = [0.0, 0.5, -0.5, 1e-9, -3.0, 0.25, -0.125]  # ties, tiny values, an outlier
    return x


@pytest.mark.parametrize("kind", ["absmax", "zeropoint"])
@pytest.mark.parametrize("gran", ["row", "tensor", "block64"])
def test_int8_bytes_match_numpy_reference(kind, gran):
    x = weights(np.random.default_rng(1), 6, 192)
    fmt = parse_weight_format(f"int8-{kind}:{gran}")
    got = _core.quantize_weight(fmt.type_id, x, per_tensor=fmt.per_tensor)
    np.testing.assert_array_equal(got, ref_int8(x, kind, gran))
    back = _core.dequantize(fmt.type_id, got.reshape(-1), 6, 192)
    step = np.abs(x).max() / 127 if kind == "absmax" else (x.max() - min(x.min(), 0)) / 255
    assert np.abs(back - x).max() <= 0.5 * step * 1.001  # round to nearest: half a step at most


@pytest.mark.parametrize("kind", ["nf4", "fp4"])
@pytest.mark.parametrize("dq", [True, False])
def test_4bit_bytes_match_numpy_reference(kind, dq):
    rng = np.random.default_rng(2)
    for rows, n in ((5, 128), (2, 64 * 300)):  # the second: a row of more than 256 blocks (two groups)
        x = weights(rng, rows, n)
        fmt = parse_weight_format(kind if dq else f"{kind}:nodq")
        got = _core.quantize_weight(fmt.type_id, x)
        np.testing.assert_array_equal(got, ref_bnb4(x, kind, dq))


@pytest.mark.parametrize("kind", ["nf4", "fp4"])
def test_4bit_dequantize_is_code_times_absmax(kind):
    x = weights(np.random.default_rng(3), 4, 256)
    q = _core.quantize_weight(IDS[kind.upper()], x)
    back = _core.dequantize(IDS[kind.upper()], q.reshape(-1), 4, 256).reshape(4, 4, 64)
    absmax = np.abs(x.reshape(4, 4, 64)).max(axis=2)
    codes = back / absmax[..., None]
    # every value is a code book entry, and the nearest one to x / absmax
    book = code_book(kind)
    assert np.isin(codes.round(6), book.round(6)).all()
    err = np.abs(codes - x.reshape(4, 4, 64) / absmax[..., None])
    nearest = np.abs(x.reshape(4, 4, 64)[..., None] / absmax[..., None, None] - book).min(axis=-1)
    np.testing.assert_allclose(err, nearest, atol=1e-6)


def test_double_quantized_scales_are_close_to_the_absmax():
    x = weights(np.random.default_rng(4), 8, 512)
    plain = _core.dequantize(IDS["NF4"], _core.quantize_weight(IDS["NF4"], x).reshape(-1), 8, 512)
    dq = _core.dequantize(IDS["NF4_DQ"], _core.quantize_weight(IDS["NF4_DQ"], x).reshape(-1), 8, 512)
    ratio = np.abs(dq).sum() / np.abs(plain).sum()
    assert 0.97 < ratio < 1.03  # the 8-bit dynamic code keeps the scales within a few percent
    assert np.abs(dq - x).mean() < 1.05 * np.abs(plain - x).mean()


def test_code_books_and_dynamic_map_are_bitsandbytes():
    np.testing.assert_array_equal(_core.dynamic_map(), dynamic_map())
    dyn = _core.dynamic_map()
    assert dyn.size == 256 and -1.0 < dyn[0] < -0.99 and dyn[-1] == 1.0 and (np.diff(dyn) >= 0).all()
    for kind in ("nf4", "fp4"):
        x = np.tile(code_book(kind), 4)[None, :].astype(F)  # each value once per block, absmax 1
        q = _core.quantize_weight(IDS[kind.upper()], x)
        back = _core.dequantize(IDS[kind.upper()], q.reshape(-1), 1, 64)
        np.testing.assert_array_equal(back[0], x[0])


def test_bits_per_weight_of_the_layouts():
    n, rows = 4096, 8
    x = np.zeros((rows, n), F)
    bpw = {name: _core.quantize_weight(IDS[name], x).nbytes * 8 / x.size for name in
           ("I8_ROW", "I8Z_ROW", "I8_B64", "I8Z_B64", "NF4", "NF4_DQ")}
    assert bpw["I8_ROW"] == 8 + 32 / n and bpw["I8Z_ROW"] == 8 + 64 / n
    assert bpw["I8_B64"] == 8.5 and bpw["I8Z_B64"] == 9.0 and bpw["NF4"] == 4.5
    assert bpw["NF4_DQ"] == 4 + (8 * 64 + 32 + 32) / n  # 64 block codes, one s2, the offset


def test_names_parse_and_bad_names_list_the_valid_ones():
    assert parse_weight_format("int8-absmax").name == "int8-absmax:row"
    assert parse_weight_format("INT8-ZEROPOINT:block64").type_id == IDS["I8Z_B64"]
    assert parse_weight_format("int8-absmax:tensor").per_tensor
    assert parse_weight_format("nf4").type_id == IDS["NF4_DQ"]
    assert parse_weight_format("fp4:nodq").type_id == IDS["FP4"]
    assert parse_weight_format("llm.int8", 4.5).threshold == 4.5
    assert parse_weight_format(None) is None
    for bad in ("nf5", "nf4:row", "int8-absmax:block32", "llm.int8:nodq"):
        with pytest.raises(ArgumentError, match="valid names: int8-absmax, int8-absmax:row"):
            parse_weight_format(bad)
    with pytest.raises(ArgumentError, match="int8_threshold"):
        parse_weight_format("llm.int8", -1.0)
    assert all(name in valid_names() for name in FORMATS)

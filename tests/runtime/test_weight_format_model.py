"""A model loaded with each weight format runs, reports its bits per weight, and its logits stay
close to the F16 model's; quantized files and GPU placement are refused with clear errors."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from support.synthetic_models import make_model

from pyggml import Model, _core
from pyggml.errors import ArgumentError, GGUFError
from pyggml.formats.gguf_file import GGUFFile
from pyggml.runtime.weight_format import WeightFormatError, converts

# the relative RMS error of the last token's logits against F16's: the formats' step sizes
# (int8: 1/127 of a row's or block's range; 4-bit: a 16-entry code book) compounded over the
# model's 14 matrices of random weights; measured 0.017-0.019 for the int8 family and 0.22-0.23
# for the 4-bit ones (about 2x headroom)
TOLERANCE = {"int8-absmax": 0.04, "int8-absmax:tensor": 0.04, "int8-absmax:block64": 0.04,
             "int8-zeropoint": 0.04, "int8-zeropoint:tensor": 0.04, "int8-zeropoint:block64": 0.04,
             "llm.int8": 0.04, "nf4": 0.4, "nf4:nodq": 0.4, "fp4": 0.4, "fp4:nodq": 0.4}


@pytest.fixture(scope="module")
def f16_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("wf") / "llama-f16.gguf"
    make_model("llama", path, wtype="F16", n_ff=192)
    return str(path)


def logits(path, **kw):
    m = Model.load(path, n_ctx=64, n_threads=1, **kw)
    return m, m.eval([1, 5, 9, 33, 2, 17, 60, 8])


def rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2)))


@pytest.mark.parametrize("fmt", sorted(TOLERANCE))
def test_each_format_is_close_to_f16(f16_model, fmt):
    _, base = logits(f16_model)
    m, got = logits(f16_model, weight_format=fmt)
    err = rel_rms(got, base)
    assert 0 < err < TOLERANCE[fmt], err
    r = m.weight_format_report()
    assert r["weight_format"] == m.weight_format and r["tensors"] == 2 * 7  # two layers of q,k,v,o,gate,up,down
    lo, hi = (8, 9.2) if "int8" in fmt else (4, 5.5)  # rows of 64: the double quantization's header weighs
    assert lo < r["bits_per_weight"] < hi
    # prompt (tiles) and one token at a time (matvec) agree; llm.int8 less closely: a prompt's
    # outlier features are those of any of its tokens, a single token's its own
    m.reset()
    steps = np.stack([m.eval([t]) for t in [1, 5, 9, 33, 2, 17, 60, 8]])
    tol = 1e-2 if fmt == "llm.int8" else 1e-4
    np.testing.assert_allclose(steps[-1], got, rtol=tol, atol=tol * np.abs(got).max())


def test_llm_int8_threshold_and_outlier_report(f16_model):
    m, _ = logits(f16_model, weight_format="llm.int8", int8_threshold=0.5)
    assert m.weight_format_report()["int8_threshold"] == 0.5
    m.reset()
    counts = m.int8_outliers([1, 5, 9, 33])
    assert set(counts) == {0, 1} and all(set(c) == {0, 1, 2, 3} for c in counts.values())
    assert sum(sum(c.values()) for c in counts.values()) > 0
    m.reset()
    assert all(v == 0 for c in m.int8_outliers([1, 5], threshold=1e9).values() for v in c.values())
    # a huge threshold: no outliers, the same products as int8 absmax per row with per-token activations
    _, none = logits(f16_model, weight_format="llm.int8", int8_threshold=1e9)
    _, absmax = logits(f16_model, weight_format="int8-absmax:row")
    np.testing.assert_allclose(none, absmax, rtol=1e-5, atol=1e-5)


def resident_pages(view: np.ndarray) -> np.ndarray:
    """Whether each whole page inside the array's bytes is mapped in this process
    (/proc/self/pagemap: bit 63 of a page's entry)."""
    page = os.sysconf("SC_PAGE_SIZE")
    addr = view.__array_interface__["data"][0]
    first, last = -(-addr // page), (addr + view.nbytes) // page
    if last <= first:
        return np.zeros(0, dtype=bool)
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(first * 8)
        entries = np.frombuffer(f.read((last - first) * 8), dtype=np.uint64)
    return (entries >> np.uint64(63)).astype(bool)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file pages are released on Linux (madvise)")
def test_converted_matrices_leave_the_resident_set(f16_model):
    g = GGUFFile(f16_model)
    src = {t.name: g.raw(t.name) for t in g.tensors if converts(t.name, tuple(int(n) for n in t.ne))}
    copies = {name: np.array(v) for name, v in src.items()}
    assert sum(resident_pages(v).size for v in src.values()) > 0  # the matrices span whole pages
    assert all(resident_pages(v).all() for v in src.values())  # np.array read every byte: mapped
    m = Model.load(g, n_ctx=16, n_threads=1, weight_format="nf4")
    # the converted copy is what the model reads: the file's pages of the matrices are unmapped ...
    assert not any(resident_pages(v).any() for v in src.values())
    m.eval([1, 5, 9])
    assert not any(resident_pages(v).any() for v in src.values())
    # ... and still read the same from the file (the embedding and norms stay where they were)
    for name, v in src.items():
        np.testing.assert_array_equal(v, copies[name])


@pytest.mark.parametrize("fmt", ["nf4", "int8-absmax"])
def test_converted_matrices_are_held_once(f16_model, fmt):
    """The model reads the converted arrays where they are: only matrices of the mapped file are
    copied into the huge-page weight buffer (whose copy lets the file's pages go), so a converted
    matrix is not resident twice. Here only the output head (F16, kept as the file has it) is."""
    plain = Model.load(f16_model, n_ctx=16, n_threads=1)
    converted = Model.load(f16_model, n_ctx=16, n_threads=1, weight_format=fmt)
    g = GGUFFile(f16_model)
    head = g.tensor("output.weight" if "output.weight" in g else "token_embd.weight")  # tied: the embedding
    if _core.testing.weight_buffer_huge_pages():
        assert plain._native.copied_bytes > head.n_bytes
        assert converted._native.copied_bytes == head.n_bytes
    else:
        assert plain._native.copied_bytes == converted._native.copied_bytes == 0


def test_release_file_pages_leaves_other_memory_alone():
    x = np.ones(1 << 16, dtype=np.uint8)
    assert _core.release_file_pages(x) is False
    assert int(x.sum()) == 1 << 16


def test_quantized_file_is_refused(tmp_path):
    path = tmp_path / "q8.gguf"
    make_model("llama", path, wtype="Q8_0", n_ff=192)
    with pytest.raises(WeightFormatError, match=r"needs an F16, BF16 or F32 model, but blk\.0\..* is Q8_0"):
        Model.load(str(path), n_ctx=16, weight_format="nf4")


def test_bad_name_and_rows_that_do_not_fit(f16_model, tmp_path):
    with pytest.raises(ArgumentError, match="unknown weight format 'nf3'; valid names: int8-absmax"):
        Model.load(f16_model, n_ctx=16, weight_format="nf3")
    path = tmp_path / "odd.gguf"
    make_model("llama", path, wtype="F16", n_ff=160)  # ffn_down rows of 160: not whole blocks of 64
    with pytest.raises(GGUFError, match="ffn_down.weight: rows of 160 values cannot be stored as nf4"):
        Model.load(str(path), n_ctx=16, weight_format="nf4")
    assert Model.load(str(path), n_ctx=16, weight_format="int8-absmax").weight_format == "int8-absmax:row"

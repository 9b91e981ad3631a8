"""GGUFFile: metadata values, the tensor table, shape order, zero-copy views, real models."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as QT
from gguf.constants import GGUFValueType as VT

import pyggml
from pyggml import GGMLType, GGUFFile

RNG = np.random.default_rng(7)
W = RNG.standard_normal((3, 64)).astype(np.float32)  # (rows, row length)
V = RNG.standard_normal(32).astype(np.float32)


def _tensors():
    return {
        "w.f32": W,
        "v.f32": V,
        "w.f16": (QT.F16, W.astype(np.float16).view(np.uint8)),
        "w.q8_0": (QT.Q8_0, pyggml.quantize(W, "Q8_0")),
        "w.q4_0": (QT.Q4_0, pyggml.quantize(W, "Q4_0")),
    }


def test_metadata_values_are_plain_python(make_gguf):
    meta = {
        "test.u8": (200, VT.UINT8),
        "test.i8": (-5, VT.INT8),
        "test.u16": (60000, VT.UINT16),
        "test.i16": (-30000, VT.INT16),
        "test.u32": (4_000_000_000, VT.UINT32),
        "test.i32": (-2_000_000_000, VT.INT32),
        "test.u64": (2**63 + 5, VT.UINT64),
        "test.i64": (-(2**62), VT.INT64),
        "test.f32": (0.5, VT.FLOAT32),
        "test.f64": (1e300, VT.FLOAT64),
        "test.flag": True,
        "test.off": False,
        "test.text": "héllo wörld",
        "test.ints": ([1, 2, 3], VT.ARRAY, VT.INT32),
        "test.floats": ([0.25, -1.5], VT.ARRAY, VT.FLOAT32),
        "test.bools": ([True, False, True], VT.ARRAY, VT.BOOL),
        "test.words": ["a", "", "ünïcode", "<|im_end|>"],
        "test.nested": [[1, 2], [3]],
    }
    with GGUFFile(make_gguf(metadata=meta)) as f:
        m = f.metadata
        assert f.architecture == "test" and f.version == 3
        for key, value in meta.items():
            expected = value[0] if isinstance(value, tuple) else value
            assert m[key] == expected, key
            assert type(m[key]) is type(expected), key
        assert all(type(b) is bool for b in m["test.bools"])
        assert f.get("missing", 42) == 42


def test_metadata_matches_gguf_reader(make_gguf):
    path = make_gguf(
        tensors=_tensors(),
        metadata={"tokenizer.ggml.tokens": ["x", "y"], "test.scores": [0.5, 1.5], "test.n": 7},
    )
    reader = gguf.GGUFReader(path)
    with GGUFFile(path) as f:
        for key, field in reader.fields.items():
            if not key.startswith("GGUF."):
                assert f.metadata[key] == field.contents(), key
        assert len(f.metadata) == len(reader.fields) - 3
        assert f.data_offset == reader.data_offset
        assert [t.name for t in f.tensors] == [t.name for t in reader.tensors]
        for ours, theirs in zip(f.tensors, reader.tensors):
            assert ours.offset == theirs.data_offset
            assert ours.n_bytes == theirs.n_bytes
            assert ours.n_elements == theirs.n_elements
            assert ours.ne == tuple(theirs.shape.tolist())
            assert int(ours.type) == int(theirs.tensor_type)


def test_tensor_table_shape_order(make_gguf):
    with GGUFFile(make_gguf(tensors=_tensors())) as f:
        assert [t.name for t in f.tensors] == list(_tensors())
        t = f.tensor("w.q8_0")
        assert t.type is GGMLType.Q8_0
        assert t.shape == (3, 64)  # numpy order: rows, then elements per row
        assert t.ne == (64, 3)  # the file's ggml order: ne[0] = elements per row
        assert t.n_elements == 192
        assert t.n_bytes == 3 * 2 * 34
        assert (t.n_rows, t.row_bytes) == (3, 2 * 34)
        assert f.tensor("v.f32").shape == (32,)
        for t in f.tensors:
            assert t.offset % f.alignment == 0 and t.offset >= f.data_offset
        assert "w.f16" in f and "nope" not in f
        with pytest.raises(KeyError, match="nope"):
            f.tensor("nope")


def test_raw_is_a_zero_copy_view(make_gguf):
    path = make_gguf(tensors=_tensors())
    blob = Path(path).read_bytes()
    with GGUFFile(path) as f:
        for t in f.tensors:
            raw = f.raw(t.name)
            assert raw.dtype == np.uint8 and raw.shape == (t.n_bytes,)
            assert isinstance(raw, np.memmap) and not raw.flags.owndata and not raw.flags.writeable
            assert raw.tobytes() == blob[t.offset : t.offset + t.n_bytes]
        a, b = f.raw("w.f32"), f.raw("w.q8_0")
        assert np.shares_memory(a, f.raw("w.f32")) and a.base is b.base
        assert bytes(f.raw("w.q8_0")) == pyggml.quantize(W, "Q8_0").tobytes()


def test_array_dequantizes(make_gguf):
    with GGUFFile(make_gguf(tensors=_tensors())) as f:
        f32 = f.array("w.f32")
        np.testing.assert_array_equal(f32, W)
        assert f32.dtype == np.float32 and not f32.flags.owndata  # a view of the file
        np.testing.assert_array_equal(f.array("v.f32"), V)
        np.testing.assert_array_equal(f.array("w.f16"), W.astype(np.float16).astype(np.float32))
        for name, qt in [("w.q8_0", "Q8_0"), ("w.q4_0", "Q4_0")]:
            got = f.array(name)
            assert got.shape == (3, 64) and got.dtype == np.float32
            want = gguf.quants.dequantize(f.raw(name).reshape(3, -1), QT[qt])
            np.testing.assert_array_equal(got, want)


def test_close_keeps_handed_out_views(make_gguf):
    path = make_gguf(tensors=_tensors())
    with GGUFFile(Path(path)) as f:
        view = f.array("w.f32")
        assert f.path == path
    with pytest.raises(ValueError, match="closed"):
        f.raw("w.f32")
    np.testing.assert_array_equal(view, W)
    assert f.metadata["general.architecture"] == "test"


def test_custom_alignment(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "a.gguf"), "test")
    w.add_custom_alignment(64)
    w.add_tensor("a", V[:5].copy())
    w.add_tensor("b", W)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    with GGUFFile(tmp_path / "a.gguf") as f:
        assert f.alignment == 64 and f.data_offset % 64 == 0
        assert all(t.offset % 64 == 0 for t in f.tensors)
        np.testing.assert_array_equal(f.array("b"), W)


def test_tensor_only_file_has_no_architecture(tmp_path):
    path = tmp_path / "bare.gguf"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + bytes(16))
    with GGUFFile(path) as f:
        assert f.architecture is None and f.tensors == [] and f.metadata == {}


def _check_packed(f: GGUFFile):
    """Tensors follow each other in file order, each at the next aligned offset, ending at EOF."""
    end = f.data_offset
    for t in f.tensors:
        assert t.offset == -(-end // f.alignment) * f.alignment, t.name
        end = t.offset + t.n_bytes
    assert end == os.path.getsize(f.path)


@pytest.mark.real_model
def test_gemma_tensor_table(gemma_path):
    with GGUFFile(gemma_path) as f:
        assert f.architecture == "gemma3"
        assert len(f.tensors) == 236
        assert {t.type.name for t in f.tensors} == {"F32", "Q5_0", "Q4_K", "Q8_0", "Q6_K"}
        emb = f.tensor("token_embd.weight")
        assert emb.shape == (262144, 640) and emb.type is GGMLType.Q8_0
        assert f.metadata["gemma3.embedding_length"] == 640
        assert len(f.metadata["tokenizer.ggml.tokens"]) == 262144
        assert f.metadata["tokenizer.ggml.tokens"][2] == "<bos>"
        _check_packed(f)
        norm = f.array("output_norm.weight")
        assert norm.shape == (640,) and np.isfinite(norm).all()
        row = pyggml.dequantize(f.raw("token_embd.weight")[: 20 * 34], "Q8_0", (1, 640))
        want = gguf.quants.dequantize(f.raw("token_embd.weight")[: 20 * 34].reshape(1, -1), QT.Q8_0)
        np.testing.assert_array_equal(row, want)


@pytest.mark.real_model
def test_qwen_tensor_table(qwen_path):
    with GGUFFile(qwen_path) as f:
        assert f.architecture == "qwen2"
        assert len(f.tensors) == 339
        assert {t.type.name for t in f.tensors} == {"F32", "Q4_K", "Q6_K"}
        assert f.tensor("output.weight").shape == (151936, 1536)
        assert f.tensor("blk.0.ffn_down.weight").shape == (1536, 8960)
        assert f.metadata["qwen2.block_count"] == 28
        assert len(f.metadata["tokenizer.ggml.merges"]) == 151387
        assert f.metadata["tokenizer.chat_template"].startswith("{%- if tools %}")
        _check_packed(f)

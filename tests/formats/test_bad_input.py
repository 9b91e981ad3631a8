"""Broken GGUF files give a GGUFError naming the file and the problem: no crash, hang or huge allocation.

Each broken file starts as a valid one from gguf.GGUFWriter and is then edited byte by byte.
"""

from __future__ import annotations

import signal
import struct
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as QT
from gguf.constants import GGUFValueType as VT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyggml
from pyggml import GGUFError, GGUFFile

HUGE = 2**60
W = np.linspace(-1, 1, 3 * 64, dtype=np.float32).reshape(3, 64)


@contextmanager
def no_hang(seconds: int = 20):
    """Turn a hang into a test failure instead of a stuck suite."""

    def fail(*_):
        raise AssertionError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Surgery:
    """A valid small GGUF as a bytearray, with the positions of the fields the tests break."""

    def __init__(self, make_gguf):
        self.path = Path(
            make_gguf(
                tensors={"tensor.quant": (QT.Q8_0, pyggml.quantize(W, "Q8_0")), "tensor.float": W[0]},
                metadata={
                    "test.text": "hello",
                    "test.bytes": ([1, 2, 3], VT.ARRAY, VT.UINT8),
                    "test.words": ["a", "b"],
                },
            )
        )
        self.blob = bytearray(self.path.read_bytes())
        with GGUFFile(self.path) as f:
            self.data_offset = f.data_offset
            self.quant = f.tensor("tensor.quant")

    def find(self, text: str) -> int:
        """Offset just past the first occurrence of `text`."""
        return self.blob.index(text.encode()) + len(text)

    def put(self, pos: int, fmt: str, value) -> None:
        struct.pack_into("<" + fmt, self.blob, pos, value)

    def tensor_field(self, name: str, field: str, dim: int = 0) -> int:
        """Offset of a tensor-table field: n_dims, dim, type or offset."""
        p = self.find(name)
        n_dims = struct.unpack_from("<I", self.blob, p)[0]
        return {"n_dims": p, "dim": p + 4 + 8 * dim, "type": p + 4 + 8 * n_dims, "offset": p + 8 + 8 * n_dims}[field]

    def open(self, blob: bytes | bytearray | None = None) -> GGUFError:
        """Write the (broken) bytes back and return the GGUFError that opening them raises."""
        self.path.write_bytes(bytes(self.blob if blob is None else blob))
        with no_hang(), pytest.raises(GGUFError) as info:
            GGUFFile(self.path)
        err = info.value
        assert err.path == str(self.path) and str(self.path) in str(err)
        return err


@pytest.fixture
def s(make_gguf) -> Surgery:
    return Surgery(make_gguf)


def test_valid_file_opens(s):
    with GGUFFile(s.path) as f:
        assert f.metadata["test.words"] == ["a", "b"]


def test_missing_file(tmp_path):
    with pytest.raises(GGUFError, match="no such file") as info:
        GGUFFile(tmp_path / "absent.gguf")
    assert info.value.path == str(tmp_path / "absent.gguf")


def test_directory(tmp_path):
    with pytest.raises(GGUFError, match="directory"):
        GGUFFile(tmp_path)


def test_empty_file(s):
    assert "empty file" in s.open(b"").problem


def test_truncated_header(s):
    assert "too short for a GGUF header" in s.open(s.blob[:20]).problem


def test_truncated_metadata(s):
    err = s.open(s.blob[: s.find("test.text") + 10])
    assert "truncated" in err.problem and "test.text" in err.problem


def test_truncated_tensor_table(s):
    err = s.open(s.blob[: s.tensor_field("tensor.quant", "dim", 1)])
    assert "truncated" in err.problem and "tensor.quant" in err.problem


def test_truncated_tensor_data(s):
    err = s.open(s.blob[:-7])
    assert "runs past the end of the file" in err.problem and "tensor.float" in err.problem


def test_every_truncation_is_reported(s):
    whole = bytes(s.blob)
    for n in range(0, len(whole), 5):
        s.open(whole[:n])


def test_bad_magic(s):
    s.blob[:4] = b"GGML"
    assert "not a GGUF file" in s.open().problem


@pytest.mark.parametrize("version", [1, 4, 0xFFFF_FFFF])
def test_unsupported_version(s, version):
    s.put(4, "I", version)
    err = s.open()
    assert f"unsupported GGUF version {version}" in err.problem and "2, 3" in err.problem


def test_big_endian_is_refused(s):
    s.blob[4:8] = (3).to_bytes(4, "big")
    assert "big-endian" in s.open().problem


def test_tensor_offset_past_end(s):
    s.put(s.tensor_field("tensor.quant", "offset"), "Q", 2**40)
    err = s.open()
    assert "tensor.quant" in err.problem and "runs past the end of the file" in err.problem


def test_misaligned_tensor_offset(s):
    s.put(s.tensor_field("tensor.quant", "offset"), "Q", 4)
    assert "not a multiple of the alignment 32" in s.open().problem


def test_unknown_tensor_type(s):
    s.put(s.tensor_field("tensor.quant", "type"), "I", 99)
    err = s.open()
    assert "unknown type id 99" in err.problem and "Q4_K" in err.problem


def test_type_gguf_knows_but_pyggml_does_not(s):
    s.put(s.tensor_field("tensor.quant", "type"), "I", int(QT.F64))
    err = s.open()
    assert "F64" in err.problem and "does not support" in err.problem
    assert "supported types: F32, F16" in err.problem


def test_tensor_size_that_does_not_match_a_new_type(s):
    """A tensor whose data does not fit its (newly supported) type names the tensor."""
    s.put(s.tensor_field("tensor.quant", "type"), "I", int(QT.IQ2_XXS))
    err = s.open()
    assert "tensor.quant" in err.problem and "IQ2_XXS" in err.problem and "block size 256" in err.problem


def test_row_length_not_a_multiple_of_block_size(s):
    s.put(s.tensor_field("tensor.quant", "dim", 0), "Q", 48)
    err = s.open()
    assert "ne[0] = 48" in err.problem and "block size 32" in err.problem


def test_zero_dimension(s):
    s.put(s.tensor_field("tensor.quant", "dim", 1), "Q", 0)
    assert "ne[1] = 0" in s.open().problem


def test_negative_dimension(s):
    s.put(s.tensor_field("tensor.quant", "dim", 1), "q", -3)
    assert "ne[1] = -3" in s.open().problem


def test_too_many_dimensions(s):
    s.put(s.tensor_field("tensor.quant", "n_dims"), "I", 5)
    assert "5 dimensions" in s.open().problem


def test_element_count_overflow(s):
    s.put(s.tensor_field("tensor.quant", "dim", 0), "Q", 2**62)
    s.put(s.tensor_field("tensor.quant", "dim", 1), "Q", 2**62)
    assert "more than 2^63 elements" in s.open().problem


def test_absurd_tensor_count(s):
    s.put(8, "Q", HUGE)
    assert f"tensor count {HUGE} cannot fit" in s.open().problem


def test_absurd_kv_count(s):
    s.put(16, "Q", HUGE)
    assert f"metadata count {HUGE} cannot fit" in s.open().problem


def test_absurd_string_length(s):
    s.put(s.find("test.text") + 4, "Q", HUGE)  # after the key: value type u32, then the string length
    err = s.open()
    assert "test.text" in err.problem and f"needs {HUGE} bytes" in err.problem


def test_absurd_key_length(s):
    s.put(s.find("test.text") - len("test.text") - 8, "Q", HUGE)
    assert f"needs {HUGE} bytes" in s.open().problem


def test_absurd_scalar_array_length(s):
    s.put(s.find("test.bytes") + 8, "Q", HUGE)  # after the key: value type u32, item type u32, count
    err = s.open()
    assert f"claims {HUGE} items" in err.problem and "test.bytes" in err.problem


def test_absurd_string_array_length(s):
    s.put(s.find("test.words") + 8, "Q", HUGE)
    err = s.open()
    assert f"claims {HUGE} items" in err.problem and "test.words" in err.problem


def test_absurd_length_inside_a_string_array(s):
    # test.words: value type, item type, count, then "a" (length 1) and "b": the second length
    first = s.find("test.words") + 16
    s.put(first + 8 + 1, "Q", HUGE)
    err = s.open()
    assert f"string 1 of 'test.words' ({HUGE} bytes)" in err.problem and "truncated" in err.problem


def test_string_array_cut_inside_a_length(s):
    # string 0 made to run until 4 bytes before the end: string 1's length field is cut
    first = s.find("test.words") + 16
    s.put(first, "Q", len(s.blob) - first - 12)
    err = s.open()
    assert "length of string 1 of 'test.words'" in err.problem


def test_string_array_keeps_bytes_that_are_not_utf8(s):
    first = s.find("test.words") + 16
    s.blob[first + 8] = 0xFF  # "a" -> b"\xff"
    s.path.write_bytes(bytes(s.blob))
    with GGUFFile(s.path) as f:
        assert f.metadata["test.words"] == ["\udcff", "b"]


def test_native_string_array_decoder():
    from pyggml import _core

    blob = b"xx" + b"".join(len(t).to_bytes(8, "little") + t for t in (b"ab", b"", "é".encode(), b"\xfe"))
    out, pos = _core.gguf_strings(memoryview(blob), 2, 4)
    assert out == ["ab", "", "é", "\udcfe"] and pos == len(blob)
    # stops before a string that does not fit: its bytes, then its length field
    assert _core.gguf_strings(memoryview(blob[:-1]), 2, 4) == (["ab", "", "é"], len(blob) - 9)
    assert _core.gguf_strings(memoryview(blob[:-5]), 2, 4) == (["ab", "", "é"], len(blob) - 9)
    assert _core.gguf_strings(memoryview(blob), 2, 2) == (["ab", ""], 2 + 10 + 8)
    with pytest.raises(ValueError, match="past the end"):
        _core.gguf_strings(memoryview(blob), len(blob) + 1, 1)


def test_unknown_value_type(s):
    s.put(s.find("test.text"), "I", 13)
    assert "unknown value type id 13" in s.open().problem


def test_key_not_utf8(s):
    s.blob[s.find("test.text") - 1] = 0xFF
    assert "not valid UTF-8" in s.open().problem


def test_duplicate_key(s):
    p = s.find("test.words")
    s.blob[p - len("test.words") : p] = b"test.bytes"
    assert "'test.bytes' appears twice" in s.open().problem


def test_duplicate_tensor_name(s):
    p = s.find("tensor.float")
    s.blob[p - len("tensor.float") : p] = b"tensor.quant"
    assert "'tensor.quant' appears twice" in s.open().problem


def test_bad_alignment(make_gguf, tmp_path):
    path = make_gguf(tensors={"t": W[0]}, metadata={"general.alignment": 24})
    with pytest.raises(GGUFError, match="general.alignment = 24 is not a positive power of two"):
        GGUFFile(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_never_crashes(s, data):
    """Overwrite random header bytes: the file either opens or raises GGUFError, nothing else."""
    blob = bytearray(s.blob)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, s.data_offset - 1))
        blob[pos] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, data.draw(st.integers(0, 255))]))
    s.path.write_bytes(bytes(blob))
    with no_hang():
        try:
            with GGUFFile(s.path) as f:
                for t in f.tensors:
                    assert t.offset + t.n_bytes <= len(blob)
                    f.raw(t.name)
        except GGUFError as e:
            assert e.path == str(s.path)

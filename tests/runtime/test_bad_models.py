"""Bad models and bad arguments: each a clear pyggml error, never a hang, a foreign exception or NaN logits.

The files are small synthetic models (tests/support/synthetic_models.py) edited part by part with
the fuzz mutator's parser and writer (tests/support/gguf_fuzz.py): a hyper-parameter of another
type or out of range, a tensor of another shape, type or offset, a tensor-info entry too
few, NaN in the weights, a tokenizer array of the wrong element type. Every GGUFError names
the file and the key or tensor, and the value.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as GT
from gguf.constants import GGUFValueType as VT

import pyggml
from support.gguf_fuzz import KV, parse, write
from pyggml import (ArgumentError, GGMLType, GGUFError, Model, NonFiniteError, PyggmlError, ResourceError,
                    Tokenizer, _core)
from pyggml.cli import main
from support.synthetic_models import make_model, random_codebook_weight

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory) -> Path:
    """Gemma 3 layout: 3 layers, Q4_0 weights, token_embd tied to the output, SentencePiece vocabulary."""
    path = tmp_path_factory.mktemp("bad_models") / "gemma3.gguf"
    make_model("gemma3", path, wtype="Q4_0", seed=5)
    return path


@pytest.fixture(scope="module")
def qwen(tmp_path_factory) -> Path:
    """Qwen2 layout: F16 weights, an untied output matrix, a byte-level BPE vocabulary."""
    path = tmp_path_factory.mktemp("bad_models") / "qwen2.gguf"
    make_model("qwen2", path, wtype="F16", seed=5, tie_output=False)
    return path


def edited(base: Path, tmp_path: Path, edit, name: str = "bad.gguf") -> str:
    """base with edit(doc) applied, written to tmp_path/name."""
    doc = parse(base.read_bytes())
    edit(doc)
    blob, _ = write(doc)
    path = tmp_path / name
    path.write_bytes(blob)
    return str(path)


def set_kv(key: str, vtype, value, itype=None, sub_itype=None):
    def edit(doc):
        kv = doc.kv(key)
        if kv is None:
            doc.kvs.append(KV(key, vtype, value, itype, sub_itype))
        else:
            kv.vtype, kv.value, kv.itype, kv.sub_itype = vtype, value, itype, sub_itype

    return edit


def load(path, **kw) -> Model:
    return Model.load(path, **{"n_ctx": 16, "n_threads": 1, **kw})


def gguf_error(path: str, fn, *args, **kw) -> GGUFError:
    """The GGUFError fn raises; it names the file."""
    with pytest.raises(GGUFError) as info:
        fn(*args, **kw)
    assert info.value.path == path and path in str(info.value)
    return info.value


# ---------------------------------------------------------------- hyper-parameters

U32, U64, I32, F32, F64, STR, ARR = VT.UINT32, VT.UINT64, VT.INT32, VT.FLOAT32, VT.FLOAT64, VT.STRING, VT.ARRAY

HPARAM_CASES = [  # (key, value type, value, array item type, what the message says)
    ("gemma3.attention.head_count", U32, 0, None, "gemma3.attention.head_count = 0: expected an integer in [1, 65536]"),
    ("gemma3.attention.key_length", U32, 0, None, "gemma3.attention.key_length = 0: expected an integer in [1, 65536]"),
    ("gemma3.embedding_length", STR, "64", None, "gemma3.embedding_length = '64': expected an integer"),
    ("gemma3.feed_forward_length", STR, "lots", None, "gemma3.feed_forward_length = 'lots': expected an integer"),
    ("gemma3.block_count", ARR, [3], U32, "gemma3.block_count = [3] (an array of 1): expected an integer"),
    ("general.architecture", ARR, ["gemma3"], STR, "general.architecture = ['gemma3'] (an array of 1): expected a string"),
    ("gemma3.embedding_length", I32, -64, None, "gemma3.embedding_length = -64: expected an integer in [1, 1048576]"),
    ("gemma3.block_count", U64, 2**63, None, f"gemma3.block_count = {2**63}: expected an integer in [1, 65536]"),
    ("gemma3.block_count", U32, 2**31, None, f"gemma3.block_count = {2**31}: expected an integer in [1, 65536]"),
    ("gemma3.rope.freq_base", F32, math.inf, None, "gemma3.rope.freq_base = inf: expected a finite number > 0"),
    ("gemma3.rope.freq_base", F64, 0.0, None, "gemma3.rope.freq_base = 0.0: expected a finite number > 0"),
    ("gemma3.attention.layer_norm_rms_epsilon", F32, math.nan, None,
     "gemma3.attention.layer_norm_rms_epsilon = nan: expected a finite number in [0, 1)"),
    ("gemma3.final_logit_softcapping", F64, -1.0, None, "gemma3.final_logit_softcapping = -1.0: expected a finite"),
    ("gemma3.attention.key_length", U64, 2**31 + 32, None, f"gemma3.attention.key_length = {2**31 + 32}: expected"),
    ("gemma3.attention.sliding_window", U64, 2**32, None, f"gemma3.attention.sliding_window = {2**32}: expected"),
    ("gemma3.rope.dimension_count", U64, 2**32, None,
     f"gemma3.rope.dimension_count = {2**32}: expected an even integer in [0, gemma3.attention.key_length = 32]"),
    ("gemma3.rope.dimension_count", U32, 7, None, "gemma3.rope.dimension_count = 7: expected an even integer"),
    ("gemma3.attention.head_count_kv", U32, 3, None,
     "gemma3.attention.head_count_kv = 3: expected a divisor of gemma3.attention.head_count = 4"),
    ("gemma3.attention.head_count_kv", ARR, [1, 2, 1], U32, "one KV head count for every layer"),
    ("gemma3.feed_forward_length", ARR, [192, 192, 192], U32, "one feed-forward size"),
    ("gemma3.attention.sliding_window_pattern", ARR, ["yes", "no", "no"], STR, "flags (true: sliding-window layer)"),
    ("gemma3.attention.sliding_window_pattern", ARR, [True], VT.BOOL, "at least 3 flags"),
    ("gemma3.rope.scaling.type", STR, "dynamic", None, "rope scaling 'dynamic' is not supported"),
    ("gemma3.rope.scaling.type", U32, 1, None, "gemma3.rope.scaling.type = 1: expected a string"),
    ("gemma3.block_count", U32, 2, None, "tensor 'blk.2.attn_norm.weight' belongs to layer 2, but gemma3.block_count = 2"),
    ("gemma3.block_count", U32, 4, None, "sliding_window_pattern = [True, True, False] (an array of 3): expected at "
                                         "least 4 flags"),
    ("gemma3.embedding_length", U32, 128, None, "tensor 'token_embd.weight' has shape ne=[64, 320]: expected [128, 320]"),
    ("gemma3.attention.value_length", U32, 16, None,
     "tensor 'blk.0.attn_v.weight' has shape ne=[64, 32]: expected [64, 16] = (embedding_length, head_count_kv * "
     "value_length) from the gemma3.* hyper-parameters"),
]


@pytest.mark.parametrize("key,vtype,value,itype,message", HPARAM_CASES,
                         ids=[f"{c[0].split('.', 1)[1]}={c[2]!r}"[:60] for c in HPARAM_CASES])
def test_bad_hyperparameter_is_a_gguf_error_naming_key_and_value(gemma, tmp_path, key, vtype, value, itype, message):
    path = edited(gemma, tmp_path, set_kv(key, vtype, value, itype))
    assert message in gguf_error(path, load, path).problem


def test_missing_tensor(gemma, tmp_path):
    def drop(doc):
        doc.replace_tensor("blk.2.ffn_up.weight", doc.tensor("blk.2.ffn_up.weight").type, b"")
        doc.tensors.remove(doc.tensor("blk.2.ffn_up.weight"))

    path = edited(gemma, tmp_path, drop)
    assert gguf_error(path, load, path).problem == \
        "missing tensor blk.2.ffn_up.weight (a gemma3 model with gemma3.block_count = 3 needs it)"


def test_missing_architecture(gemma, tmp_path):
    path = edited(gemma, tmp_path, lambda d: d.kvs.remove(d.kv("general.architecture")))
    assert "missing metadata key general.architecture" in gguf_error(path, load, path).problem


# ---------------------------------------------------------------- tensors

def test_one_dimensional_token_embd(gemma, tmp_path):
    def flatten(doc):
        t = doc.tensor("token_embd.weight")
        t.ne = [t.ne[0] * t.ne[1]]

    path = edited(gemma, tmp_path, flatten)
    assert "'token_embd.weight' has shape ne=[20480]: expected 2 dimensions" in gguf_error(path, load, path).problem


@pytest.mark.parametrize("qtype", ["Q8_1", "Q8_K"])
def test_activation_types_are_not_weight_types(tmp_path, qtype):
    """Q8_1 and Q8_K only hold converted activations: the matrix product has no kernel for them."""
    base = tmp_path / "k.gguf"
    make_model("llama", base, wtype="Q4_K", seed=2)  # rows of 256: Q8_K blocks fit
    name = "blk.1.ffn_down.weight"
    with pyggml.GGUFFile(base) as f:
        w = f.array(name)

    def retype(doc):
        doc.replace_tensor(name, int(GGMLType[qtype]), pyggml.quantize(w, qtype).tobytes())

    path = edited(base, tmp_path, retype)
    problem = gguf_error(path, load, path).problem
    assert f"tensor '{name}' has type {qtype}, which is not a weight type" in problem and "Q4_K" in problem


def _header_count(doc_blob: bytes, delta: int) -> bytes:
    blob = bytearray(doc_blob)
    struct.pack_into("<Q", blob, 8, struct.unpack_from("<Q", blob, 8)[0] + delta)
    return bytes(blob)


def test_tensor_count_one_short(gemma, tmp_path):
    path = tmp_path / "short.gguf"
    path.write_bytes(_header_count(gemma.read_bytes(), -1))
    problem = gguf_error(str(path), pyggml.GGUFFile, path).problem
    assert "bytes after the data of its last tensor" in problem and "missing tensor-info entry" in problem


def test_tensor_info_entry_missing_in_the_middle(gemma, tmp_path):
    path = edited(gemma, tmp_path, lambda d: d.tensors.remove(d.tensor("blk.1.attn_k.weight")))
    problem = gguf_error(path, pyggml.GGUFFile, path).problem
    assert "tensor 'blk.1.attn_v.weight' starts at data offset" in problem and "missing tensor-info entry" in problem


@pytest.mark.parametrize("name", ["token_embd.weight", "blk.2.ffn_down.weight"])
@pytest.mark.parametrize("field", ["type", "offset"])
def test_changed_type_or_offset_is_caught(gemma, tmp_path, name, field):
    """A Q4_0 tensor read as Q8_0, or from 32 bytes further on: reading would decode the wrong bytes."""

    def change(doc):
        t = doc.tensor(name)
        if field == "type":
            t.type = int(GGMLType.Q8_0)
        else:
            t.offset += 32

    path = edited(gemma, tmp_path, change)
    problem = gguf_error(path, pyggml.GGUFFile, path).problem
    assert name in problem and ("overlap" in problem or "starts at data offset" in problem
                                or "bytes after" in problem or "runs past the end" in problem)


def test_overlapping_tensors(gemma, tmp_path):
    def overlap(doc):
        doc.tensor("blk.0.ffn_up.weight").offset = doc.tensor("blk.0.ffn_gate.weight").offset

    path = edited(gemma, tmp_path, overlap)
    problem = gguf_error(path, pyggml.GGUFFile, path).problem
    assert "'blk.0.ffn_gate.weight'" in problem and "'blk.0.ffn_up.weight'" in problem and "overlap" in problem


# ---------------------------------------------------------------- NaN in the weights

def _poison_block_scale(name: str, block: int, half: int = 0x7E00):
    """Set the scale d of one Q4_0 block (its first two bytes) to a binary16 NaN (or half)."""

    def edit(doc):
        t = doc.tensor(name)
        blob = bytearray(doc.data)
        struct.pack_into("<H", blob, t.offset + block * 18, half)
        doc.data = bytes(blob)

    return edit


def test_nan_weight_is_reported_at_its_layer_not_returned(gemma, tmp_path):
    path = edited(gemma, tmp_path, _poison_block_scale("blk.1.ffn_down.weight", 3))
    m = load(path)
    with pytest.raises(NonFiniteError) as info:
        m.eval([1, 5, 9])
    msg = str(info.value)
    assert path in msg and "layer 1 (tensors blk.1.*)" in msg and "check_tensors=True" in msg
    assert m.n_past == 0  # the failed call keeps nothing
    with pytest.raises(NonFiniteError):
        m.embed([1, 5, 9])


def test_check_tensors_names_the_tensor_row_and_block(gemma, tmp_path):
    path = edited(gemma, tmp_path, _poison_block_scale("blk.1.ffn_down.weight", 13, 0x7C00))
    problem = gguf_error(path, load, path, check_tensors=True).problem
    # ffn_down: rows of n_ff = 192 columns, 6 blocks of 32 per row: block 13 is row 2, columns 32 to 63
    assert problem.startswith("tensor 'blk.1.ffn_down.weight' (Q4_0) has a block with scale d = inf at row 2, "
                              "columns 32 to 63 (block 13)")
    problem = gguf_error(path, pyggml.GGUFFile(path).check_tensors).problem
    assert "blk.1.ffn_down.weight" in problem


def test_nan_in_tied_output_rows_is_reported(gemma, tmp_path):
    """A poisoned row of token_embd (tied: also the output matrix): its logit is not finite."""
    path = edited(gemma, tmp_path, _poison_block_scale("token_embd.weight", 2 * 77))  # row 77
    m = load(path)
    with pytest.raises(NonFiniteError, match="non-finite logit .* for token id 77"):
        m.eval([1, 5])
    with pytest.raises(NonFiniteError, match="the token embedding"):
        m.eval([77])


def test_inf_in_an_untied_output_matrix(qwen, tmp_path):
    def edit(doc):
        t = doc.tensor("output.weight")
        blob = bytearray(doc.data)
        struct.pack_into("<H", blob, t.offset + 2 * (96 * 11 + 5), 0x7C00)  # row 11 (token 11), F16 +inf
        doc.data = bytes(blob)

    path = edited(qwen, tmp_path, edit)
    with pytest.raises(NonFiniteError, match=r"output \(output.weight"):
        load(path).eval([1, 2, 3])
    assert "holds inf at row 11, column 5" in gguf_error(path, load, path, check_tensors=True).problem


def test_cli_check_tensors(gemma, tmp_path, capsys):
    assert main(["info", str(gemma), "--check-tensors"]) == 0
    assert "data checked: no NaN or infinity" in capsys.readouterr().out
    path = edited(gemma, tmp_path, _poison_block_scale("blk.0.attn_q.weight", 0))
    assert main(["info", path, "--check-tensors"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pyggml: error: ") and "blk.0.attn_q.weight" in err and "Traceback" not in err


@pytest.mark.parametrize("qtype", list(GGMLType))
def test_check_tensor_data_finds_the_first_bad_unit(qtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 1024)).astype(np.float32)
    if qtype == GGMLType.F32:
        data = x.view(np.uint8).reshape(-1).copy()
    elif qtype.can_quantize:
        qw = np.ones(x.shape[1], np.float32) if qtype.requires_imatrix else None
        data = np.ascontiguousarray(pyggml.quantize(x, qtype.name, imatrix=qw)).reshape(-1).copy()
    else:  # the codebook types pyggml reads but does not write: random blocks with finite scales
        data = random_codebook_weight(x, GT[qtype.name]).reshape(-1).copy()
    assert _core.check_tensor_data(int(qtype), data) is None
    unit = qtype.type_size
    if qtype in (GGMLType.MXFP4, GGMLType.NVFP4, GGMLType.IQ1_M):
        # 8-bit E8M0 / UE4M3 scales have no infinity or NaN; IQ1_M's fp16 scale is spread over
        # four nibbles and not checked: any bytes pass
        data[9 * unit : 10 * unit] = 0xFF
        assert _core.check_tensor_data(int(qtype), data) is None
    elif qtype.is_quantized:
        block = 9
        d_at = {GGMLType.Q2_K: unit - 4, GGMLType.Q3_K: unit - 2, GGMLType.Q6_K: unit - 2,
                GGMLType.TQ1_0: unit - 2, GGMLType.TQ2_0: unit - 2}.get(qtype, 0)
        if qtype == GGMLType.Q8_K:
            data[block * unit : block * unit + 4] = np.array([np.inf], np.float32).view(np.uint8)
        else:
            data[block * unit + d_at : block * unit + d_at + 2] = np.array([0x7E00], np.uint16).view(np.uint8)
        index, field, value = _core.check_tensor_data(int(qtype), data)
        assert (index, field) == (block, "d") and not math.isfinite(value)
    else:
        i = 700
        bad = {GGMLType.F32: np.array([np.nan], np.float32), GGMLType.F16: np.array([0xFC00], np.uint16),
               GGMLType.BF16: np.array([0x7F80], np.uint16)}[qtype]
        data[i * unit : (i + 1) * unit] = bad.view(np.uint8)
        index, field, value = _core.check_tensor_data(int(qtype), data, n_threads=3)
        assert (index, field) == (i, "value") and not math.isfinite(value)


# ---------------------------------------------------------------- tokenizer metadata

TOKENIZER_CASES = [  # (key, value type, value, item type, what the message says)
    ("tokenizer.ggml.tokens", U32, 5, None, "tokenizer.ggml.tokens = 5: expected an array of strings"),
    ("tokenizer.ggml.tokens", ARR, list(range(320)), U32, "tokenizer.ggml.tokens = [0, 1, 2, 3, ...] (an array of 320)"),
    ("tokenizer.ggml.scores", ARR, ["a"] * 320, STR, "tokenizer.ggml.scores = ['a', 'a', 'a', 'a', ...]"),
    ("tokenizer.ggml.scores", ARR, [float("nan")] * 320, VT.FLOAT32, "tokenizer.ggml.scores[0] is NaN"),
    ("tokenizer.ggml.token_type", ARR, [1.5] * 320, VT.FLOAT32, "tokenizer.ggml.token_type = [1.5, 1.5"),
    ("tokenizer.ggml.token_type", ARR, [2**40] * 320, VT.UINT64, "expected an array of 32-bit integers"),
    ("tokenizer.ggml.token_type", ARR, [[1]] * 320, ARR, "tokenizer.ggml.token_type = [[1] (an array of 1), "),
    ("tokenizer.ggml.scores", ARR, [0.0] * 3, VT.FLOAT32, "fewer entries than the 320 tokens"),
    ("tokenizer.ggml.bos_token_id", STR, "1", None, "tokenizer.ggml.bos_token_id = '1': expected an integer token id"),
    ("tokenizer.ggml.add_bos_token", STR, "yes", None, "tokenizer.ggml.add_bos_token = 'yes': expected a boolean"),
    ("tokenizer.ggml.model", U32, 1, None, "tokenizer.ggml.model = 1: expected a string"),
    ("tokenizer.ggml.model", STR, "wordpiece", None, "unknown tokenizer model 'wordpiece' (tokenizer.ggml.model)"),
    ("tokenizer.chat_template", ARR, ["{{ x }}"], STR, "tokenizer.chat_template = ['{{ x }}']"),
]


@pytest.mark.parametrize("key,vtype,value,itype,message", TOKENIZER_CASES,
                         ids=[f"{c[0].split('.')[-1]}-{i}" for i, c in enumerate(TOKENIZER_CASES)])
def test_bad_tokenizer_metadata_is_a_gguf_error(gemma, tmp_path, key, vtype, value, itype, message):
    path = edited(gemma, tmp_path, set_kv(key, vtype, value, itype, U32 if itype == ARR else None))
    assert message in gguf_error(path, Tokenizer.from_gguf, path).problem


def test_bpe_merges_of_the_wrong_type(qwen, tmp_path):
    path = edited(qwen, tmp_path, set_kv("tokenizer.ggml.merges", ARR, [1, 2, 3], U32))
    assert "tokenizer.ggml.merges = [1, 2, 3] (an array of 3): expected an array of strings" in \
        gguf_error(path, Tokenizer.from_gguf, path).problem


def test_huge_and_nested_control_tokens(gemma, tmp_path):
    """A 1 MiB control token, and control tokens each the prefix of the next: the special-token
    regex would nest too deep for the regex compiler and falls back to plain alternatives."""

    def edit(doc):
        tokens, types = doc.kv("tokenizer.ggml.tokens").value, doc.kv("tokenizer.ggml.token_type").value
        tokens[300] = "\u2603" * (1 << 20)
        types[300] = 3
        for i in range(3, 203):  # "#", "##", ... as control tokens (replacing byte tokens <0x00>.. <0xC7>)
            tokens[i], types[i] = "#" * (i - 2), 3

    path = edited(gemma, tmp_path, edit)
    tok = Tokenizer.from_gguf(path)
    ids = tok.encode("a ### b", parse_special=True)
    assert tok.token_to_id["###"] in ids
    assert tok.decode(tok.encode("hello world")).strip() == "hello world"


# ---------------------------------------------------------------- arguments

def test_token_ids_must_be_integers_in_a_flat_sequence(gemma):
    m = load(str(gemma))
    for bad in (2.7, [2.0, 3.0], [[2, 3], [4, 5]], ["2"], [True], [1, None], np.array([1.5])):
        with pytest.raises(ArgumentError, match="token id"):
            m.eval(bad)
    with pytest.raises(ArgumentError, match=r"token ids must be in \[0, 320\), got 320"):
        m.eval([1, 320])
    with pytest.raises(ArgumentError, match=f"got {2**70}"):
        m.eval([2**70])
    with pytest.raises(ArgumentError, match="at least one token"):
        m.eval([])
    assert isinstance(ArgumentError("x"), ValueError) and isinstance(ArgumentError("x"), TypeError)
    assert m.n_past == 0
    m.eval(np.array([1, 2], dtype=np.uint16))
    m.eval(np.int64(3))
    assert m.n_past == 3
    with pytest.raises(ArgumentError, match="n_past"):
        m.truncate(1.5)


@pytest.mark.parametrize("kw,message", [
    (dict(n_ctx=1.5), "n_ctx must be an integer in [1, 16777216], got 1.5 (float)"),
    (dict(n_ctx=0), "n_ctx must be in [1, 16777216], got 0"),
    (dict(n_ctx=-1), "n_ctx must be in [1, 16777216], got -1"),
    (dict(n_ctx=2**64), f"n_ctx must be in [1, 16777216], got {2**64}"),
    (dict(n_ctx="64"), "n_ctx must be an integer"),
    (dict(n_ctx=True), "n_ctx must be an integer"),
    (dict(n_threads=2**40), f"n_threads must be in [0, 1024], got {2**40}"),
    (dict(n_threads=-1), "n_threads must be in [0, 1024], got -1"),
    (dict(n_batch=0), "n_batch must be in [1, 16777216], got 0"),
    (dict(n_keep=16), "n_keep must be in [0, 15], got 16"),
    (dict(kv_type="q4_0"), "kv_type must be one of f32, f16, q8_0, got 'q4_0'"),
    (dict(kv_type=["f16"]), "kv_type must be one of"),
])
def test_bad_load_arguments(gemma, kw, message):
    with pytest.raises(ArgumentError) as info:
        load(str(gemma), **kw)
    assert str(info.value) == message or str(info.value).startswith(message)
    assert len(str(info.value)) < 200  # the argument, not a dump of the tensors


def test_memory_is_checked_before_allocating(gemma, monkeypatch):
    import pyggml.runtime.model as M

    monkeypatch.setattr(M, "_physical_memory", lambda: 1 << 20)
    with pytest.raises(ResourceError, match=r"n_ctx = 4096 needs .* KV cache \(f16\).*more than this machine's 1.0 MiB"):
        Model.load(gemma, n_ctx=4096, n_threads=1)
    assert issubclass(ResourceError, MemoryError) and issubclass(ResourceError, PyggmlError)


@pytest.mark.real_model
def test_huge_context_on_the_real_model(gemma_path):
    with pytest.raises(ResourceError, match=r"n_ctx = 16777216 needs .* GiB: a 288.0 GiB KV cache \(f16\)"):
        Model.load(gemma_path, n_ctx=2**24)


# ---------------------------------------------------------------- threads under resource limits

LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
import pyggml, pyggml.runtime.model
"""


def _limited(code: str, *args) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter with 8 MiB thread stacks (glibc sizes them from
    RLIMIT_STACK at start) under a 4 GiB address-space limit: 1000 threads cannot start."""
    import resource

    def limits():
        resource.setrlimit(resource.RLIMIT_STACK, (8 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(pyggml.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(LIMITED) + textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limits, env=env,
                          cwd=tempfile.gettempdir())  # not the source tree, whose pyggml/ has no _core when installed


@pytest.mark.skipif(os.environ.get("PYGGML_UNDER_ASAN") == "1", reason="ASan reserves terabytes of address space")
def test_too_many_threads_is_a_clear_error_not_a_hang(gemma):
    code = """
    try:
        pyggml.Model.load(sys.argv[1], n_ctx=64, n_threads=1000)
    except pyggml.ResourceError as e:
        print("refused:", e)
    pyggml.runtime.model._address_space_left = lambda: None  # now the threads really fail to start
    try:
        pyggml.Model.load(sys.argv[1], n_ctx=64, n_threads=1000)
    except pyggml.ResourceError as e:
        print("failed:", e)
    m = pyggml.Model.load(sys.argv[1], n_ctx=64, n_threads=2)
    print("then", m.eval([1, 2]).shape)
    import numpy as np
    print("quantize", pyggml.quantize(np.ones((4096, 64), np.float32), "Q8_0", n_threads=1000).shape)
    """
    r = _limited(code, gemma)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("refused:") and "1000 threads reserve" in lines[0] and "RLIMIT_AS" in lines[0]
    assert lines[1].startswith("failed:") and "cannot start thread" in lines[1] and "of 1000" in lines[1]
    assert lines[2] == "then (320,)" and lines[3] == "quantize (4096, 68)"


@pytest.mark.skipif(os.environ.get("PYGGML_UNDER_ASAN") == "1", reason="ASan reserves terabytes of address space")
def test_cli_with_too_many_threads(gemma):
    r = _limited("""
    from pyggml.cli import main
    sys.exit(main(["run", "-m", sys.argv[1], "-t", "1000", "-p", "hi", "-n", "2", "-c", "64"]))
    """, gemma)
    assert r.returncode == 1 and "pyggml: error: " in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---------------------------------------------------------------- the command line

def test_cli_info_on_tokens_of_the_wrong_type(gemma, tmp_path, capsys):
    path = edited(gemma, tmp_path, set_kv("tokenizer.ggml.tokens", U32, 7))
    assert main(["info", path]) == 1
    err = capsys.readouterr().err
    assert err == f"pyggml: error: {path}: tokenizer.ggml.tokens = 7: expected an array of strings\n"


def test_cli_info_prints_invalid_utf8_escaped(gemma, tmp_path, capsys):
    path = edited(gemma, tmp_path, set_kv("general.name", STR, "bad\udcff name"))
    assert main(["info", path]) == 0
    assert "bad\\udcff name" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["-c", "-1"], ["-t", "-2"], ["-b", "0"], ["-c", "1.5"], ["-n", "-3"]])
def test_cli_refuses_bad_numbers_with_usage(gemma, capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(["run", "-m", str(gemma), "-p", "hi", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[0]}" in err and "Traceback" not in err


def test_cli_bad_file_and_context(gemma, tmp_path, capsys):
    assert main(["run", "-m", str(gemma), "-c", str(2**30), "-p", "hi"]) == 1
    assert "n_ctx must be in [1, 16777216]" in capsys.readouterr().err
    assert main(["run", "-m", str(gemma), "-f", str(tmp_path), "-p", "hi"]) == 1  # a directory as the prompt file
    assert capsys.readouterr().err.startswith("pyggml: error: ")
    bad = edited(gemma, tmp_path, set_kv("gemma3.block_count", STR, "three"))
    assert main(["run", "-m", bad, "-p", "hi", "-n", "1"]) == 1
    assert "gemma3.block_count = 'three': expected an integer" in capsys.readouterr().err

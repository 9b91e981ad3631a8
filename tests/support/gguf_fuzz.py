"""A structured GGUF mutator and the oracle every mutant must satisfy (tests/formats/test_fuzz_gguf.py).

A valid synthetic model (tests/support/synthetic_models.py) is parsed into its parts: header,
metadata key/values, tensor-info entries and the data section. A mutation changes one
part as an attacker or a broken writer would, and the file is written back:

  semantic   a metadata value replaced (another type, a boundary value, an array of
             another length or element type, a huge string), a key removed or added, a
             tensor's type, dimensions, offset or name changed, a tensor-info entry
             dropped (its data kept), NaN or infinity written into a value or a block scale
  bytes      after writing: a count, length, type id or offset overwritten with a
             boundary value, the file truncated, or bytes overwritten anywhere

Hypothesis chooses the mutation, the field and the value (draw_mutant takes its `data`).

The oracle (run_mutant) sends the file through what a user does with one: `pyggml info`
(with --check-tensors half the time), Model.load(...).eval(...) and
Tokenizer.from_gguf(...).encode(...).decode(...). Each must succeed or raise one of
pyggml's own errors; any other exception escapes, and logits must be finite.

`python tests/support/gguf_fuzz.py DIR` runs every DIR/*.gguf through the oracle and writes one
JSON line per file to DIR/results.jsonl (and the index it is working on to
DIR/progress), for the long run that keeps crashes and hangs in a subprocess.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import struct
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGUFValueType as VT

# ---------------------------------------------------------------- parse and write

_SCALARS = {
    VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I", VT.INT32: "<i",
    VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q", VT.FLOAT64: "<d",
}
_INT_RANGES = {
    VT.UINT8: (0, 2**8 - 1), VT.INT8: (-(2**7), 2**7 - 1), VT.UINT16: (0, 2**16 - 1), VT.INT16: (-(2**15), 2**15 - 1),
    VT.UINT32: (0, 2**32 - 1), VT.INT32: (-(2**31), 2**31 - 1), VT.UINT64: (0, 2**64 - 1), VT.INT64: (-(2**63), 2**63 - 1),
}


@dataclasses.dataclass
class KV:
    key: str
    vtype: int
    value: Any  # scalar, str, or list (arrays; nested arrays are lists of lists)
    itype: int | None = None  # array item type
    sub_itype: int | None = None  # item type of nested arrays


@dataclasses.dataclass
class TensorEntry:
    name: str
    ne: list
    type: int
    offset: int  # relative to the data section


@dataclasses.dataclass
class Doc:
    """A GGUF file as parts. `data` is the data section as the base file has it."""

    version: int
    kvs: list
    tensors: list
    data: bytes
    alignment: int = 32

    def copy(self) -> "Doc":
        return Doc(self.version, [dataclasses.replace(k) for k in self.kvs],
                   [dataclasses.replace(t, ne=list(t.ne)) for t in self.tensors], self.data, self.alignment)

    def kv(self, key: str) -> KV | None:
        return next((k for k in self.kvs if k.key == key), None)

    def tensor(self, name: str) -> TensorEntry:
        return next(t for t in self.tensors if t.name == name)

    def tensor_bytes(self, name: str) -> bytes:
        """The data of a tensor of the base layout (offsets and sizes as written)."""
        from pyggml.formats.types import GGMLType

        t = self.tensor(name)
        gt = GGMLType(t.type)
        n = int(np.prod(t.ne)) // gt.block_size * gt.type_size
        return self.data[t.offset : t.offset + n]

    def replace_tensor(self, name: str, type_id: int, raw: bytes) -> None:
        """Give tensor `name` a new type and data (same ne), laying the data section out again."""
        parts = {t.name: self.tensor_bytes(t.name) for t in self.tensors}
        parts[name] = bytes(raw)
        self.tensor(name).type = type_id
        data, pos = bytearray(), 0
        for t in self.tensors:
            t.offset = pos
            data += parts[t.name]
            data += b"\0" * (-len(data) % self.alignment)
            pos = len(data)
        self.data = bytes(data)


def parse(blob: bytes) -> Doc:
    """Parse a valid GGUF (the base files: trusted)."""
    pos = 0

    def take(fmt):
        nonlocal pos
        (v,) = struct.unpack_from(fmt, blob, pos)
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<Q")
        s = blob[pos : pos + n].decode("utf-8", "surrogateescape")
        pos += n
        return s

    def value(vtype):
        if vtype == VT.STRING:
            return string()
        if vtype == VT.ARRAY:
            itype, n = take("<I"), take("<Q")
            return itype, [value(itype) for _ in range(n)]
        return take(_SCALARS[VT(vtype)])

    assert blob[:4] == b"GGUF"
    pos = 4
    version, n_tensors, n_kv = take("<I"), take("<Q"), take("<Q")
    kvs = []
    for _ in range(n_kv):
        key = string()
        vtype = take("<I")
        v = value(vtype)
        if vtype == VT.ARRAY:
            itype, items = v
            sub = items[0][0] if itype == VT.ARRAY and items else None
            if itype == VT.ARRAY:
                items = [x[1] for x in items]
            kvs.append(KV(key, vtype, items, itype, sub))
        else:
            kvs.append(KV(key, vtype, v))
    tensors = []
    for _ in range(n_tensors):
        name = string()
        n_dims = take("<I")
        ne = [take("<Q") for _ in range(n_dims)]
        tensors.append(TensorEntry(name, ne, take("<I"), take("<Q")))
    align = next((k.value for k in kvs if k.key == "general.alignment"), 32)
    data_offset = -(-pos // align) * align
    return Doc(version, kvs, tensors, blob[data_offset:], align)


@dataclasses.dataclass
class Field:
    """Where write() put a number: for the byte-level mutations."""

    pos: int
    fmt: str  # "<I" or "<Q"
    label: str


def _pack_value(vtype, value, itype=None, sub_itype=None) -> bytes:
    if vtype == VT.STRING:
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        return struct.pack("<Q", len(raw)) + raw
    if vtype == VT.ARRAY:
        head = struct.pack("<IQ", itype, len(value))
        if itype == VT.ARRAY:
            return head + b"".join(_pack_value(VT.ARRAY, v, sub_itype) for v in value)
        if itype in _SCALARS and itype != VT.BOOL and len(value) > 16:
            return head + np.asarray(value).astype(_SCALARS[VT(itype)]).tobytes()
        return head + b"".join(_pack_value(itype, v) for v in value)
    return struct.pack(_SCALARS[VT(vtype)], value)


def write(doc: Doc) -> tuple[bytes, list]:
    """The file's bytes, and the positions of its counts, lengths, type ids and offsets."""
    out = bytearray(b"GGUF")
    fields: list[Field] = []

    def num(fmt, v, label):
        fields.append(Field(len(out), fmt, label))
        out.extend(struct.pack(fmt, v))

    num("<I", doc.version, "version")
    num("<Q", len(doc.tensors), "tensor count")
    num("<Q", len(doc.kvs), "metadata count")
    for kv in doc.kvs:
        key = kv.key.encode("utf-8", "surrogateescape")
        num("<Q", len(key), f"length of key {kv.key}")
        out.extend(key)
        num("<I", kv.vtype, f"value type of {kv.key}")
        if kv.vtype == VT.STRING:
            fields.append(Field(len(out), "<Q", f"string length of {kv.key}"))
        elif kv.vtype == VT.ARRAY:
            fields.append(Field(len(out), "<I", f"item type of {kv.key}"))
            fields.append(Field(len(out) + 4, "<Q", f"array length of {kv.key}"))
            if kv.itype == VT.STRING and kv.value:
                fields.append(Field(len(out) + 12, "<Q", f"length of the first string of {kv.key}"))
        out.extend(_pack_value(kv.vtype, kv.value, kv.itype, kv.sub_itype))
    for t in doc.tensors:
        name = t.name.encode("utf-8", "surrogateescape")
        num("<Q", len(name), f"name length of {t.name}")
        out.extend(name)
        num("<I", len(t.ne), f"n_dims of {t.name}")
        for d, n in enumerate(t.ne):
            num("<Q", n, f"ne[{d}] of {t.name}")
        num("<I", t.type, f"type of {t.name}")
        num("<Q", t.offset, f"offset of {t.name}")
    align = doc.alignment if isinstance(doc.alignment, int) and 0 < doc.alignment <= 4096 else 32
    out.extend(b"\0" * (-len(out) % align))
    out.extend(doc.data)
    return bytes(out), fields


# ---------------------------------------------------------------- values

U32_EDGES = [0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 16, 31, 32, 255, 256, 2**31 - 1, 2**31, 2**32 - 1]
U64_EDGES = [0, 1, 2, 3, 31, 32, 33, 255, 4096, 2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
INT_EDGES = [0, 1, -1, 2, 3, 7, 8, 31, 32, 63, 64, 255, 256, 1024, 2**15, 2**16, 2**24, 2**31 - 1, 2**31, 2**32,
             2**63 - 1, -(2**31), -(2**63), 2**64 - 1]
FLOAT_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, 1e-6, 1e6, 1e30, 1e38, 3.5e38, 1e300, float("inf"), float("-inf"),
               float("nan")]
STRINGS = ["", "x", "none", "linear", "yarn", "llama", "gpt2", "gemma3", "qwen2", "mistral", "default", "qwen2-x",
           "<s>", "\u2581", "\x00", "\udcff", "a\udc80b", "\ufffd" * 3]
VALUE_TYPES = [VT.UINT8, VT.INT8, VT.UINT16, VT.INT16, VT.UINT32, VT.INT32, VT.FLOAT32, VT.BOOL, VT.STRING,
               VT.ARRAY, VT.UINT64, VT.INT64, VT.FLOAT64]

# Keys the loader or the tokenizer reads, which a mutant may add when the file lacks them.
EXTRA_KEYS = [
    "{a}.rope.scaling.type", "{a}.rope.scaling.factor", "{a}.attention.scale", "{a}.final_logit_softcapping",
    "{a}.attn_logit_softcapping", "{a}.attention.sliding_window", "{a}.attention.sliding_window_pattern",
    "{a}.rope.freq_base_swa", "{a}.attention.key_length", "{a}.attention.value_length",
    "{a}.rope.dimension_count", "{a}.attention.head_count_kv", "general.alignment",
    "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.pad_token_id",
    "tokenizer.ggml.unknown_token_id", "tokenizer.chat_template", "tokenizer.ggml.pre", "tokenizer.ggml.merges",
    "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
]


def _fits(vtype, v) -> bool:
    lo, hi = _INT_RANGES[VT(vtype)]
    return lo <= v <= hi


def draw_int(data, st, vtype, around=None) -> int:
    lo, hi = _INT_RANGES[VT(vtype)]
    edges = INT_EDGES + ([around - 1, around + 1, around * 2, around // 2, -around] if isinstance(around, int) else [])
    edges = [v for v in edges if lo <= v <= hi]
    return data.draw(st.one_of(st.sampled_from(edges), st.integers(lo, hi)))


def draw_float(data, st, vtype, around=None) -> float:
    edges = FLOAT_EDGES + ([around * 2, -around, around / 1e6] if isinstance(around, float) else [])
    v = data.draw(st.one_of(st.sampled_from(edges), st.floats(allow_nan=True, allow_infinity=True)))
    if vtype == VT.FLOAT32 and abs(v) > 3.4e38 and v == v:
        v = float("inf") if v > 0 else float("-inf")
    return v


def draw_string(data, st) -> str:
    return data.draw(st.one_of(
        st.sampled_from(STRINGS),
        st.text(max_size=40),
        st.integers(1, 20).map(lambda k: "a" * (1 << k)),  # up to 1 MiB
    ))


def draw_value(data, st, like: KV | None = None, depth: int = 0) -> tuple:
    """(vtype, value, itype, sub_itype): a new value, often of the original's type."""
    if like is not None and data.draw(st.booleans()):
        vtype = like.vtype
    else:
        vtype = data.draw(st.sampled_from(VALUE_TYPES if depth == 0 else VALUE_TYPES[:-4] + VALUE_TYPES[-3:]))
    around = like.value if like is not None and like.vtype == vtype else None
    if vtype in _INT_RANGES:
        return vtype, draw_int(data, st, vtype, around if isinstance(around, int) else None), None, None
    if vtype in (VT.FLOAT32, VT.FLOAT64):
        return vtype, draw_float(data, st, vtype, around if isinstance(around, float) else None), None, None
    if vtype == VT.BOOL:
        return vtype, data.draw(st.booleans()), None, None
    if vtype == VT.STRING:
        return vtype, draw_string(data, st), None, None
    # an array: the original with one element changed or its length changed, or a new one
    if like is not None and like.vtype == VT.ARRAY and like.value and data.draw(st.booleans()):
        items = list(like.value)
        how = data.draw(st.sampled_from(["element", "shorter", "longer", "empty", "one"]))
        if how == "element":
            i = data.draw(st.integers(0, len(items) - 1))
            if like.itype == VT.STRING:
                items[i] = data.draw(st.one_of(st.sampled_from(items[:64]), st.just(draw_string(data, st))))
            elif like.itype in _INT_RANGES:
                items[i] = draw_int(data, st, like.itype, items[i])
            elif like.itype in (VT.FLOAT32, VT.FLOAT64):
                items[i] = draw_float(data, st, like.itype)
            elif like.itype == VT.BOOL:
                items[i] = not items[i]
        elif how == "shorter":
            items = items[: data.draw(st.integers(0, len(items) - 1))]
        elif how == "longer":
            items = items + items[: data.draw(st.integers(1, len(items)))]
        elif how == "empty":
            items = []
        else:
            items = items[:1]
        return VT.ARRAY, items, like.itype, like.sub_itype
    itype = data.draw(st.sampled_from([t for t in VALUE_TYPES if t != VT.ARRAY] + ([VT.ARRAY] if depth == 0 else [])))
    n = data.draw(st.sampled_from([0, 1, 2, 3, 18, 64]))
    if itype == VT.ARRAY:
        return VT.ARRAY, [[1, 2]] * n, VT.ARRAY, VT.INT32
    items = [draw_item(data, st, itype) for _ in range(min(n, 3))]
    items = (items * (n // max(len(items), 1) + 1))[:n]
    return VT.ARRAY, items, itype, None


def draw_item(data, st, itype):
    """An array item of type itype (short strings: arrays repeat their items)."""
    if itype in _INT_RANGES:
        return draw_int(data, st, itype)
    if itype in (VT.FLOAT32, VT.FLOAT64):
        return draw_float(data, st, itype)
    if itype == VT.BOOL:
        return data.draw(st.booleans())
    return data.draw(st.one_of(st.sampled_from(STRINGS), st.text(max_size=20)))


# ---------------------------------------------------------------- mutations

SEMANTIC = ["kv_value"] * 5 + ["kv_delete", "kv_add", "kv_add", "tensor_type", "tensor_dims", "tensor_offset",
                               "tensor_name", "tensor_drop", "data_nonfinite", "data_nonfinite", "data_bytes"]
BYTE_LEVEL = ["field", "field", "truncate", "bytes"]

# binary16 and float32 bit patterns that are not finite
_F16_BAD = [0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF]
_F32_BAD = [0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001]


def _arch_key_weight(doc: Doc, kv: KV) -> bool:
    arch = doc.kv("general.architecture")
    return arch is not None and isinstance(arch.value, str) and kv.key.startswith(arch.value + ".")


def mutate_doc(data, st, doc: Doc, how: str) -> str:
    """Apply one semantic mutation to doc in place; returns what it did."""
    from pyggml.formats.types import GGMLType

    if how in ("kv_value", "kv_delete") and not doc.kvs:
        return "no keys"
    if how in ("kv_value", "kv_delete"):
        # hyper-parameters and tokenizer keys first: they are what the loader reads
        keys = [k for k in doc.kvs if _arch_key_weight(doc, k) or k.key.startswith(("tokenizer.", "general.arch"))]
        kv = data.draw(st.sampled_from(keys if keys and data.draw(st.integers(0, 3)) else doc.kvs))
        if how == "kv_delete":
            doc.kvs.remove(kv)
            return f"delete {kv.key}"
        kv.vtype, kv.value, kv.itype, kv.sub_itype = draw_value(data, st, kv)
        return f"{kv.key} = {_short(kv.value)} (type {VT(kv.vtype).name})"
    if how == "kv_add":
        arch = doc.kv("general.architecture")
        key = data.draw(st.sampled_from(EXTRA_KEYS)).format(a=arch.value if arch is not None else "llama")
        old = doc.kv(key)
        vtype, value, itype, sub = draw_value(data, st, old)
        if old is not None:
            old.vtype, old.value, old.itype, old.sub_itype = vtype, value, itype, sub
        else:
            doc.kvs.append(KV(key, vtype, value, itype, sub))
        if key == "general.alignment" and type(value) is int and 0 < value <= 4096 and not value & (value - 1):
            doc.alignment = value  # lay the data out with it (a bad one is left to the reader to refuse)
        return f"add {key} = {_short(value)} (type {VT(vtype).name})"
    if not doc.tensors:
        return "no tensors"
    t = data.draw(st.sampled_from(doc.tensors))
    if how == "tensor_type":
        t.type = data.draw(st.one_of(st.sampled_from([int(x) for x in GGMLType]),
                                     st.sampled_from([4, 5, 16, 19, 29, 31, 39, 40, 41, 99, 2**31, 2**32 - 1])))
        return f"type of {t.name} = {t.type}"
    if how == "tensor_dims":
        what = data.draw(st.sampled_from(["value", "value", "swap", "add", "remove"])) if t.ne else "add"
        if what == "value":
            d = data.draw(st.integers(0, len(t.ne) - 1))
            n = t.ne[d]
            t.ne[d] = data.draw(st.sampled_from([0, 1, n - 1, n + 1, n * 2, n // 2, n + 32, 2**32, 2**63, 2**64 - 1]))
        elif what == "swap":
            t.ne.reverse()
        elif what == "add":
            t.ne.append(data.draw(st.sampled_from([1, 2, 2**32])))
        elif t.ne:
            t.ne.pop()
        t.ne = [n % 2**64 for n in t.ne]
        return f"ne of {t.name} = {t.ne}"
    if how == "tensor_offset":
        others = [x.offset for x in doc.tensors]
        a = doc.alignment if isinstance(doc.alignment, int) and 0 < doc.alignment <= 4096 else 32
        t.offset = data.draw(st.sampled_from(
            [0, 1, t.offset + 1, t.offset + a, max(0, t.offset - a), 2**40, 2**64 - 1, len(doc.data)] + others)) % 2**64
        return f"offset of {t.name} = {t.offset}"
    if how == "tensor_name":
        n_layer = sum(1 for x in doc.tensors if x.name.endswith("attn_norm.weight"))
        t.name = data.draw(st.sampled_from([x.name for x in doc.tensors] + [
            "", "token_embd.weight", "output.weight", f"blk.{n_layer}.attn_q.weight", "blk.x.attn_q.weight",
            "blk.-1.ffn_up.weight", t.name + "_", "a" * 4096]))
        return f"rename to {_short(t.name)}"
    if how == "tensor_drop":
        doc.tensors.remove(t)
        return f"drop the tensor-info entry of {t.name} (data kept)"
    # the data of tensor t
    try:
        gt = GGMLType(t.type)
    except ValueError:
        return "unknown type"
    n_bytes = int(np.prod(t.ne, dtype=object)) // gt.block_size * gt.type_size
    if n_bytes <= 0 or t.offset + n_bytes > len(doc.data):
        return "no data"
    blob = bytearray(doc.data)
    if how == "data_bytes":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[t.offset + data.draw(st.integers(0, n_bytes - 1))] = data.draw(st.integers(0, 255))
        doc.data = bytes(blob)
        return f"overwrite bytes of {t.name}"
    unit = gt.type_size
    i = data.draw(st.integers(0, n_bytes // unit - 1))
    pos = t.offset + i * unit
    if gt == GGMLType.F32:
        struct.pack_into("<I", blob, pos, data.draw(st.sampled_from(_F32_BAD)))
    elif gt in (GGMLType.F16, GGMLType.BF16):
        struct.pack_into("<H", blob, pos, data.draw(st.sampled_from(_F16_BAD + [0x7F80, 0xFF80])))
    elif gt == GGMLType.Q8_K:
        struct.pack_into("<I", blob, pos, data.draw(st.sampled_from(_F32_BAD)))
    else:
        # the block's d (or, for Q2_K/Q3_K/Q6_K where d sits at the end, a scale field there)
        at = {GGMLType.Q2_K: unit - 4, GGMLType.Q3_K: unit - 2, GGMLType.Q6_K: unit - 2}.get(gt, 0)
        at += data.draw(st.sampled_from([0, 2])) if gt in (GGMLType.Q4_1, GGMLType.Q5_1, GGMLType.Q2_K,
                                                              GGMLType.Q4_K, GGMLType.Q5_K) else 0
        struct.pack_into("<H", blob, pos + at, data.draw(st.sampled_from(_F16_BAD)))
    doc.data = bytes(blob)
    return f"non-finite value or scale in unit {i} of {t.name} ({gt.name})"


def mutate_bytes(data, st, blob: bytes, fields: list, how: str) -> tuple[bytes, str]:
    out = bytearray(blob)
    if how == "field" and fields:
        f = data.draw(st.sampled_from(fields))
        (old,) = struct.unpack_from(f.fmt, out, f.pos)
        if f.fmt == "<I":
            edges = U32_EDGES + [v for v in (old - 1, old + 1) if 0 <= v < 2**32]
            v = data.draw(st.one_of(st.sampled_from(edges), st.integers(0, 2**32 - 1)))
        else:
            edges = U64_EDGES + [v for v in (old - 1, old + 1, old * 2, len(blob)) if 0 <= v < 2**64]
            v = data.draw(st.one_of(st.sampled_from(edges), st.integers(0, 2**64 - 1)))
        struct.pack_into(f.fmt, out, f.pos, v)
        return bytes(out), f"{f.label} = {v} (was {old})"
    if how == "truncate":
        cuts = [f.pos for f in fields] + [f.pos + 2 for f in fields]
        n = data.draw(st.one_of(st.sampled_from(cuts), st.integers(0, len(blob) - 1)))
        return bytes(out[:n]), f"truncate at {n} of {len(blob)}"
    header_end = fields[-1].pos + 8 if fields else len(blob)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.one_of(st.integers(0, max(0, header_end - 1)), st.integers(0, len(blob) - 1)))
        out[pos] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, data.draw(st.integers(0, 255))]))
    return bytes(out), "overwrite bytes"


def draw_mutant(data, bases: dict) -> tuple[str, bytes, list]:
    """(base name, the mutant's bytes, what was done): one to three mutations of a base."""
    from hypothesis import strategies as st

    name = data.draw(st.sampled_from(sorted(bases)), label="base")
    doc = bases[name].copy()
    steps = []
    for _ in range(data.draw(st.integers(1, 2))):
        how = data.draw(st.sampled_from(SEMANTIC))
        steps.append(mutate_doc(data, st, doc, how))
    blob, fields = write(doc)
    if data.draw(st.integers(0, 3)) == 0:
        how = data.draw(st.sampled_from(BYTE_LEVEL))
        blob, step = mutate_bytes(data, st, blob, fields, how)
        steps.append(step)
    return name, blob, steps


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- the oracle

TEXT = "Hello world, 42! <s> def add(a, b):\n    return a + b \u00e9\u4e2d"
TOKENS = [1, 5, 9, 2, 7]


def run_mutant(path: str, check_tensors: bool = False) -> dict:
    """Every way a user reads the file: each stage succeeds or raises a pyggml error.
    Returns {stage: "ok" or the error's class name}; anything else is raised (a bug)."""
    import pyggml
    from pyggml.cli import main

    out = {}
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # strict: an unprintable string fails
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["info", path] + (["--check-tensors"] if check_tensors else []))
        stdout.flush()
    assert rc in (0, 1), f"pyggml info returned {rc}"
    out["info"] = "ok" if rc == 0 else "error"

    try:
        m = pyggml.Model.load(path, n_ctx=32, n_threads=1, n_batch=4, check_tensors=check_tensors)
        logits = m.eval([t % m.n_vocab for t in TOKENS], all_logits=True)
        assert logits.shape == (len(TOKENS), m.n_vocab)
        assert np.isfinite(logits).all(), "eval returned non-finite logits"
        out["model"] = "ok"
    except pyggml.PyggmlError as e:
        out["model"] = type(e).__name__

    try:
        tok = pyggml.Tokenizer.from_gguf(path)
        ids = tok.encode(TEXT, parse_special=True)
        assert all(0 <= i < tok.n_vocab for i in ids), "token id outside the vocabulary"
        tok.decode(ids)
        out["tokenizer"] = "ok"
    except pyggml.PyggmlError as e:
        out["tokenizer"] = type(e).__name__
    return out


def _worker(directory: Path) -> None:
    """Run every mutant in `directory` (the long run's subprocess)."""
    files = sorted(directory.glob("*.gguf"))
    with open(directory / "results.jsonl", "w") as results:
        for i, f in enumerate(files):
            (directory / "progress").write_text(f.name)
            meta = json.loads(f.with_suffix(".json").read_text())
            try:
                outcome = run_mutant(str(f), check_tensors=meta["check_tensors"])
            except BaseException as e:  # noqa: BLE001 - every escape is a finding
                outcome = {"failure": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
            results.write(json.dumps({"file": f.name, **outcome}) + "\n")
            results.flush()
            if "failure" not in outcome:
                f.unlink()
                f.with_suffix(".json").unlink()
    (directory / "progress").write_text("done")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    _worker(Path(sys.argv[1]))

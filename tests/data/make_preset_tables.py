"""Record llama.cpp's per-tensor type choice for each quantization preset (golden data).

For each model architecture in MODELS this asks llama.cpp's own quantizer (the libllama bundled
with llama-cpp-python, `llama_model_quantize` with `dry_run`, so nothing is quantized or written)
which type it gives every tensor under every preset, and stores the tables compactly in
tests/data/preset_types.json.gz. tests/quantization/test_policy.py compares pyggml's presets against them without
needing llama.cpp.

Sources: the real models (their tensor names, shapes and hyperparameters are what matter; in a
dry run llama.cpp reads no tensor data, so the quantized files serve as well as an F16 copy: the
type it picks depends on name, shape, layer and file type only, and for the tensors it leaves
alone -- 1-D norms -- the source type is F32 either way), plus llama-architecture files with
the shapes of well-known checkpoints, written as sparse files holding only the header.

    python3 tests/data/make_preset_tables.py
"""

from __future__ import annotations

import ctypes
import gzip
import json
import os
import re
import sys
import tempfile

import gguf
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "preset_types.json.gz")
MODELS_DIR = os.path.expanduser("~/.cache/pyggml/models")

# llama.cpp's llama_ftype values for the presets pyggml mirrors
FTYPES = {
    "F16": 1, "BF16": 32, "Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q5_1": 9, "Q8_0": 7,
    "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
    "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "IQ4_NL": 25, "IQ4_XS": 30,
    "IQ2_XXS": 19, "IQ2_XS": 20, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24, "IQ3_S": 26, "IQ3_M": 27,
    "IQ2_S": 28, "IQ2_M": 29, "IQ1_M": 31, "TQ1_0": 36, "TQ2_0": 37, "MXFP4_MOE": 38, "Q1_0": 40,
}

# shapes of public checkpoints (name: hyperparameters; llama architecture unless `arch` says)
SYNTHETIC = {
    "llama-3-8b": dict(n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8, n_vocab=128256, tied=False),
    "mistral-7b": dict(n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8, n_vocab=32768, tied=False),
    "tinyllama-1.1b": dict(n_layer=22, n_embd=2048, n_ff=5632, n_head=32, n_head_kv=4, n_vocab=32000, tied=False),
    "llama-3.2-1b": dict(n_layer=16, n_embd=2048, n_ff=8192, n_head=32, n_head_kv=8, n_vocab=128256, tied=True),
    "qwen3-4b": dict(arch="qwen3", n_layer=36, n_embd=2560, n_ff=9728, n_head=32, n_head_kv=8, head_dim=128,
                     n_vocab=151936, tied=True),
    "smollm3-3b": dict(arch="smollm3", n_layer=36, n_embd=2048, n_ff=11008, n_head=16, n_head_kv=4,
                       n_vocab=128256, tied=True),
    "ministral3-3b": dict(arch="mistral3", n_layer=26, n_embd=3072, n_ff=9216, n_head=32, n_head_kv=8,
                          head_dim=128, n_vocab=131072, tied=True),
    "phi-3-mini": dict(arch="phi3", n_layer=32, n_embd=3072, n_ff=8192, n_head=32, n_head_kv=32, n_vocab=32064,
                       tied=False),
    "phi-4-mini": dict(arch="phi3", n_layer=32, n_embd=3072, n_ff=8192, n_head=24, n_head_kv=8, n_vocab=200064,
                       tied=True),
    "mixtral-8x7b": dict(n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8, n_vocab=32000, tied=False,
                         n_expert=8, n_expert_used=2),
    "qwen3-30b-a3b": dict(arch="qwen3moe", n_layer=48, n_embd=2048, n_ff=6144, n_head=32, n_head_kv=4,
                          head_dim=128, n_vocab=151936, tied=False, n_expert=128, n_expert_used=8, n_ff_exp=768),
}

_LINE = re.compile(r"\]\s+(\S+)\s+- \[([^\]]*)\], type =\s*(\S+), size =[^\n(]*(?:\((\S+)\))?")


def dry_run(path: str, ftype: int) -> dict:
    """{tensor name: type name} that llama.cpp would write for `ftype`."""
    import llama_cpp

    lines: list = []

    @llama_cpp.llama_log_callback
    def on_log(level, text, user_data):
        lines.append(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(on_log, ctypes.c_void_p())
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.dry_run = True
    params.nthread = 1
    rc = llama_cpp.llama_model_quantize(path.encode(), os.devnull.encode(), ctypes.byref(params))
    llama_cpp.llama_log_set(ctypes.cast(0, llama_cpp.llama_log_callback), ctypes.c_void_p())
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed for {path}: {''.join(lines)[-2000:]}")
    types = {}
    for line in "".join(lines).splitlines():
        m = _LINE.search(line)
        if m:
            name, _shape, src, dst = m.groups()
            types[name] = (dst or src).upper()
    return types


def tensor_table(path: str):
    """(hparams, [[name, ne0, ne1, ...], ...]) read from a GGUF header."""
    r = gguf.GGUFReader(path)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()

    def u(key, default=None):
        f = r.fields.get(f"{arch}.{key}")
        return default if f is None else int(f.parts[-1][0])

    hp = dict(arch=arch, n_layer=u("block_count"), n_head=u("attention.head_count"),
              n_head_kv=u("attention.head_count_kv"), n_expert=u("expert_count", 0))
    tensors = [[t.name, *[int(x) for x in t.shape]] for t in r.tensors]
    return hp, tensors


def write_sparse(path: str, n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, tied, arch="llama", head_dim=0,
                 n_expert=0, n_expert_used=0, n_ff_exp=0) -> None:
    """A GGUF with every F16 tensor declared and no data (a sparse file of the right size)."""
    head_dim = head_dim or n_embd // n_head
    n_ff_exp = n_ff_exp or n_ff
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(4096)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_vocab_size(n_vocab)
    w.add_file_type(1)
    if n_expert:
        w.add_expert_count(n_expert)
        w.add_expert_used_count(n_expert_used)
        w.add_expert_feed_forward_length(n_ff_exp)
    kv, q = head_dim * n_head_kv, head_dim * n_head
    shapes = [("token_embd.weight", (n_vocab, n_embd)), ("output_norm.weight", (n_embd,))]
    if not tied:
        shapes.append(("output.weight", (n_vocab, n_embd)))
    for i in range(n_layer):
        shapes += [(f"blk.{i}.attn_norm.weight", (n_embd,))]
        if arch == "phi3":  # fused q/k/v and gate/up
            shapes += [(f"blk.{i}.attn_qkv.weight", (q + 2 * kv, n_embd))]
        else:
            shapes += [(f"blk.{i}.attn_q.weight", (q, n_embd)), (f"blk.{i}.attn_k.weight", (kv, n_embd)),
                       (f"blk.{i}.attn_v.weight", (kv, n_embd))]
        shapes += [(f"blk.{i}.attn_output.weight", (n_embd, q)), (f"blk.{i}.ffn_norm.weight", (n_embd,))]
        if arch in ("qwen3", "qwen3moe"):
            shapes += [(f"blk.{i}.attn_q_norm.weight", (head_dim,)), (f"blk.{i}.attn_k_norm.weight", (head_dim,))]
        if n_expert:
            shapes += [
                (f"blk.{i}.ffn_gate_inp.weight", (n_expert, n_embd)),
                (f"blk.{i}.ffn_gate_exps.weight", (n_expert, n_ff_exp, n_embd)),
                (f"blk.{i}.ffn_up_exps.weight", (n_expert, n_ff_exp, n_embd)),
                (f"blk.{i}.ffn_down_exps.weight", (n_expert, n_embd, n_ff_exp)),
            ]
        elif arch == "phi3":
            shapes += [(f"blk.{i}.ffn_up.weight", (2 * n_ff, n_embd)), (f"blk.{i}.ffn_down.weight", (n_embd, n_ff))]
        else:
            shapes += [
                (f"blk.{i}.ffn_gate.weight", (n_ff, n_embd)), (f"blk.{i}.ffn_up.weight", (n_ff, n_embd)),
                (f"blk.{i}.ffn_down.weight", (n_embd, n_ff)),
            ]
    total = 0
    for name, shape in shapes:
        dt = np.float32 if len(shape) == 1 or "ffn_gate_inp" in name else np.float16
        nbytes = int(np.prod(shape)) * np.dtype(dt).itemsize
        w.add_tensor_info(name, shape, np.dtype(dt), nbytes)
        total += gguf.GGUFWriter.ggml_pad(nbytes, w.data_alignment)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    fout = w.fout[0]
    w.write_padding(fout, fout.tell())
    end = fout.tell() + total
    w.close()
    os.truncate(path, end)


def record(path: str, label: str) -> dict:
    hp, tensors = tensor_table(path)
    presets = {}
    for preset, ftype in FTYPES.items():
        chosen = dry_run(path, ftype)
        presets[preset] = " ".join(chosen[t[0]] for t in tensors)
        print(f"{label:16s} {preset:7s} {len(chosen)} tensors", file=sys.stderr)
    return dict(hparams=hp, tensors=tensors, presets=presets)


def main() -> None:
    import llama_cpp

    tables = {"llama_cpp_python": llama_cpp.__version__, "models": {}}
    for label, fname in [("gemma3-270m", "gemma-3-270m-q4_k_m.gguf"),
                         ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")]:
        tables["models"][label] = record(os.path.join(MODELS_DIR, fname), label)
    with tempfile.TemporaryDirectory() as tmp:
        for label, hp in SYNTHETIC.items():
            path = os.path.join(tmp, label + ".gguf")
            write_sparse(path, **hp)
            tables["models"][label] = record(path, label)
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:
        f.write(json.dumps(tables, separators=(",", ":")).encode() + b"\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

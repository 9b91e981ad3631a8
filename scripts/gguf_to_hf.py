"""Dequantize a GGUF model into a Hugging Face-layout directory (the inverse of `pyggml convert`).

Gives conversion a realistic source without downloading a checkpoint: the real GGUF's tensors
are dequantized, un-permuted (llama Q/K rows back to rotate-half order), Gemma norms stored as
w - 1 again, and written as safetensors (F16 by default) with config.json, a tokenizer
(tokenizer.model rebuilt as a SentencePiece protobuf for "llama" vocabularies, tokenizer.json for
byte-level BPE ones), tokenizer_config.json with the chat template, and generation_config.json.
Tensors stream one at a time.

    python3 scripts/gguf_to_hf.py model.gguf out_dir [--dtype F16|BF16|F32]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pyggml.formats.gguf_file import GGUFFile  # noqa: E402

HF_CLASS = {"llama": ("LlamaForCausalLM", "llama"), "qwen2": ("Qwen2ForCausalLM", "qwen2"),
            "gemma3": ("Gemma3ForCausalLM", "gemma3_text")}
LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias", "attn_v.bias": "self_attn.v_proj.bias",
    "attn_q_norm.weight": "self_attn.q_norm.weight", "attn_k_norm.weight": "self_attn.k_norm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def hf_name(arch: str, name: str) -> str:
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    parts = name.split(".", 2)
    if parts[0] != "blk":
        raise ValueError(f"no Hugging Face name for {name}")
    rest = parts[2]
    if arch == "gemma3":
        extra = {"post_attention_norm.weight": "post_attention_layernorm.weight",
                 "ffn_norm.weight": "pre_feedforward_layernorm.weight",
                 "post_ffw_norm.weight": "post_feedforward_layernorm.weight"}
    else:
        extra = {"ffn_norm.weight": "post_attention_layernorm.weight"}
    return f"model.layers.{parts[1]}." + {**LAYER_NAMES, **extra}[rest]


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Interleaved RoPE pairs (2i, 2i+1) back to Hugging Face's (i, i + d/2) rows."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_tensor(arch: str, md: dict, name: str, x: np.ndarray) -> np.ndarray:
    if arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):
        n = md["llama.attention.head_count"]
        if name.endswith("attn_k.weight"):
            n = md.get("llama.attention.head_count_kv", n)
        x = unpermute(x, n)
    if arch == "gemma3" and name.endswith("norm.weight"):
        x = x - np.float32(1.0)
    return x


def _to_dtype(x: np.ndarray, dtype: str) -> bytes:
    if dtype == "F32":
        return np.ascontiguousarray(x, "<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(x, "<f2").tobytes()
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()


def write_tensors(g: GGUFFile, arch: str, out_dir: str, dtype: str) -> None:
    itemsize = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    header, off = {}, 0
    for t in g.tensors:
        n = t.n_elements * itemsize
        header[hf_name(arch, t.name)] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for t in g.tensors:
            f.write(_to_dtype(hf_tensor(arch, g.metadata, t.name, g.array(t.name)), dtype))


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    return _varint(num << 3 | wire) + payload


def _pb_str(num: int, s) -> bytes:
    b = s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")
    return _field(num, 2, _varint(len(b)) + b)


def _pb_int(num: int, v: int) -> bytes:
    return _field(num, 0, _varint(int(v)))


def sentencepiece_model(md: dict) -> bytes:
    """A SentencePiece ModelProto (BPE, byte fallback) holding the GGUF vocabulary."""
    tokens, scores, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.scores"], md["tokenizer.ggml.token_type"]
    out = bytearray()
    for tok, score, typ in zip(tokens, scores, types):
        piece = _pb_str(1, tok) + _field(2, 5, struct.pack("<f", score)) + _pb_int(3, typ)
        out += _field(1, 2, _varint(len(piece)) + piece)

    def sid(key, default):
        return md.get(f"tokenizer.ggml.{key}_token_id", default)

    trainer = _pb_int(3, 2) + _pb_int(4, len(tokens)) + _pb_int(35, 1)
    for field, key in ((40, "unknown"), (41, "bos"), (42, "eos"), (43, "padding")):
        i = sid(key, -1)
        trainer += _pb_int(field, i)
        if i >= 0:  # the piece strings name the special tokens (unk_piece = 45 ... pad_piece = 48)
            trainer += _pb_str(field + 5, tokens[i])
    add_prefix = md.get("tokenizer.ggml.add_space_prefix", True)
    normalizer = _pb_str(1, "identity") + _pb_int(3, int(bool(add_prefix))) + _pb_int(4, 0) + _pb_int(5, 1)
    out += _field(2, 2, _varint(len(trainer)) + trainer)
    out += _field(3, 2, _varint(len(normalizer)) + normalizer)
    return bytes(out)


def bpe_tokenizer_json(md: dict, arch: str) -> dict:
    tokens, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]
    vocab, added = {}, []
    for i, (tok, typ) in enumerate(zip(tokens, types)):
        if typ in (3, 4):
            added.append({"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": typ == 4, "special": typ == 3})
        elif typ != 5:
            vocab[tok] = i
    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if arch == "qwen2":
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": pre, "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": list(md["tokenizer.ggml.merges"])}}


def write_config(g: GGUFFile, arch: str, out_dir: str) -> None:
    md = g.metadata

    def k(key, default=None):
        return md.get(f"{arch}.{key}", default)

    n_embd, n_head = k("embedding_length"), k("attention.head_count")
    head_dim = k("attention.key_length", n_embd // n_head)
    cls, model_type = HF_CLASS[arch]
    tied = "output.weight" not in g
    cfg = {
        "architectures": [cls], "model_type": model_type, "hidden_size": n_embd,
        "intermediate_size": k("feed_forward_length"), "num_hidden_layers": k("block_count"),
        "num_attention_heads": n_head, "num_key_value_heads": k("attention.head_count_kv", n_head),
        "head_dim": head_dim, "vocab_size": g.tensor("token_embd.weight").shape[0],
        "max_position_embeddings": k("context_length"), "rms_norm_eps": k("attention.layer_norm_rms_epsilon"),
        "rope_theta": k("rope.freq_base", 10000.0), "tie_word_embeddings": tied, "torch_dtype": "float16",
    }
    if arch == "gemma3":
        cfg.update(sliding_window=k("attention.sliding_window", 512), query_pre_attn_scalar=head_dim,
                   rope_local_base_freq=k("rope.freq_base_swa", 10000.0), hidden_activation="gelu_pytorch_tanh")
    ids = {}
    for typ, key in (("bos", "bos"), ("eos", "eos"), ("pad", "padding"), ("unk", "unknown")):
        if f"tokenizer.ggml.{key}_token_id" in md:
            ids[typ] = md[f"tokenizer.ggml.{key}_token_id"]
    cfg.update({f"{t}_token_id": v for t, v in ids.items() if t in ("bos", "eos", "pad")})
    tokens = md["tokenizer.ggml.tokens"]
    tok_cfg = {f"{t}_token": tokens[v] for t, v in ids.items()}
    tok_cfg["add_bos_token"] = bool(md.get("tokenizer.ggml.add_bos_token", md["tokenizer.ggml.model"] == "llama"))
    tok_cfg["add_eos_token"] = bool(md.get("tokenizer.ggml.add_eos_token", False))
    if "tokenizer.chat_template" in md:
        tok_cfg["chat_template"] = md["tokenizer.chat_template"]
    for name, obj in (("config.json", cfg), ("tokenizer_config.json", tok_cfg),
                      ("generation_config.json", {f"{t}_token_id": v for t, v in ids.items() if t in ("bos", "eos", "pad")})):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
    if md["tokenizer.ggml.model"] == "llama":
        with open(os.path.join(out_dir, "tokenizer.model"), "wb") as f:
            f.write(sentencepiece_model(md))
    else:
        with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(bpe_tokenizer_json(md, arch), f, ensure_ascii=False)


def gguf_to_hf(path: str, out_dir: str, dtype: str = "F16") -> None:
    os.makedirs(out_dir, exist_ok=True)
    with GGUFFile(path) as g:
        arch = g.architecture
        if arch not in HF_CLASS:
            raise SystemExit(f"{path}: architecture {arch!r} is not one of {', '.join(HF_CLASS)}")
        write_config(g, arch, out_dir)
        write_tensors(g, arch, out_dir, dtype)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--dtype", default="F16", choices=["F16", "BF16", "F32"])
    a = ap.parse_args()
    gguf_to_hf(a.gguf, a.out_dir, a.dtype)
    print(f"wrote {a.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Tiny Hugging Face checkpoints built inside the tests, and their forward pass in numpy.

Each builder writes a model directory the way Hugging Face releases look: config.json,
*.safetensors (optionally sharded with an index, optionally bfloat16), a tokenizer trained on
the spot (SentencePiece for llama / mistral / gemma3, byte-level BPE through `tokenizers` for
qwen2), tokenizer_config.json with a chat template, generation_config.json. Weights are random
but seeded. `hf_logits` runs the model in Hugging Face's own conventions (rotate-half RoPE,
Gemma's (1 + w) norms, unscaled embeddings), independently of the converter, so comparing it with
a runtime reading the converted GGUF checks the conversion end to end.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct

import numpy as np

CORPUS = [
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun.",
    "A small model learns to count: one, two, three, four, five, six, seven, eight, nine, ten.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # prints 5",
    "Numbers like 12345 and 3.14159 appear in text; so do symbols such as #, $, % and &.",
    "In the beginning the river ran clear, and the people of the valley drank from it freely.",
    "Quantization trades a little accuracy for a lot of memory: four bits instead of sixteen.",
    "She sells sea shells by the sea shore; the shells she sells are surely sea shells.",
    "Hello, world! Bonjour le monde. Hola mundo. Hallo Welt. Ciao mondo.",
]

ARCH_CONFIGS = {
    "llama": dict(architectures=["LlamaForCausalLM"], model_type="llama", rms_norm_eps=1e-5,
                  rope_theta=10000.0, tie_word_embeddings=False),
    "mistral": dict(architectures=["MistralForCausalLM"], model_type="mistral", rms_norm_eps=1e-5,
                    rope_theta=1000000.0, tie_word_embeddings=False, sliding_window=4096),
    "qwen2": dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", rms_norm_eps=1e-6,
                  rope_theta=1000000.0, tie_word_embeddings=True),
    "gemma3": dict(architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", rms_norm_eps=1e-6,
                   rope_theta=1000000.0, rope_local_base_freq=10000.0, tie_word_embeddings=True,
                   sliding_window=512, query_pre_attn_scalar=16, hidden_activation="gelu_pytorch_tanh"),
    # the fields below as transformers' Qwen3Config, SmolLM3Config, Ministral3Config, Qwen3MoeConfig and
    # MixtralConfig name them
    "qwen3": dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", rms_norm_eps=1e-6,
                  rope_theta=1000000.0, tie_word_embeddings=True, attention_bias=False),
    "smollm3": dict(architectures=["SmolLM3ForCausalLM"], model_type="smollm3", rms_norm_eps=1e-6,
                    rope_theta=5000000.0, tie_word_embeddings=True, no_rope_layer_interval=4),
    "mistral3": dict(architectures=["Ministral3ForCausalLM"], model_type="ministral3", rms_norm_eps=1e-5,
                     tie_word_embeddings=False,
                     rope_parameters=dict(rope_type="default", rope_theta=1000000.0, llama_4_scaling_beta=0.5,
                                          original_max_position_embeddings=4)),
    "qwen3moe": dict(architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe", rms_norm_eps=1e-6,
                     rope_theta=1000000.0, tie_word_embeddings=False, num_experts=8, num_experts_per_tok=2,
                     moe_intermediate_size=32, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[]),
    "mixtral": dict(architectures=["MixtralForCausalLM"], model_type="mixtral", rms_norm_eps=1e-5,
                    rope_theta=1000000.0, tie_word_embeddings=False, num_local_experts=4, num_experts_per_tok=2),
}
# transformers' Phi3Config: LongRoPE factors for the rotated quarter... three quarters of a head
PHI3_ROT = 0.75
ARCH_CONFIGS["phi3"] = dict(architectures=["Phi3ForCausalLM"], model_type="phi3", rms_norm_eps=1e-5,
                            rope_theta=10000.0, tie_word_embeddings=False, partial_rotary_factor=PHI3_ROT,
                            original_max_position_embeddings=32, sliding_window=16,
                            _name_or_path="tiny-random-p3")  # llama.cpp patches vocabularies named "phi3"
BPE_ARCHS = ("qwen2", "qwen3", "qwen3moe", "smollm3")

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# --- tokenizers ------------------------------------------------------------------------------


def train_sentencepiece(path: str, vocab_size: int = 320, gemma: bool = False) -> int:
    import sentencepiece as spm

    buf = io.BytesIO()
    ids = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3) if gemma else dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_writer=buf, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, add_dummy_prefix=not gemma, character_coverage=1.0, num_threads=1,
        minloglevel=2, split_digits=True, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", **ids)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_file=path)
    return sp.vocab_size()


QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def train_bpe(path: str, vocab_size: int = 360) -> int:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.save(path)
    return tok.get_vocab_size()


# --- safetensors -----------------------------------------------------------------------------


def _to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16 bit patterns."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_round(x: np.ndarray) -> np.ndarray:
    return (_to_bf16_bits(x).astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path: str, tensors: dict, dtype: str = "F32") -> None:
    """A safetensors file holding `tensors` (float32 arrays) stored as `dtype` (F32, F16, BF16)."""
    header, blobs, offset = {}, [], 0
    for name, x in tensors.items():
        if dtype == "BF16":
            raw = _to_bf16_bits(x).tobytes()
        else:
            raw = np.ascontiguousarray(x, dtype={"F32": "<f4", "F16": "<f2"}[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(x.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


# --- models ----------------------------------------------------------------------------------

# Hugging Face names of a mixture-of-experts layer's router and experts (after "model.layers.N.")
MOE_NAMES = {
    "qwen3moe": dict(router="mlp.gate.weight", gate="mlp.experts.{e}.gate_proj.weight",
                     up="mlp.experts.{e}.up_proj.weight", down="mlp.experts.{e}.down_proj.weight"),
    "mixtral": dict(router="block_sparse_moe.gate.weight", gate="block_sparse_moe.experts.{e}.w1.weight",
                    up="block_sparse_moe.experts.{e}.w3.weight", down="block_sparse_moe.experts.{e}.w2.weight"),
}


def random_weights(arch: str, cfg: dict, seed: int = 0) -> dict:
    """Hugging Face-named float32 weights for `cfg`, scaled so activations stay moderate."""
    rng = np.random.default_rng(seed)
    H, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def norm(n):
        base = 0.0 if arch == "gemma3" else 1.0  # Gemma stores w for x * (1 + w)
        return (base + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((V, H)).astype(np.float32) * (0.2 if arch == "gemma3" else 1.0)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(H)
        if arch == "phi3":
            w[p + "self_attn.qkv_proj.weight"] = mat((nh + 2 * nkv) * hd, H)
        else:
            w[p + "self_attn.q_proj.weight"] = mat(nh * hd, H)
            w[p + "self_attn.k_proj.weight"] = mat(nkv * hd, H)
            w[p + "self_attn.v_proj.weight"] = mat(nkv * hd, H)
        w[p + "self_attn.o_proj.weight"] = mat(H, nh * hd)
        if arch == "qwen2":
            w[p + "self_attn.q_proj.bias"] = (0.1 * rng.standard_normal(nh * hd)).astype(np.float32)
            w[p + "self_attn.k_proj.bias"] = (0.1 * rng.standard_normal(nkv * hd)).astype(np.float32)
            w[p + "self_attn.v_proj.bias"] = (0.1 * rng.standard_normal(nkv * hd)).astype(np.float32)
        if arch in ("gemma3", "qwen3", "qwen3moe"):
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        if arch == "gemma3":
            w[p + "pre_feedforward_layernorm.weight"] = norm(H)
            w[p + "post_feedforward_layernorm.weight"] = norm(H)
        w[p + "post_attention_layernorm.weight"] = norm(H)
        if arch in MOE_NAMES:
            names, NE = MOE_NAMES[arch], cfg.get("num_experts") or cfg["num_local_experts"]
            Fe = cfg.get("moe_intermediate_size", F)
            w[p + names["router"]] = 4.0 * mat(NE, H)
            for e in range(NE):
                w[p + names["gate"].format(e=e)] = mat(Fe, H)
                w[p + names["up"].format(e=e)] = mat(Fe, H)
                w[p + names["down"].format(e=e)] = mat(H, Fe)
            continue
        if arch == "phi3":
            w[p + "mlp.gate_up_proj.weight"] = mat(2 * F, H)
            w[p + "mlp.down_proj.weight"] = mat(H, F)
            continue
        w[p + "mlp.gate_proj.weight"] = mat(F, H)
        w[p + "mlp.up_proj.weight"] = mat(F, H)
        w[p + "mlp.down_proj.weight"] = mat(H, F)
    w["model.norm.weight"] = norm(H)
    if not cfg.get("tie_word_embeddings"):
        w["lm_head.weight"] = mat(V, H)
    return w


def build_checkpoint(directory: str, arch: str, *, hidden: int = 64, n_layer: int = 2, n_head: int = 4,
                     n_head_kv: int = 2, head_dim: int = 16, n_ff: int = 128, dtype: str = "F32",
                     shards: int = 1, seed: int = 0, extra_config: dict | None = None) -> dict:
    """Write a tiny `arch` checkpoint into `directory`; returns its float32 weights (as stored)."""
    os.makedirs(directory, exist_ok=True)
    if arch in BPE_ARCHS:
        n_vocab = train_bpe(os.path.join(directory, "tokenizer.json"))
        tok_cfg = dict(bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                       add_bos_token=False, chat_template=CHAT_TEMPLATE,
                       added_tokens_decoder={})
        tj = json.load(open(os.path.join(directory, "tokenizer.json")))
        for a in tj["added_tokens"]:
            tok_cfg["added_tokens_decoder"][str(a["id"])] = {"content": a["content"], "special": True}
        ids = {a["content"]: a["id"] for a in tj["added_tokens"]}
        special = dict(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    else:
        n_vocab = train_sentencepiece(os.path.join(directory, "tokenizer.model"), gemma=arch == "gemma3")
        if arch == "gemma3":
            tok_cfg = dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                           add_bos_token=True, add_eos_token=False, chat_template=CHAT_TEMPLATE)
            special = dict(bos_token_id=2, eos_token_id=1, pad_token_id=0)
        else:
            tok_cfg = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", add_bos_token=True,
                           add_eos_token=False, chat_template=CHAT_TEMPLATE)
            special = dict(bos_token_id=1, eos_token_id=2)
    cfg = dict(ARCH_CONFIGS[arch])
    cfg.update(hidden_size=hidden, intermediate_size=n_ff, num_hidden_layers=n_layer, num_attention_heads=n_head,
               num_key_value_heads=n_head_kv, head_dim=head_dim, vocab_size=n_vocab,
               max_position_embeddings=2048, torch_dtype={"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
               **special)
    if arch == "gemma3":
        cfg["query_pre_attn_scalar"] = head_dim
    if arch == "smollm3":
        cfg["no_rope_layers"] = [int((i + 1) % 4 != 0) for i in range(n_layer)]
    if arch == "phi3":
        half = int(PHI3_ROT * head_dim) // 2
        cfg["max_position_embeddings"] = 128
        cfg["rope_scaling"] = dict(type="longrope", long_factor=np.geomspace(1, 16, half).tolist(),
                                   short_factor=np.geomspace(1, 1.5, half).tolist())
    cfg.update(extra_config or {})
    weights = random_weights(arch, cfg, seed)
    if dtype == "F16":
        weights = {k: v.astype(np.float16).astype(np.float32) for k, v in weights.items()}
    elif dtype == "BF16":
        weights = {k: bf16_round(v) for k, v in weights.items()}

    names = list(weights)
    if shards == 1:
        write_safetensors(os.path.join(directory, "model.safetensors"), weights, dtype)
    else:
        weight_map = {}
        for s in range(shards):
            part = names[s::shards]
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            write_safetensors(os.path.join(directory, fname), {k: weights[k] for k in part}, dtype)
            weight_map.update({k: fname for k in part})
        with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=1)
    with open(os.path.join(directory, "generation_config.json"), "w") as f:
        json.dump(dict(special, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.05), f)
    return weights


# --- forward pass in Hugging Face conventions -------------------------------------------------


def _rms(x, w, eps, gemma):
    y = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + eps)
    return (y * ((1.0 + w) if gemma else w)).astype(np.float64)


def _llama3_inv_freq(inv, rs):
    """transformers' Llama 3 rope scaling of the inverse frequencies."""
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(medium, smoothed, scaled)


def _rope_rotate_half(x, pos, theta, rope_scaling=None):
    # x: (n_tok, n_head, hd); Hugging Face pairs element i with i + hd/2
    hd = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    if rope_scaling and rope_scaling.get("rope_type") == "llama3":
        inv = _llama3_inv_freq(inv, rope_scaling)
    ang = np.outer(pos, inv)  # (n_tok, hd/2)
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1)[:, None, :]
    rot = np.concatenate([-x[..., hd // 2:], x[..., : hd // 2]], -1)
    return x * cos + rot * sin


def hf_logits(weights: dict, cfg: dict, tokens) -> np.ndarray:
    """Logits (n_tokens, vocab) of the checkpoint computed as transformers would, in float64."""
    arch = {"gemma3_text": "gemma3", "qwen3_moe": "qwen3moe", "ministral3": "mistral3"}.get(cfg["model_type"],
                                                                                         cfg["model_type"])
    gemma = arch == "gemma3"
    W = {k: v.astype(np.float64) for k, v in weights.items()}
    nh, nkv, hd, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    tokens = np.asarray(tokens)
    n = len(tokens)
    pos = np.arange(n)
    x = W["model.embed_tokens.weight"][tokens]
    if gemma:
        x = x * np.float64(np.float32(math.sqrt(cfg["hidden_size"])))
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = _rms(x, W[p + "input_layernorm.weight"], eps, gemma)
        if arch == "phi3":
            qkv = h @ W[p + "self_attn.qkv_proj.weight"].T
            q, k, v = np.split(qkv, [nh * hd, (nh + nkv) * hd], axis=1)
        else:
            q = h @ W[p + "self_attn.q_proj.weight"].T
            k = h @ W[p + "self_attn.k_proj.weight"].T
            v = h @ W[p + "self_attn.v_proj.weight"].T
        if arch == "qwen2":
            q, k, v = q + W[p + "self_attn.q_proj.bias"], k + W[p + "self_attn.k_proj.bias"], v + W[p + "self_attn.v_proj.bias"]
        q, k, v = q.reshape(n, nh, hd), k.reshape(n, nkv, hd), v.reshape(n, nkv, hd)
        theta = cfg["rope_theta"] if "rope_theta" in cfg else cfg["rope_parameters"]["rope_theta"]
        if gemma:
            q = _rms(q, W[p + "self_attn.q_norm.weight"], eps, True)
            k = _rms(k, W[p + "self_attn.k_norm.weight"], eps, True)
            if (i + 1) % 6 != 0:
                theta = cfg["rope_local_base_freq"]
        if arch in ("qwen3", "qwen3moe"):
            q = _rms(q, W[p + "self_attn.q_norm.weight"], eps, False)
            k = _rms(k, W[p + "self_attn.k_norm.weight"], eps, False)
        rs = cfg.get("rope_scaling")
        if arch == "phi3":
            q, k = _phi3_longrope(q, pos, cfg), _phi3_longrope(k, pos, cfg)
        elif arch != "smollm3" or cfg["no_rope_layers"][i]:  # SmolLM3: 0 = this layer has no rope
            q, k = _rope_rotate_half(q, pos, theta, rs), _rope_rotate_half(k, pos, theta, rs)
        beta = (cfg.get("rope_parameters") or {}).get("llama_4_scaling_beta")
        if arch == "mistral3" and beta:  # transformers' get_llama_4_attn_scale
            old = cfg["rope_parameters"]["original_max_position_embeddings"]
            q = q * (1 + beta * np.log(1 + np.floor(pos / old)))[:, None, None]
        scale = cfg["query_pre_attn_scalar"] ** -0.5 if gemma else hd ** -0.5
        rep = nh // nkv
        out = np.empty((n, nh, hd))
        for hh in range(nh):
            s = (q[:, hh, :] @ k[:, hh // rep, :].T) * scale + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, hh, :] = (s / s.sum(-1, keepdims=True)) @ v[:, hh // rep, :]
        a = out.reshape(n, nh * hd) @ W[p + "self_attn.o_proj.weight"].T
        if gemma:
            a = _rms(a, W[p + "post_attention_layernorm.weight"], eps, True)
            x = x + a
            h = _rms(x, W[p + "pre_feedforward_layernorm.weight"], eps, True)
        else:
            x = x + a
            h = _rms(x, W[p + "post_attention_layernorm.weight"], eps, False)
        if arch in MOE_NAMES:
            x = x + _moe(W, p, MOE_NAMES[arch], cfg, h)
            continue
        if arch == "phi3":
            g, u = np.split(h @ W[p + "mlp.gate_up_proj.weight"].T, 2, axis=1)
        else:
            g = h @ W[p + "mlp.gate_proj.weight"].T
            u = h @ W[p + "mlp.up_proj.weight"].T
        if gemma:
            act = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
        else:
            act = g / (1 + np.exp(-g))
        m = (act * u) @ W[p + "mlp.down_proj.weight"].T
        if gemma:
            m = _rms(m, W[p + "post_feedforward_layernorm.weight"], eps, True)
        x = x + m
    x = _rms(x, W["model.norm.weight"], eps, gemma)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


def _moe(W, p, names, cfg, h):
    """transformers' sparse MoE block: softmax over the router's logits, the top
    num_experts_per_tok, renormalised (Mixtral always, Qwen3-MoE when norm_topk_prob)."""
    logits = h @ W[p + names["router"]].T
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    k = cfg["num_experts_per_tok"]
    out = np.zeros_like(h)
    for t in range(len(h)):
        top = np.argsort(-probs[t])[:k]
        w = probs[t, top]
        if cfg["model_type"] == "mixtral" or cfg.get("norm_topk_prob"):
            w = w / w.sum()
        for e, we in zip(top, w):
            g = W[p + names["gate"].format(e=e)] @ h[t]
            u = W[p + names["up"].format(e=e)] @ h[t]
            out[t] += we * (W[p + names["down"].format(e=e)] @ ((g / (1 + np.exp(-g))) * u))
    return out


def _phi3_longrope(x, pos, cfg):
    """transformers' Phi-3 LongRoPE: rotate-half over the first partial_rotary_factor of each
    head, frequencies divided by short_factor (long_factor past the original context), cos and
    sin times sqrt(1 + ln(scale) / ln(original context))."""
    hd = x.shape[-1]
    rot = int(cfg["partial_rotary_factor"] * hd)
    rs, orig = cfg["rope_scaling"], cfg["original_max_position_embeddings"]
    ext = np.asarray(rs["long_factor"] if len(pos) > orig else rs["short_factor"], dtype=np.float64)
    inv = 1.0 / (ext * cfg["rope_theta"] ** (np.arange(0, rot, 2, dtype=np.float64) / rot))
    scale = cfg["max_position_embeddings"] / orig
    mag = math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1 else 1.0
    ang = np.outer(pos, inv)
    cos = (np.concatenate([np.cos(ang), np.cos(ang)], -1) * mag)[:, None, :]
    sin = (np.concatenate([np.sin(ang), np.sin(ang)], -1) * mag)[:, None, :]
    xr, rest = x[..., :rot], x[..., rot:]
    turned = np.concatenate([-xr[..., rot // 2:], xr[..., : rot // 2]], -1)
    return np.concatenate([xr * cos + turned * sin, rest], -1)

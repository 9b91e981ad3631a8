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
    mag = 1.0
    if rope_scaling and rope_scaling.get("rope_type") == "llama3":
        inv = _llama3_inv_freq(inv, rope_scaling)
    if rope_scaling and rope_scaling.get("rope_type") == "yarn":
        inv, mag = yarn_inv_freq(hd, theta, rope_scaling)
    ang = np.outer(pos, inv)  # (n_tok, hd/2)
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1)[:, None, :] * mag
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1)[:, None, :] * mag
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
        rs = cfg.get("rope_scaling") or cfg.get("rope_parameters")
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


# --- gpt-oss ---------------------------------------------------------------------------------

# transformers' GptOssConfig fields (small): sliding window on layers 0, 2, ...; YaRN whose ramp
# covers part of the rotated pairs (theta 1000, original context 256: pairs 0..5 of 8 ramp)
GPT_OSS_CONFIG = dict(architectures=["GptOssForCausalLM"], model_type="gpt_oss", rms_norm_eps=1e-5,
                      rope_theta=1000.0, tie_word_embeddings=False, attention_bias=True, num_local_experts=8,
                      num_experts_per_tok=2, experts_per_token=2, sliding_window=4, hidden_act="silu",
                      swiglu_limit=7.0, initial_context_length=256,
                      rope_scaling=dict(rope_type="yarn", factor=4.0, beta_fast=32.0, beta_slow=1.0,
                                        original_max_position_embeddings=256))
GPT_OSS_SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>",
                    "<|end|>", "<|message|>", "<|call|>"]
# llama.cpp's "gpt-4o" pre-tokenizer regex (o200k)
GPT4O_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
               r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
               r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# harmony messages, as gpt-oss's own template renders a plain conversation
GPT_OSS_TEMPLATE = ("{% for m in messages %}<|start|>{{ m['role'] }}<|message|>{{ m['content'] }}<|end|>{% endfor %}"
                    "{% if add_generation_prompt %}<|start|>assistant{% endif %}")

MXFP4_VALUES = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], dtype=np.float32)


def train_o200k_like(path: str, vocab_size: int = 400) -> int:
    """A byte-level BPE split like o200k (gpt-4o) with gpt-oss's harmony special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4O_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4 + ["analysis final commentary assistant user system developer"] * 4, trainer)
    tok.add_special_tokens(GPT_OSS_SPECIALS)
    tok.save(path)
    return tok.get_vocab_size()


def random_mxfp4(rng, shape_rows_cols) -> tuple:
    """Random Hugging Face MXFP4 (blocks (..., rows, cols/32, 16), scales (..., rows, cols/32)) and
    the float32 values they stand for (..., rows, cols): element 2j in byte j's low nibble."""
    *lead, rows, cols = shape_rows_cols
    codes = rng.integers(0, 16, size=(*lead, rows, cols // 32, 32), dtype=np.uint8)
    scales = rng.integers(121, 125, size=(*lead, rows, cols // 32), dtype=np.uint8)  # 2^-6 .. 2^-3
    blocks = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
    values = MXFP4_VALUES[codes] * np.exp2(scales.astype(np.float32) - 127)[..., None]
    return blocks, scales, values.reshape(*lead, rows, cols).astype(np.float32)


def hf_mxfp4_values(blocks: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The values Hugging Face MXFP4 blocks and scales stand for: (..., n_blocks * 32)."""
    codes = np.stack([blocks & 0x0F, blocks >> 4], axis=-1).reshape(*blocks.shape[:-1], 32)
    vals = MXFP4_VALUES[codes] * np.exp2(scales.astype(np.float32) - 127)[..., None]
    return vals.reshape(*blocks.shape[:-2], -1)


def build_gpt_oss(directory: str, *, hidden: int = 64, n_layer: int = 4, n_head: int = 4, n_head_kv: int = 2,
                  head_dim: int = 16, n_ff: int = 32, mxfp4: bool = False, dtype: str = "F32", seed: int = 0,
                  extra_config: dict | None = None) -> dict:
    """A tiny gpt-oss checkpoint as transformers' GptOssForCausalLM stores it: fused, transposed
    experts (gate_up_proj (experts, hidden, 2F) with gate and up interleaved by column), their
    biases, attention sinks and biases, a router with a bias. mxfp4: the experts as the original
    release stores them (MXFP4 *_blocks / *_scales, out-features major). Returns the float32
    weights the checkpoint stands for (the experts in the fused HF layout)."""
    os.makedirs(directory, exist_ok=True)
    n_vocab = train_o200k_like(os.path.join(directory, "tokenizer.json"))
    tj = json.load(open(os.path.join(directory, "tokenizer.json")))
    ids = {a["content"]: a["id"] for a in tj["added_tokens"]}
    cfg = dict(GPT_OSS_CONFIG)
    cfg.update(hidden_size=hidden, intermediate_size=n_ff, num_hidden_layers=n_layer, num_attention_heads=n_head,
               num_key_value_heads=n_head_kv, head_dim=head_dim, vocab_size=n_vocab, max_position_embeddings=1024,
               layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n_layer)],
               bos_token_id=ids["<|startoftext|>"], eos_token_id=ids["<|return|>"], pad_token_id=ids["<|endoftext|>"],
               torch_dtype={"F32": "float32", "BF16": "bfloat16"}[dtype])
    cfg.update(extra_config or {})
    rng = np.random.default_rng(seed)
    H, F, NE, V = hidden, n_ff, cfg["num_local_experts"], n_vocab

    def mat(rows, cols, *lead):
        return (rng.standard_normal((*lead, rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def vec(*shape, s=0.1):
        return (s * rng.standard_normal(shape)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((V, H)).astype(np.float32)}
    stored = {}
    for i in range(n_layer):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1.0 + vec(H)
        for n, rows in (("q", n_head * head_dim), ("k", n_head_kv * head_dim), ("v", n_head_kv * head_dim)):
            w[p + f"self_attn.{n}_proj.weight"] = mat(rows, H)
            w[p + f"self_attn.{n}_proj.bias"] = vec(rows)
        w[p + "self_attn.o_proj.weight"] = mat(H, n_head * head_dim)
        w[p + "self_attn.o_proj.bias"] = vec(H)
        w[p + "self_attn.sinks"] = vec(n_head, s=1.0)
        w[p + "post_attention_layernorm.weight"] = 1.0 + vec(H)
        w[p + "mlp.router.weight"] = 4.0 * mat(NE, H)
        w[p + "mlp.router.bias"] = vec(NE, s=0.5)
        if mxfp4:
            gb, gs, gv = random_mxfp4(rng, (NE, 2 * F, H))  # rows: out features (gate, up interleaved)
            db, ds, dv = random_mxfp4(rng, (NE, H, F))
            stored[p + "mlp.experts.gate_up_proj_blocks"], stored[p + "mlp.experts.gate_up_proj_scales"] = gb, gs
            stored[p + "mlp.experts.down_proj_blocks"], stored[p + "mlp.experts.down_proj_scales"] = db, ds
            w[p + "mlp.experts.gate_up_proj"] = np.ascontiguousarray(gv.transpose(0, 2, 1))  # (NE, H, 2F)
            w[p + "mlp.experts.down_proj"] = np.ascontiguousarray(dv.transpose(0, 2, 1))  # (NE, F, H)
        else:
            w[p + "mlp.experts.gate_up_proj"] = mat(H, 2 * F, NE) * 2.0
            w[p + "mlp.experts.down_proj"] = mat(F, H, NE)
        w[p + "mlp.experts.gate_up_proj_bias"] = vec(NE, 2 * F)
        w[p + "mlp.experts.down_proj_bias"] = vec(NE, H)
    w["model.norm.weight"] = 1.0 + vec(H)
    w["lm_head.weight"] = mat(V, H)
    if dtype == "BF16":
        w = {k: bf16_round(v) for k, v in w.items()}
    floats = {k: v for k, v in w.items() if not (mxfp4 and k.endswith(("gate_up_proj", "down_proj")))}
    _write_mixed(os.path.join(directory, "model.safetensors"), floats, stored, dtype)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tok_cfg = dict(bos_token="<|startoftext|>", eos_token="<|return|>", pad_token="<|endoftext|>",
                   chat_template=GPT_OSS_TEMPLATE, added_tokens_decoder={
                       str(a["id"]): {"content": a["content"], "special": True} for a in tj["added_tokens"]})
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=1)
    with open(os.path.join(directory, "generation_config.json"), "w") as f:
        json.dump(dict(bos_token_id=cfg["bos_token_id"], eos_token_id=[ids["<|return|>"], ids["<|call|>"]],
                       pad_token_id=cfg["pad_token_id"]), f)
    return w


def _write_mixed(path: str, floats: dict, raw: dict, dtype: str) -> None:
    """safetensors with float tensors stored as `dtype` and uint8 ones as U8."""
    header, blobs, offset = {}, [], 0
    for name, x in list(floats.items()) + list(raw.items()):
        if name in raw:
            kind, data = "U8", np.ascontiguousarray(x, dtype=np.uint8).tobytes()
        elif dtype == "BF16":
            kind, data = "BF16", _to_bf16_bits(x).tobytes()
        else:
            kind, data = "F32", np.ascontiguousarray(x, dtype="<f4").tobytes()
        header[name] = {"dtype": kind, "shape": list(x.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def yarn_inv_freq(dim: int, base: float, rs: dict) -> tuple:
    """transformers' _compute_yarn_parameters (truncate: true): inverse frequencies and the
    attention factor multiplying cos and sin."""
    factor = rs["factor"]
    orig = rs["original_max_position_embeddings"]
    beta_fast, beta_slow = rs.get("beta_fast", 32.0), rs.get("beta_slow", 1.0)

    def get_mscale(scale, mscale=1.0):
        return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0

    if rs.get("attention_factor") is not None:
        attn = rs["attention_factor"]
    elif rs.get("mscale") and rs.get("mscale_all_dim"):
        attn = get_mscale(factor, rs["mscale"]) / get_mscale(factor, rs["mscale_all_dim"])
    else:
        attn = get_mscale(factor)

    def corr_dim(n_rot):
        return dim * math.log(orig / (n_rot * 2 * math.pi)) / (2 * math.log(base))

    low, high = max(math.floor(corr_dim(beta_fast)), 0), min(math.ceil(corr_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    extrap, interp = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - ramp  # inv_freq_extrapolation_factor
    return interp * (1 - keep) + extrap * keep, attn


def _rope_half(x, pos, inv, attn):
    hd = x.shape[-1]
    ang = np.outer(pos, inv)
    cos = (np.concatenate([np.cos(ang), np.cos(ang)], -1) * attn)[:, None, :]
    sin = (np.concatenate([np.sin(ang), np.sin(ang)], -1) * attn)[:, None, :]
    rot = np.concatenate([-x[..., hd // 2:], x[..., : hd // 2]], -1)
    return x * cos + rot * sin


def gpt_oss_route(W, p, cfg, h):
    """transformers' GptOssTopKRouter: the top num_experts_per_tok of router logits (with its
    bias), weighted by a softmax over those values. (chosen (n, k), weights (n, k))."""
    logits = h @ W[p + "mlp.router.weight"].T + W[p + "mlp.router.bias"]
    k = cfg["num_experts_per_tok"]
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(logits, top, axis=1)
    w = np.exp(vals - vals.max(1, keepdims=True))
    return top, w / w.sum(1, keepdims=True)


def gpt_oss_expert(W, p, e, h, limit=7.0, alpha=1.702):
    """transformers' GptOssExperts for expert e on h (n, hidden)."""
    gu = h @ W[p + "mlp.experts.gate_up_proj"][e] + W[p + "mlp.experts.gate_up_proj_bias"][e]
    gate, up = gu[..., ::2], gu[..., 1::2]
    gate = np.minimum(gate, limit)
    up = np.clip(up, -limit, limit)
    glu = gate / (1 + np.exp(-gate * alpha))
    return ((up + 1) * glu) @ W[p + "mlp.experts.down_proj"][e] + W[p + "mlp.experts.down_proj_bias"][e]


def gpt_oss_logits(weights: dict, cfg: dict, tokens) -> np.ndarray:
    """Logits of a gpt-oss checkpoint computed as transformers' GptOssForCausalLM would, in float64."""
    W = {k: v.astype(np.float64) for k, v in weights.items()}
    nh, nkv, hd, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    tokens = np.asarray(tokens)
    n = len(tokens)
    pos = np.arange(n)
    inv, attn_factor = yarn_inv_freq(hd, cfg["rope_theta"], cfg["rope_scaling"])
    x = W["model.embed_tokens.weight"][tokens]
    i_, j_ = np.arange(n)[:, None], np.arange(n)[None, :]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = _rms(x, W[p + "input_layernorm.weight"], eps, False)
        q = h @ W[p + "self_attn.q_proj.weight"].T + W[p + "self_attn.q_proj.bias"]
        k = h @ W[p + "self_attn.k_proj.weight"].T + W[p + "self_attn.k_proj.bias"]
        v = h @ W[p + "self_attn.v_proj.weight"].T + W[p + "self_attn.v_proj.bias"]
        q, k, v = q.reshape(n, nh, hd), k.reshape(n, nkv, hd), v.reshape(n, nkv, hd)
        q, k = _rope_half(q, pos, inv, attn_factor), _rope_half(k, pos, inv, attn_factor)
        visible = j_ <= i_
        if cfg["layer_types"][i] == "sliding_attention":
            visible &= i_ - j_ < cfg["sliding_window"]
        rep = nh // nkv
        out = np.empty((n, nh, hd))
        for hh in range(nh):
            s = np.where(visible, (q[:, hh, :] @ k[:, hh // rep, :].T) * hd ** -0.5, -np.inf)
            s = np.concatenate([s, np.full((n, 1), W[p + "self_attn.sinks"][hh])], axis=1)
            s = np.exp(s - s.max(-1, keepdims=True))
            probs = s / s.sum(-1, keepdims=True)
            out[:, hh, :] = probs[:, :-1] @ v[:, hh // rep, :]
        x = x + out.reshape(n, nh * hd) @ W[p + "self_attn.o_proj.weight"].T + W[p + "self_attn.o_proj.bias"]
        h = _rms(x, W[p + "post_attention_layernorm.weight"], eps, False)
        top, wts = gpt_oss_route(W, p, cfg, h)
        moe = np.zeros_like(h)
        for t in range(n):
            for e, we in zip(top[t], wts[t]):
                moe[t] += we * gpt_oss_expert(W, p, e, h[t])
        x = x + moe
    x = _rms(x, W["model.norm.weight"], eps, False)
    return x @ W["lm_head.weight"].T

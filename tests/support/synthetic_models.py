"""Tiny random-weight GGUF models of each supported architecture, for tests.

make_model(arch, path, wtype="F32", seed=0, **overrides) writes a GGUF that
llama.cpp loads: llama.cpp's tensor names and GGUF-order shapes, its metadata keys,
and a real (tiny) tokenizer trained on a short built-in text — a sentencepiece BPE
vocab ("llama" tokenizer with byte fallback) for llama/mistral/gemma3, a byte-level
BPE ("gpt2" tokenizer, pre "qwen2") for qwen2.

Architectures: "llama" (Llama 3 style: rope_freqs tensor, rope base 500000),
"mistral" (written as general.architecture "llama", as Mistral GGUFs are; 4:1 GQA,
no rope_freqs), "qwen2" (Q/K/V biases, NEOX rope, tied output), "gemma3" (Q/K norms,
post norms, GELU FFN, head_dim * n_head != n_embd, tied output, a sliding window
of 8 with layers [sliding, sliding, global] via attention.sliding_window_pattern).
"qwen3" (Q/K norms, NEOX rope, no biases, untied output), "smollm3" (4 layers: the
fourth has no rope), "mistral3" (attention temperature scale 0.5 stepping every 4
positions), "qwen3moe" (qwen3 attention, 8 experts of n_ff_exp rows, 2 used) and
"mixtral" (written as "llama" with 4 experts, 2 used, as Mixtral GGUFs are), "phi3" (fused
attn_qkv and gate/up ffn_up, rope on 24 of 32 head dims, LongRoPE factors for an original
context of 32 and attn_factor 1.1).
Overrides: n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, rope_base, eps,
rope_freqs (bool), tie_output (bool), sliding_window, swa_pattern (list of bools,
true = sliding, or an int period), tokenizer ("spm" or "gpt2").

Weights (2-D tensors, but the F32 expert routers) are stored in `wtype` (F32, F16, BF16, Q4_0, Q8_0, Q4_K, ...);
norms, biases and rope_freqs stay F32 as llama.cpp's converters write them.
Quantization uses pyggml.quantize when the built module has the type, else
gguf.quants.quantize. Types with blocks over 32 (the K-quants' 256, NVFP4's 64, Q1_0's
128) need every row length to be a multiple of the block, so for them the default sizes
grow (K_QUANT_SIZES).
"""

from __future__ import annotations

import functools
import io
import json

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter, RopeScalingType, TokenType
from gguf import quants as gguf_quants

TRAINING_TEXT = """\
The quick brown fox jumps over the lazy dog while the small model reads a few words.
Once upon a time there was a tiny transformer that lived inside a test file.
It counted one, two, three, four, five and then 42, 100 and 2025 without any trouble.
Questions? Answers! Commas, periods; colons: quotes "like this" and (parentheses).
def add(a, b):
    return a + b
Every layer normalizes, attends, rotates and mixes before the next token is guessed.
"""

BASE_SIZES = {
    "llama":   dict(n_layer=2, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=160,
                    rope_base=500000.0, eps=1e-5, rope_freqs=True, tie_output=False, tokenizer="spm"),
    "mistral": dict(n_layer=2, n_embd=128, n_head=8, n_head_kv=2, head_dim=16, n_ff=224,
                    rope_base=1000000.0, eps=1e-5, rope_freqs=False, tie_output=False, tokenizer="spm"),
    "qwen2":   dict(n_layer=2, n_embd=96, n_head=6, n_head_kv=2, head_dim=16, n_ff=192,
                    rope_base=1000000.0, eps=1e-6, rope_freqs=False, tie_output=True, tokenizer="gpt2"),
    "gemma3":  dict(n_layer=3, n_embd=64, n_head=4, n_head_kv=1, head_dim=32, n_ff=192,
                    rope_base=1000000.0, eps=1e-6, rope_freqs=False, tie_output=True, tokenizer="spm",
                    sliding_window=8, swa_pattern=[True, True, False]),
    "qwen3":   dict(n_layer=2, n_embd=64, n_head=4, n_head_kv=2, head_dim=32, n_ff=160,
                    rope_base=1000000.0, eps=1e-6, rope_freqs=False, tie_output=False, tokenizer="gpt2"),
    "smollm3": dict(n_layer=4, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=128,
                    rope_base=5000000.0, eps=1e-6, rope_freqs=False, tie_output=True, tokenizer="gpt2"),
    "mistral3": dict(n_layer=2, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=128,
                     rope_base=1000000.0, eps=1e-5, rope_freqs=False, tie_output=False, tokenizer="spm",
                     temperature_scale=0.5, temperature_floor=4),
    "qwen3moe": dict(n_layer=2, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=96,
                     rope_base=1000000.0, eps=1e-6, rope_freqs=False, tie_output=False, tokenizer="gpt2",
                     n_expert=8, n_expert_used=2, n_ff_exp=32),
    "phi3":    dict(n_layer=2, n_embd=128, n_head=4, n_head_kv=2, head_dim=32, n_ff=160,
                    rope_base=10000.0, eps=1e-5, rope_freqs=False, tie_output=False, tokenizer="gpt2",
                    n_rot=24, longrope=True, n_ctx_orig=32),
    "mixtral": dict(n_layer=2, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=64,
                    rope_base=1000000.0, eps=1e-5, rope_freqs=False, tie_output=False, tokenizer="spm",
                    n_expert=4, n_expert_used=2, n_ff_exp=64),
    # sinks, biases, YaRN, a window on layers 0, 2, ...; expert_wtype="MXFP4": experts as released
    "gpt-oss": dict(n_layer=4, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=64,
                    rope_base=150000.0, eps=1e-5, rope_freqs=False, tie_output=False, tokenizer="gpt2",
                    n_expert=8, n_expert_used=2, n_ff_exp=64, sliding_window=4, yarn_factor=32.0,
                    n_ctx_orig=4096, expert_wtype=None),
}
GGUF_ARCH = {"mistral": "llama", "mixtral": "llama"}
K_QUANT_SIZES = dict(n_embd=256, n_head=8, head_dim=32, n_ff=512)


# ---------------------------------------------------------------- tokenizers

@functools.lru_cache(maxsize=None)
def spm_vocab() -> tuple[list[str], list[float], list[int]]:
    """(tokens, scores, token types) of a sentencepiece BPE vocab with byte fallback."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_TEXT.splitlines() * 8), model_writer=buf,
        vocab_size=320, model_type="bpe", byte_fallback=True, hard_vocab_limit=False,
        character_coverage=1.0, num_threads=1, minloglevel=2,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            types.append(TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(TokenType.CONTROL)
        elif sp.is_byte(i):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    return tokens, scores, [int(t) for t in types]


GPT2_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@functools.lru_cache(maxsize=None)
def gpt2_vocab(extra_specials: tuple = ()) -> tuple[list[str], list[str], list[int]]:
    """(tokens, merges, token types) of a byte-level BPE trained with `tokenizers`; extra_specials
    are control tokens after GPT2_SPECIALS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = list(GPT2_SPECIALS) + list(extra_specials)
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(TRAINING_TEXT.splitlines() * 8, trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = model["vocab"]
    tokens = [None] * len(vocab)
    for piece, idx in vocab.items():
        tokens[idx] = piece
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    types = [int(TokenType.CONTROL if t in specials else TokenType.NORMAL) for t in tokens]
    return tokens, merges, types


def add_tokenizer(w: GGUFWriter, kind: str, extra_specials: tuple = ()) -> int:
    """Write tokenizer.ggml.* metadata (extra_specials: more control tokens, "gpt2" only);
    returns the vocab size."""
    if kind == "spm":
        tokens, scores, types = spm_vocab()
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_unk_token_id(0)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
    elif kind == "gpt2":
        tokens, merges, types = gpt2_vocab(tuple(extra_specials))
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tokens)
        w.add_token_merges(merges)
        w.add_token_types(types)
        eot = tokens.index("<|endoftext|>")
        w.add_bos_token_id(eot)
        w.add_eos_token_id(eot)
        w.add_pad_token_id(eot)
        w.add_add_bos_token(False)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    return len(tokens)


# ---------------------------------------------------------------- weights

def quantize_weight(x: np.ndarray, wtype: GGMLQuantizationType) -> np.ndarray:
    """float32 (rows, n_per_row) -> the stored array for `wtype` (bytes for block types)."""
    if wtype == GGMLQuantizationType.F32:
        return x.astype(np.float32)
    if wtype == GGMLQuantizationType.F16:
        return x.astype(np.float16)
    block = GGML_QUANT_SIZES[wtype][0]
    if x.shape[-1] % block:
        raise ValueError(f"{wtype.name}: row length {x.shape[-1]} is not a multiple of {block}; "
                         "pass larger n_embd / head_dim / n_ff")
    try:
        import pyggml
        return pyggml.quantize(x, wtype.name)
    except Exception:
        pass
    if wtype.name in RANDOM_CODEBOOK_TYPES:
        return random_codebook_weight(x, wtype)
    try:
        return gguf_quants.quantize(x.astype(np.float32), wtype)
    except NotImplementedError as e:
        raise ValueError(f"no quantizer for {wtype.name}: build pyggml with it") from e


# Codebook types that pyggml reads but does not write: their synthetic weights are random
# valid blocks (not a quantization of x) with the super-block scale set so that the values
# have x's spread. IQ1_M keeps its fp16 scale in the top nibbles of its four scale words.
RANDOM_CODEBOOK_TYPES = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"}
_IQ1_M_SCALES = 48


def _set_block_scale(blocks: np.ndarray, wtype: GGMLQuantizationType, d: np.ndarray) -> None:
    h = d.astype(np.float16).view(np.uint16)
    if wtype.name == "IQ1_M":
        words = blocks[:, _IQ1_M_SCALES:_IQ1_M_SCALES + 8].copy().view(np.uint16)
        for k in range(4):
            words[:, k] = (words[:, k] & 0x0FFF) | (((h >> (4 * k)) & 0xF) << 12)
        blocks[:, _IQ1_M_SCALES:_IQ1_M_SCALES + 8] = words.view(np.uint8)
    else:
        blocks[:, 0:2] = h.view(np.uint8).reshape(-1, 2)


def random_codebook_weight(x: np.ndarray, wtype: GGMLQuantizationType) -> np.ndarray:
    import pyggml

    block, size = GGML_QUANT_SIZES[wtype]
    rows, n = x.shape
    rng = np.random.default_rng(int(np.abs(x).sum() * 1e3) % 2**32)
    blocks = rng.integers(0, 256, (rows * n // block, size), dtype=np.uint8)
    _set_block_scale(blocks, wtype, np.ones(len(blocks), np.float32))
    unit = pyggml.dequantize(blocks.reshape(rows, -1), wtype.name, x.shape)
    _set_block_scale(blocks, wtype, np.full(len(blocks), x.std() / max(unit.std(), 1e-12), np.float32))
    return blocks.reshape(rows, -1)


def _hparams(arch: str, wtype: GGMLQuantizationType, overrides: dict) -> dict:
    if arch not in BASE_SIZES:
        raise ValueError(f"unknown architecture {arch!r}; one of {sorted(BASE_SIZES)}")
    unknown = set(overrides) - set().union(*map(set, BASE_SIZES.values()))
    if unknown:
        raise TypeError(f"unknown overrides {sorted(unknown)}")
    hp = dict(BASE_SIZES[arch])
    if wtype in GGML_QUANT_SIZES and GGML_QUANT_SIZES[wtype][0] > 32:
        hp.update(K_QUANT_SIZES)
        if "n_ff_exp" in hp:
            hp["n_ff_exp"] = 256
    hp.update(overrides)
    if arch == "mixtral":  # llama files give the experts feed_forward_length rows
        hp["n_ff_exp"] = hp["n_ff"]
    if arch == "gpt-oss" and wtype in GGML_QUANT_SIZES and GGML_QUANT_SIZES[wtype][0] > 32:
        hp["n_ff_exp"] = hp["n_ff"] = overrides.get("n_ff_exp", 256)
    return hp


def make_model(arch: str, path, wtype="F32", seed: int = 0, chat_template: str | None = None,
               extra_specials: tuple = (), **overrides) -> dict:
    """Write a tiny random GGUF of `arch` to path (with tokenizer.chat_template when given, and
    extra_specials as more control tokens of a "gpt2" vocabulary); returns the hyper-parameters used."""
    wtype = wtype if isinstance(wtype, GGMLQuantizationType) else GGMLQuantizationType[str(wtype).upper()]
    hp = _hparams(arch, wtype, overrides)
    rng = np.random.default_rng(seed)
    gguf_arch = GGUF_ARCH.get(arch, arch)
    w = GGUFWriter(str(path), gguf_arch)
    # llama.cpp patches Phi-3 vocabularies by general.name ("phi3" in it: Phi-3's own tokens must exist)
    w.add_name(f"synthetic-{arch}".replace("phi3", "phi-three"))
    n_vocab = add_tokenizer(w, hp["tokenizer"], extra_specials)
    hp["n_vocab"] = n_vocab
    if chat_template is not None:
        w.add_chat_template(chat_template)
    _add_hparams(w, gguf_arch, hp)

    n_embd, n_ff, hd = hp["n_embd"], hp["n_ff"], hp["head_dim"]
    n_q, n_kv = hp["n_head"] * hd, hp["n_head_kv"] * hd

    def linear(name, n_in, n_out, scale=1.0, wtype=wtype):  # GGUF shape [n_in, n_out] = numpy (n_out, n_in)
        x = rng.standard_normal((n_out, n_in)).astype(np.float32) * (scale / np.sqrt(n_in))
        w.add_tensor(name, quantize_weight(x, wtype), raw_dtype=wtype)

    def vector(name, n, center=0.0, spread=0.1):
        w.add_tensor(name, (center + spread * rng.standard_normal(n)).astype(np.float32))

    ewtype = GGMLQuantizationType[hp["expert_wtype"]] if hp.get("expert_wtype") else wtype

    def experts(name, n_in, n_out, n_expert):  # GGUF shape [n_in, n_out, n_expert]
        x = rng.standard_normal((n_expert * n_out, n_in)).astype(np.float32) / np.sqrt(n_in)
        q = quantize_weight(x, ewtype)
        w.add_tensor(name, q.reshape(n_expert, n_out, -1), raw_dtype=ewtype)

    embd_scale = 1.0 / np.sqrt(n_embd) if arch == "gemma3" else 1.0
    embd = rng.standard_normal((n_vocab, n_embd)).astype(np.float32) * embd_scale
    w.add_tensor("token_embd.weight", quantize_weight(embd, wtype), raw_dtype=wtype)
    if hp["rope_freqs"]:
        # Llama 3 style factors: 1 for high frequencies rising to 8 for the lowest.
        w.add_tensor("rope_freqs.weight", np.geomspace(1.0, 8.0, hd // 2).astype(np.float32))
    if hp.get("longrope"):
        half = hp["n_rot"] // 2
        w.add_tensor("rope_factors_long.weight", np.geomspace(1.0, 16.0, half).astype(np.float32))
        w.add_tensor("rope_factors_short.weight", np.geomspace(1.0, 1.5, half).astype(np.float32))
    for il in range(hp["n_layer"]):
        p = f"blk.{il}."
        vector(p + "attn_norm.weight", n_embd, 1.0)
        if arch == "phi3":
            linear(p + "attn_qkv.weight", n_embd, n_q + 2 * n_kv)
        else:
            linear(p + "attn_q.weight", n_embd, n_q)
            linear(p + "attn_k.weight", n_embd, n_kv)
            linear(p + "attn_v.weight", n_embd, n_kv)
        linear(p + "attn_output.weight", n_q, n_embd)
        if arch == "gpt-oss":
            vector(p + "attn_q.bias", n_q, 0.0, 0.1)
            vector(p + "attn_k.bias", n_kv, 0.0, 0.1)
            vector(p + "attn_v.bias", n_kv, 0.0, 0.1)
            vector(p + "attn_output.bias", n_embd, 0.0, 0.1)
            vector(p + "attn_sinks.weight", hp["n_head"], 0.0, 1.0)
        if arch == "qwen2":
            vector(p + "attn_q.bias", n_q, 0.0, 0.5)
            vector(p + "attn_k.bias", n_kv, 0.0, 0.5)
            vector(p + "attn_v.bias", n_kv, 0.0, 0.5)
        if arch in ("gemma3", "qwen3", "qwen3moe"):
            vector(p + "attn_q_norm.weight", hd, 1.0)
            vector(p + "attn_k_norm.weight", hd, 1.0)
        if arch == "gemma3":
            vector(p + "post_attention_norm.weight", n_embd, 1.0)
            vector(p + "post_ffw_norm.weight", n_embd, 1.0)
        # gpt-oss's norm before the experts is post_attention_norm
        vector(p + ("post_attention_norm.weight" if arch == "gpt-oss" else "ffn_norm.weight"), n_embd, 1.0)
        if hp.get("n_expert"):
            ne, fe = hp["n_expert"], hp["n_ff_exp"]
            # decisive routing; F32 as llama.cpp's quantizer leaves it
            linear(p + "ffn_gate_inp.weight", n_embd, ne, scale=8.0, wtype=GGMLQuantizationType.F32)
            experts(p + "ffn_gate_exps.weight", n_embd, fe, ne)
            experts(p + "ffn_up_exps.weight", n_embd, fe, ne)
            experts(p + "ffn_down_exps.weight", fe, n_embd, ne)
            if arch == "gpt-oss":
                vector(p + "ffn_gate_inp.bias", ne, 0.0, 0.5)
                w.add_tensor(p + "ffn_gate_exps.bias", (0.1 * rng.standard_normal((ne, fe))).astype(np.float32))
                w.add_tensor(p + "ffn_up_exps.bias", (0.1 * rng.standard_normal((ne, fe))).astype(np.float32))
                w.add_tensor(p + "ffn_down_exps.bias", (0.1 * rng.standard_normal((ne, n_embd))).astype(np.float32))
        elif arch == "phi3":
            linear(p + "ffn_up.weight", n_embd, 2 * n_ff)
            linear(p + "ffn_down.weight", n_ff, n_embd)
        else:
            linear(p + "ffn_gate.weight", n_embd, n_ff)
            linear(p + "ffn_up.weight", n_embd, n_ff)
            linear(p + "ffn_down.weight", n_ff, n_embd)
    vector("output_norm.weight", n_embd, 1.0)
    if not hp["tie_output"]:
        linear("output.weight", n_embd, n_vocab, scale=2.0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return hp


def _add_hparams(w: GGUFWriter, arch: str, hp: dict) -> None:
    w.add_context_length(2048)
    w.add_embedding_length(hp["n_embd"])
    w.add_block_count(hp["n_layer"])
    w.add_feed_forward_length(hp["n_ff"])
    w.add_head_count(hp["n_head"])
    w.add_head_count_kv(hp["n_head_kv"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])
    w.add_rope_dimension_count(hp.get("n_rot", hp["head_dim"]))
    w.add_rope_freq_base(hp["rope_base"])
    w.add_layer_norm_rms_eps(hp["eps"])
    w.add_vocab_size(hp["n_vocab"])
    if arch == "gemma3":
        w.add_sliding_window(hp["sliding_window"])
        w.add_sliding_window_pattern(hp["swa_pattern"])
    if hp.get("longrope"):
        w.add_rope_scaling_orig_ctx_len(hp["n_ctx_orig"])
        w.add_rope_scaling_attn_factors(1.1)
        w.add_sliding_window(hp["n_ctx_orig"] // 2)  # ignored, as llama.cpp ignores it
    if hp.get("temperature_scale"):
        w.add_float32(f"{arch}.attention.temperature_scale", hp["temperature_scale"])
        w.add_uint32(f"{arch}.rope.scaling.original_context_length", hp["temperature_floor"])
    if hp.get("n_expert"):
        w.add_expert_count(hp["n_expert"])
        w.add_expert_used_count(hp["n_expert_used"])
        if arch in ("qwen3moe", "gpt-oss"):
            w.add_expert_feed_forward_length(hp["n_ff_exp"])
    if arch == "gpt-oss":
        w.add_sliding_window(hp["sliding_window"])
        w.add_rope_scaling_type(RopeScalingType.YARN)
        w.add_rope_scaling_factor(hp["yarn_factor"])
        w.add_rope_scaling_orig_ctx_len(hp["n_ctx_orig"])

"""Independent numpy forward pass of llama-family GGUF models, used as a test oracle.

Written for readability, not speed: every step of llama.cpp's graph for the
architectures llama (and Mistral, which GGUF files store as "llama"), qwen2 and
gemma3 is spelled out in numpy. All hyper-parameters come from the GGUF metadata,
under llama.cpp's key names. Facts taken from llama.cpp's source (llama-model.cpp,
llama-hparams.cpp, ggml's rope):

- Rope. llama.cpp's llama_model_rope_type() gives LLM_ARCH_LLAMA the "normal"
  mode (LLAMA_ROPE_TYPE_NORM: rotate adjacent pairs (x[2i], x[2i+1])) and
  LLM_ARCH_QWEN2 / LLM_ARCH_GEMMA3 the NEOX mode (rotate (x[i], x[i + n_rot/2])).
  Angle for pair i at position p: p * freq_scale * base^(-2i/n_rot) / freq_factor[i],
  freq_factor coming from the optional rope_freqs.weight tensor (how Llama 3's
  rope scaling reaches llama.cpp), freq_scale = 1/rope.scaling.factor for linear
  scaling. Dimensions past rope.dimension_count pass through unrotated.
- Attention scale: {arch}.attention.scale when present, else 1/sqrt(head_dim). For
  gemma3 llama.cpp uses 1/sqrt(key_length) except for the 62-layer (27B) model,
  which uses 1/sqrt(n_embd/n_head) (gemma_pytorch's query_pre_attn_scalar).
- gemma3: token embeddings scaled by sqrt(n_embd); RMSNorm weights are used as
  stored (the converter already added Gemma's +1); Q and K get a per-head RMSNorm
  before rope; the attention and FFN outputs get their own RMSNorm
  (post_attention_norm, post_ffw_norm) before the residual add; FFN is
  down(gelu_tanh(gate(x)) * up(x)). Sliding-window layers: llama.cpp's
  set_swa_pattern(6) marks layer il as sliding when il % 6 < 5 (every 6th layer is
  global); {arch}.attention.sliding_window_pattern overrides it (an int period, or
  one flag per layer, true = sliding). A sliding layer lets query position i see key
  position j when 0 <= i - j < n_swa (LLAMA_SWA_TYPE_STANDARD). Sliding layers use
  rope base {arch}.rope.freq_base_swa (default 10000, scale 1); global layers the
  metadata rope base and scaling.
- Output: output.weight, or the token embedding when it is absent (tied).
- qwen3 / qwen3moe: NEOX rope; per-head RMSNorm of Q and K before rope (as gemma3), no biases.
- smollm3: llama, except that layer il skips rope when (il + 1) % 4 == 0
  (llama_model_smollm3: n_no_rope_layer_step = 4).
- mistral3: llama; when {arch}.attention.temperature_scale is set, Q at position p is
  multiplied by log(floor(p / rope.scaling.original_context_length) + 1) * scale + 1
  (llm_graph_input_attn_temp, f_attn_temp_offset = 0).
- phi3: NEOX rope on the first rope.dimension_count dims; attn_qkv holds q, k, v rows in that
  order and ffn_up 2 * n_ff rows, gate then up (LLM_FFN_SWIGLU: silu(first half) * second
  half); LongRoPE: frequency factors rope_factors_long when the context n_ctx exceeds
  rope.scaling.original_context_length, else rope_factors_short (get_rope_factors); the rotated
  dims of q and k times rope.scaling.attn_factor (rope_yarn's mscale, ext_factor 0). Its
  sliding window is ignored, as llama.cpp's loader does.
- YaRN (rope.scaling.type yarn; gpt-oss, mistral3): ggml's rope_yarn with ext_factor 1: pair i's
  angle mixes the interpolated (angle * freq_scale) and the extrapolated angle by
  ramp(i) = 1 - clamp((i - lo) / max(0.001, hi - lo), 0, 1), lo/hi from
  ggml_rope_yarn_corr_dims (n_rot, rope.scaling.original_context_length, base,
  rope.scaling.yarn_beta_fast / _slow, default 32 / 1); the rotated dims of q and k times
  1 + 0.1 ln(factor) (with rope.scaling.yarn_log_multiplier m: that over 1 + 0.1 m ln(factor)),
  as llama_context's yarn_attn_factor and ggml's mscale give it.
- gpt-oss (LLM_ARCH_OPENAI_MOE): NEOX rope with YaRN on every layer; layers 0, 2, ... slide over
  attention.sliding_window (set_swa_pattern(2)); q/k/v/output biases; each head's softmax has
  one more logit, attn_sinks[h], in its denominator only; post_attention_norm is the norm before
  the experts (no norm on the attention output); router logits + ffn_gate_inp.bias, the top
  expert_used_count logits chosen and weighted by their softmax (SOFTMAX_WEIGHT, no
  renormalisation); expert e: down_e(swiglu_oai(gate_e h + bg_e, up_e h + bu_e)) + bd_e,
  swiglu_oai(g, u) = min(g, 7) sigmoid(1.702 min(g, 7)) (clamp(u, -7, 7) + 1).
- Mixture of experts (qwen3moe; llama files with expert_count, i.e. Mixtral), as
  build_moe_ffn with LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX: probs = softmax(ffn_gate_inp h)
  over all experts; the expert_used_count largest are chosen; their probs, divided by their
  sum (clamped to >= 6.1035e-5) when {arch}.expert_weights_norm (llama.cpp hard-codes true for
  both), times expert_weights_scale when set, weight the SiLU-gated experts
  down_e(silu(gate_e h) * up_e h); expert e's matrices are slice e of the 3-D
  ffn_{gate,up,down}_exps tensors (ggml ne (n_embd, n_ff_exp, n_expert) etc.).

Agreement with llama.cpp (llama-cpp-python 0.3.36, CPU): on F32/F16 synthetic models
within ~1e-3 of the logit range (its F16 KV cache). On quantized weights llama.cpp
first rounds activations to 8 bits (Q8_0 / Q8_K); that moves logits by ~1-5% of the
range, and by ~35% on Qwen2.5's first position, whose activations are huge.
emulate_ggml=True reproduces that rounding (Qwen position 0: 0.004 of the range).

API: ReferenceModel(path).logits(tokens) -> (n_tokens, n_vocab) float32, a full
causal pass with no KV cache. logits_many() runs several prompts through one
pass over the weights (each weight dequantized once) and can keep only chosen rows.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader
from gguf import quants as gguf_quants

SUPPORTED_ARCHS = ("llama", "mistral", "qwen2", "gemma3", "qwen3", "smollm3", "mistral3", "qwen3moe", "phi3",
                   "gpt-oss")
NEOX_ARCHS = ("qwen2", "gemma3", "qwen3", "qwen3moe", "phi3", "gpt-oss")
NO_ROPE_STEP = {"smollm3": 4}  # llama.cpp: hparams.n_no_rope_layer_step
GEMMA3_DEFAULT_SWA_PERIOD = 6  # llama.cpp: hparams.set_swa_pattern(6) for gemma3


def _pyggml_dequantize():
    """pyggml's C++ dequantizer when the built module is importable, else None."""
    try:
        import pyggml
        return pyggml.dequantize
    except Exception:
        return None


def dequantize_rows(data: np.ndarray, qtype: GGMLQuantizationType, n_per_row: int) -> np.ndarray:
    """Rows of a GGUF tensor's bytes (or floats) -> float32 (n_rows, n_per_row).

    Uses pyggml.dequantize when it handles the type (its formats are verified
    byte-exact against ggml elsewhere; it is much faster), else gguf.quants.
    """
    if qtype == GGMLQuantizationType.F32:
        return np.asarray(data, dtype=np.float32).reshape(-1, n_per_row)
    if qtype == GGMLQuantizationType.F16:
        return np.asarray(data).view(np.float16).astype(np.float32).reshape(-1, n_per_row)
    fast = _pyggml_dequantize()
    if fast is not None:
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        block, nbytes = GGML_QUANT_SIZES[qtype]
        n_rows = raw.size // (n_per_row // block * nbytes)
        try:
            return fast(raw, int(qtype), shape=(n_rows, n_per_row))
        except Exception:  # a type this build of pyggml does not have yet
            pass
    return gguf_quants.dequantize(np.asarray(data), qtype).astype(np.float32).reshape(-1, n_per_row)


# ---------------------------------------------------------------- reading the file

@dataclasses.dataclass
class Tensor:
    qtype: GGMLQuantizationType
    ne: tuple      # ggml order: ne[0] is the row length
    rows: np.ndarray  # (n_rows, row) of the stored units: uint8 bytes, or float32/float16 values


def read_gguf(path: str) -> tuple[dict, dict]:
    """(metadata without tokenizer.*, name -> Tensor) of a GGUF file.

    Uses pyggml's GGUF parser when it is importable (gguf.GGUFReader takes ~15 s of CPU to
    open a file with a 262144-token vocabulary), else gguf.GGUFReader.
    """
    try:
        from pyggml.formats.gguf_file import GGUFFile
    except Exception:
        GGUFFile = None
    if GGUFFile is not None:
        f = GGUFFile(path)
        meta = {k: v for k, v in f.metadata.items() if not k.startswith("tokenizer.")}
        tensors = {}
        for t in f.tensors:
            qtype = GGMLQuantizationType(int(t.type))
            raw = f.raw(t.name)
            unit = {GGMLQuantizationType.F32: np.float32, GGMLQuantizationType.F16: np.float16}.get(qtype)
            rows = raw.view(unit) if unit is not None else raw
            tensors[t.name] = Tensor(qtype, tuple(int(n) for n in t.ne), rows.reshape(t.n_rows, -1))
        return meta, tensors
    r = GGUFReader(path)
    meta = {k: fld.contents() for k, fld in r.fields.items() if not k.startswith("tokenizer.")}
    tensors = {}
    for t in r.tensors:
        ne = tuple(int(n) for n in t.shape)
        tensors[t.name] = Tensor(t.tensor_type, ne, np.asarray(t.data).reshape(int(np.prod(ne[1:])), -1))
    return meta, tensors


# ---------------------------------------------------------------- building blocks

def rms_norm(x: np.ndarray, weight: np.ndarray | None, eps: float) -> np.ndarray:
    """x / sqrt(mean(x^2) + eps) over the last axis, times weight."""
    mean_sq = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
    y = x * (1.0 / np.sqrt(mean_sq + eps)).astype(x.dtype)
    if weight is not None:
        y = y * weight
    return y.astype(x.dtype, copy=False)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """ggml_gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def gelu_tanh_fp16_table(x: np.ndarray) -> np.ndarray:
    """ggml-cpu's GELU (GGML_GELU_FP16): looked up in an fp16 table at fp16(x), so
    fp16(gelu(fp16(x))); 0 below -10 and x above 10."""
    x16 = x.astype(np.float16).astype(np.float32)
    y = gelu_tanh(x16).astype(np.float16).astype(x.dtype)
    return np.where(x <= -10, 0, np.where(x >= 10, x, y)).astype(x.dtype)


# ggml's CPU matmul first converts the activations to the weight type's "vec_dot_type".
ACTIVATION_TYPE = {
    GGMLQuantizationType.F16: "F16", GGMLQuantizationType.BF16: "BF16",
    GGMLQuantizationType.Q4_0: "Q8_0", GGMLQuantizationType.Q4_1: "Q8_0",  # Q8_1 rounds as Q8_0
    GGMLQuantizationType.Q5_0: "Q8_0", GGMLQuantizationType.Q5_1: "Q8_0",
    GGMLQuantizationType.Q8_0: "Q8_0",
    GGMLQuantizationType.Q2_K: "Q8_K", GGMLQuantizationType.Q3_K: "Q8_K",
    GGMLQuantizationType.Q4_K: "Q8_K", GGMLQuantizationType.Q5_K: "Q8_K",
    GGMLQuantizationType.Q6_K: "Q8_K",
    GGMLQuantizationType.TQ1_0: "Q8_K", GGMLQuantizationType.TQ2_0: "Q8_K",
    GGMLQuantizationType.MXFP4: "Q8_0", GGMLQuantizationType.NVFP4: "Q8_0",
    GGMLQuantizationType.Q1_0: "Q8_0",
    **{t: "Q8_K" for t in (GGMLQuantizationType.IQ2_XXS, GGMLQuantizationType.IQ2_XS, GGMLQuantizationType.IQ2_S,
                           GGMLQuantizationType.IQ3_XXS, GGMLQuantizationType.IQ3_S, GGMLQuantizationType.IQ1_S,
                           GGMLQuantizationType.IQ1_M)},
}


def round_activations(x: np.ndarray, kind: str | None) -> np.ndarray:
    """x (..., n) rounded as ggml rounds a matmul's activations for `kind` (None: unchanged)."""
    if kind is None:
        return x
    if kind == "F16":
        return x.astype(np.float16).astype(x.dtype)
    if kind == "BF16":
        return gguf_quants.dequantize(gguf_quants.quantize(x.astype(np.float32), GGMLQuantizationType.BF16),
                                      GGMLQuantizationType.BF16).astype(x.dtype)
    if kind == "Q8_0":  # 32-blocks, d = amax/127 kept as fp16, q = round(x/d)
        q8 = GGMLQuantizationType.Q8_0
        return gguf_quants.dequantize(gguf_quants.quantize(x.astype(np.float32), q8), q8).astype(x.dtype)
    if kind == "Q8_K":  # 256-blocks, scale from the signed value of largest magnitude, float d
        b = x.astype(np.float32).reshape(-1, 256)
        idx = np.abs(b).argmax(axis=1)
        mx = b[np.arange(len(b)), idx][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            iscale = np.where(mx != 0, np.float32(-127.0) / mx, 0).astype(np.float32)
            q = np.minimum(127, np.round(iscale * b))
            d = np.where(iscale != 0, np.float32(1.0) / iscale, 0).astype(np.float32)
        return (d * q).reshape(x.shape).astype(x.dtype)
    raise ValueError(kind)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def swiglu_oai(g: np.ndarray, u: np.ndarray, alpha: float = 1.702, limit: float = 7.0) -> np.ndarray:
    g = np.minimum(g, limit)
    return g / (1.0 + np.exp(-alpha * g)) * (np.clip(u, -limit, limit) + 1.0)


def yarn_corr_dims(n_rot: int, n_ctx_orig: int, base: float, beta_fast: float, beta_slow: float) -> tuple:
    def dim(n_rotations):
        return n_rot * math.log(n_ctx_orig / (n_rotations * 2 * math.pi)) / (2 * math.log(base))
    return max(0.0, math.floor(dim(beta_fast))), min(n_rot - 1.0, math.ceil(dim(beta_slow)))


def rope(x: np.ndarray, pos: np.ndarray, n_rot: int, base: float, freq_scale: float,
         freq_factors: np.ndarray | None, neox: bool, yarn: tuple | None = None) -> np.ndarray:
    """Rotary embedding of x (n_tok, n_head, head_dim) at integer positions pos (n_tok,).
    yarn: (n_ctx_orig, beta_fast, beta_slow) for YaRN's angles (the magnitude is the caller's)."""
    half = n_rot // 2
    inv_freq = base ** (-2.0 * np.arange(half, dtype=np.float64) / n_rot)  # (half,)
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors[:half].astype(np.float64)
    if yarn is not None:
        lo, hi = yarn_corr_dims(n_rot, yarn[0], base, yarn[1], yarn[2])
        mix = 1.0 - np.clip((np.arange(half) - lo) / max(0.001, hi - lo), 0.0, 1.0)
        inv_freq = inv_freq * (freq_scale * (1.0 - mix) + mix)
        freq_scale = 1.0
    theta = freq_scale * pos.astype(np.float64)[:, None] * inv_freq[None, :]  # (n_tok, half)
    cos = np.cos(theta)[:, None, :]
    sin = np.sin(theta)[:, None, :]
    out = x.astype(np.float64)  # copy
    if neox:  # pairs (i, i + half)
        a, b = out[..., :half].copy(), out[..., half:n_rot].copy()
        out[..., :half] = a * cos - b * sin
        out[..., half:n_rot] = a * sin + b * cos
    else:  # adjacent pairs (2i, 2i + 1)
        a, b = out[..., 0:n_rot:2].copy(), out[..., 1:n_rot:2].copy()
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    return out.astype(x.dtype)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float,
              window: int | None, round_probs: bool = False, sinks: np.ndarray | None = None) -> np.ndarray:
    """Causal grouped-query attention, computed in q's dtype.

    q (n_tok, n_head, d_k), k (n_tok, n_head_kv, d_k), v (n_tok, n_head_kv, d_v)
    -> (n_tok, n_head * d_v). Query i sees key j when j <= i and, for a sliding
    window, i - j < window.
    """
    n_tok, n_head, _ = q.shape
    n_head_kv, d_v = k.shape[1], v.shape[2]
    group = n_head // n_head_kv
    i = np.arange(n_tok)[:, None]
    j = np.arange(n_tok)[None, :]
    visible = j <= i
    if window is not None:
        visible &= (i - j) < window
    kh = np.repeat(k.transpose(1, 0, 2), group, axis=0)    # (n_head, n_tok, d_k): head h uses kv head h // group
    vh = np.repeat(v.transpose(1, 0, 2), group, axis=0)    # (n_head, n_tok, d_v)
    s = (q.transpose(1, 0, 2) @ kh.transpose(0, 2, 1)) * q.dtype.type(scale)  # (n_head, n_tok, n_tok)
    s = np.where(visible, s, -np.inf)
    if sinks is not None:  # one more logit per head in the denominator (gpt-oss)
        sk = np.broadcast_to(sinks.astype(s.dtype)[:, None, None], (n_head, n_tok, 1))
        mx = np.maximum(s.max(axis=2, keepdims=True), sk)
        e = np.exp(s - mx)
        p = e / (e.sum(axis=2, keepdims=True) + np.exp(sk - mx))
    else:
        s = np.exp(s - s.max(axis=2, keepdims=True))
        p = s / s.sum(axis=2, keepdims=True)
    if round_probs:
        p = p.astype(np.float16).astype(q.dtype)
    out = (p @ vh).transpose(1, 0, 2)                       # (n_tok, n_head, d_v)
    return out.reshape(n_tok, n_head * d_v)


# ---------------------------------------------------------------- the model

class ReferenceModel:
    """A GGUF model evaluated by plain numpy; see the module docstring."""

    def __init__(self, path, dtype=np.float32, cache_weights: bool = True,
                 emulate_ggml: bool = False, n_ctx: int = 0):
        """emulate_ggml: round as llama.cpp's CPU backend does (activations to the
        weight's vec_dot_type before each matmul, Q/K/V and attention weights to fp16
        as with its F16 KV cache), to separate rounding noise from real differences."""
        self.path = str(path)
        self.emulate_ggml = emulate_ggml
        self.n_ctx = n_ctx  # the runtime's context: picks phi3's long or short rope factors
        self.dtype = np.dtype(dtype)
        self.cache_weights = cache_weights
        self._cache: dict[str, np.ndarray] = {}
        # set to a dict to record the input of every linear layer: {(layer, site): array},
        # sites as pyggml.arch.Site numbers them (0 q/k/v, 1 attn_output, 2 gate/up, 3 down)
        self.trace = None
        self.meta, self.tensors = read_gguf(self.path)
        self.arch = self.meta["general.architecture"]
        if self.arch not in SUPPORTED_ARCHS:
            raise ValueError(f"{self.path}: architecture {self.arch!r} is not one of {SUPPORTED_ARCHS}")
        self._read_hparams()

    # -- metadata

    def _key(self, name, default=None):
        return self.meta.get(f"{self.arch}.{name}", default)

    def _read_hparams(self):
        self.n_embd = int(self._key("embedding_length"))
        self.n_layer = int(self._key("block_count"))
        self.n_head = int(self._key("attention.head_count"))
        self.n_head_kv = int(self._key("attention.head_count_kv", self.n_head))
        self.head_dim_k = int(self._key("attention.key_length", self.n_embd // self.n_head))
        self.head_dim_v = int(self._key("attention.value_length", self.n_embd // self.n_head))
        self.eps = float(self._key("attention.layer_norm_rms_epsilon"))
        self.n_rot = int(self._key("rope.dimension_count", self.head_dim_k))
        self.rope_base = float(self._key("rope.freq_base", 10000.0))
        scaling = self._key("rope.scaling.type", "none")
        factor = float(self._key("rope.scaling.factor", 0.0) or 0.0)
        self.yarn, yarn_mscale = None, 1.0
        if scaling in ("linear", "yarn") and factor > 0:
            self.rope_scale = 1.0 / factor
        elif scaling in ("none", "linear", "yarn"):
            self.rope_scale = 1.0
        else:
            raise NotImplementedError(f"{self.path}: rope scaling {scaling!r}")
        if scaling == "yarn":
            f = 1.0 / self.rope_scale
            orig = int(self._key("rope.scaling.original_context_length", 0) or self._key("context_length", 0))
            self.yarn = (orig, float(self._key("rope.scaling.yarn_beta_fast", 32.0)),
                         float(self._key("rope.scaling.yarn_beta_slow", 1.0)))
            m = float(self._key("rope.scaling.yarn_log_multiplier", 0.0) or 0.0)
            yarn_mscale = 1.0 if f <= 1 else (1 + 0.1 * math.log(f)) / ((1 + 0.1 * m * math.log(f)) if m else 1.0)
        self.neox = self.arch in NEOX_ARCHS
        self.n_vocab = self.tensors["token_embd.weight"].ne[1]
        scale = self._key("attention.scale")
        if scale:
            self.attn_scale = float(scale)
        elif self.arch == "gemma3" and self.n_layer == 62:
            self.attn_scale = 1.0 / math.sqrt(self.n_embd // self.n_head)
        else:
            self.attn_scale = 1.0 / math.sqrt(self.head_dim_k)
        self.softcap = float(self._key("final_logit_softcapping", 0.0) or 0.0)
        self.no_rope_step = NO_ROPE_STEP.get(self.arch, 0)
        self.rope_attn_factor = float(self._key("rope.scaling.attn_factor", 1.0) or 1.0) * yarn_mscale
        self.temp_scale = float(self._key("attention.temperature_scale", 0.0) or 0.0) if self.arch == "mistral3" else 0.0
        self.temp_floor = int(self._key("rope.scaling.original_context_length", 0) or 0)
        self.n_expert = int(self._key("expert_count", 0) or 0)
        self.n_expert_used = int(self._key("expert_used_count", 0) or 0)
        self.expert_norm = bool(self._key("expert_weights_norm", True))
        self.expert_scale = float(self._key("expert_weights_scale", 0.0) or 0.0)
        self.sliding = [False] * self.n_layer
        self.n_swa = int(self._key("attention.sliding_window", 0) or 0)
        self.rope_base_swa = float(self._key("rope.freq_base_swa", 10000.0))
        if self.arch == "gpt-oss":  # llama_model_openai_moe: set_swa_pattern(2), the global rope on every layer
            self.rope_base_swa = float(self._key("rope.freq_base_swa", self.rope_base))
            self.sliding = [il % 2 == 0 for il in range(self.n_layer)] if self.n_swa > 0 else self.sliding
        if self.arch == "gemma3" and self.n_swa > 0:
            pattern = self._key("attention.sliding_window_pattern", GEMMA3_DEFAULT_SWA_PERIOD)
            if isinstance(pattern, (list, tuple)):
                self.sliding = [bool(p) for p in pattern][: self.n_layer]
            else:
                period = int(pattern)
                self.sliding = [period == 0 or il % period < period - 1 for il in range(self.n_layer)]

    # -- weights

    def weight(self, name: str) -> np.ndarray | None:
        """Dequantized tensor as numpy (..., ne0) in self.dtype, or None if absent."""
        if name in self._cache:
            return self._cache[name]
        t = self.tensors.get(name)
        if t is None:
            return None
        w = dequantize_rows(t.rows, t.qtype, t.ne[0]).astype(self.dtype, copy=False)
        w = w.reshape(tuple(reversed(t.ne)))
        if self.cache_weights:
            self._cache[name] = w
        return w

    def embed(self, tokens: np.ndarray) -> np.ndarray:
        """Token embedding rows (n_tok, n_embd), dequantizing only the rows asked for."""
        t = self.tensors["token_embd.weight"]
        if np.any(tokens < 0) or np.any(tokens >= self.n_vocab):
            raise ValueError(f"token id out of range [0, {self.n_vocab})")
        return dequantize_rows(t.rows[tokens], t.qtype, self.n_embd).astype(self.dtype)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        if self.emulate_ggml:
            x = round_activations(x, ACTIVATION_TYPE.get(self.tensors[name + ".weight"].qtype))
        y = x @ self.weight(name + ".weight").T
        b = self.weight(name + ".bias")
        return y + b if b is not None else y

    # -- forward

    def logits(self, tokens) -> np.ndarray:
        """(n_tokens, n_vocab) float32 logits of a full causal pass over tokens."""
        return self.logits_many([tokens])[0]

    def logits_many(self, prompts, rows=None) -> list[np.ndarray]:
        """Logits for several independent prompts in one pass over the weights.

        rows[i] (optional) lists the positions of prompt i whose logits to return;
        only those go through the output matrix. Returns float32 (len(rows[i]), n_vocab).
        """
        prompts = [np.asarray(p, dtype=np.int64).reshape(-1) for p in prompts]
        if any(p.size == 0 for p in prompts):
            raise ValueError("empty prompt")
        rows = [np.arange(p.size) if rows is None or rows[i] is None else np.asarray(rows[i], dtype=np.int64)
                for i, p in enumerate(prompts)]
        bounds = np.cumsum([0] + [p.size for p in prompts])
        x = self.embed(np.concatenate(prompts))  # (n_total, n_embd)
        if self.arch == "gemma3":
            x = x * self.dtype.type(math.sqrt(self.n_embd))
        for il in range(self.n_layer):
            x = self._block(il, x, bounds)
        picked = np.concatenate([x[bounds[i] + r] for i, r in enumerate(rows)])
        h = rms_norm(picked, self.weight("output_norm.weight"), self.eps)
        if self.trace is not None:
            self.trace["output"] = np.array(h, dtype=np.float32)
        out_name = "output.weight" if "output.weight" in self.tensors else "token_embd.weight"
        if self.emulate_ggml:
            h = round_activations(h, ACTIVATION_TYPE.get(self.tensors[out_name].qtype))
        logits = (h @ self.weight(out_name).T).astype(np.float32)
        if self.softcap > 0:
            logits = np.tanh(logits / self.softcap) * self.softcap
        splits = np.cumsum([len(r) for r in rows])[:-1]
        return np.split(logits, splits)

    def _record(self, il: int, site: int, x: np.ndarray) -> None:
        if self.trace is not None:
            self.trace[(il, site)] = np.array(x, dtype=np.float32)

    def _block(self, il: int, x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        p = f"blk.{il}."
        h = rms_norm(x, self.weight(p + "attn_norm.weight"), self.eps)
        self._record(il, 0, h)
        if p + "attn_qkv.weight" in self.tensors:
            nq, nk = self.n_head * self.head_dim_k, self.n_head_kv * self.head_dim_k
            qkv = self._linear(h, p + "attn_qkv")
            q, k, v = qkv[:, :nq], qkv[:, nq:nq + nk], qkv[:, nq + nk:]
        else:
            q, k, v = (self._linear(h, p + f"attn_{n}") for n in "qkv")
        q = q.reshape(len(x), self.n_head, self.head_dim_k)
        k = k.reshape(len(x), self.n_head_kv, self.head_dim_k)
        v = v.reshape(len(x), self.n_head_kv, self.head_dim_v)
        q_norm = self.weight(p + "attn_q_norm.weight")
        if q_norm is not None:
            q = rms_norm(q, q_norm, self.eps)
        k_norm = self.weight(p + "attn_k_norm.weight")
        if k_norm is not None:
            k = rms_norm(k, k_norm, self.eps)
        sliding = self.sliding[il]
        base, scale = (self.rope_base_swa, 1.0) if sliding else (self.rope_base, self.rope_scale)
        if self.arch == "gpt-oss":
            base, scale = (self.rope_base_swa if sliding else self.rope_base), self.rope_scale
        sinks = self.weight(p + "attn_sinks.weight")
        factors = self.weight("rope_freqs.weight")
        if factors is None and "rope_factors_short.weight" in self.tensors:
            orig = int(self._key("rope.scaling.original_context_length", 0) or 0)
            factors = self.weight("rope_factors_long.weight" if self.n_ctx > orig else "rope_factors_short.weight")
        attn = np.empty((len(x), self.n_head * self.head_dim_v), dtype=self.dtype)
        use_rope = not (self.no_rope_step and (il + 1) % self.no_rope_step == 0)
        for s, e in zip(bounds[:-1], bounds[1:]):
            pos = np.arange(e - s)
            qs = rope(q[s:e], pos, self.n_rot, base, scale, factors, self.neox, self.yarn) if use_rope else q[s:e]
            ks = rope(k[s:e], pos, self.n_rot, base, scale, factors, self.neox, self.yarn) if use_rope else k[s:e]
            vs = v[s:e]
            if use_rope and self.rope_attn_factor != 1.0:
                f = self.dtype.type(self.rope_attn_factor)
                qs, ks = qs.copy(), ks.copy()
                qs[..., : self.n_rot] *= f
                ks[..., : self.n_rot] *= f
            if self.temp_scale:
                t = np.log(np.floor(pos / self.temp_floor) + 1.0) * self.temp_scale + 1.0
                qs = qs * t.astype(self.dtype)[:, None, None]
            if self.emulate_ggml:
                # gemma3's graph scales Q before K.Q; the others scale inside the softmax
                pre = self.arch == "gemma3"
                qs = qs * self.dtype.type(self.attn_scale) if pre else qs
                qs, ks, vs = (round_activations(t, "F16") for t in (qs, ks, vs))
                attn[s:e] = attention(qs, ks, vs, 1.0 if pre else self.attn_scale,
                                      self.n_swa if sliding else None, round_probs=True, sinks=sinks)
            else:
                attn[s:e] = attention(qs, ks, vs, self.attn_scale, self.n_swa if sliding else None, sinks=sinks)
        self._record(il, 1, attn)
        a = self._linear(attn, p + "attn_output")
        if self.arch == "gpt-oss":  # its post_attention_norm is the feed-forward's norm
            x = x + a
            h = rms_norm(x, self.weight(p + "post_attention_norm.weight"), self.eps)
        else:
            post = self.weight(p + "post_attention_norm.weight")
            if post is not None:
                a = rms_norm(a, post, self.eps)
            x = x + a
            h = rms_norm(x, self.weight(p + "ffn_norm.weight"), self.eps)
        act = gelu_tanh if self.arch == "gemma3" else silu
        if self.emulate_ggml and act is gelu_tanh:
            act = gelu_tanh_fp16_table
        self._record(il, 2, h)
        if self.n_expert:
            f = self._moe(il, h)
        elif p + "ffn_gate.weight" not in self.tensors:  # phi3: ffn_up holds gate, then up
            gu = self._linear(h, p + "ffn_up")
            half = gu.shape[1] // 2
            g = act(gu[:, :half]) * gu[:, half:]
            self._record(il, 3, g)
            f = self._linear(g, p + "ffn_down")
        else:
            g = act(self._linear(h, p + "ffn_gate")) * self._linear(h, p + "ffn_up")
            self._record(il, 3, g)
            f = self._linear(g, p + "ffn_down")
        post = self.weight(p + "post_ffw_norm.weight")
        if post is not None:
            f = rms_norm(f, post, self.eps)
        return x + f

    def route(self, il: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(chosen experts (n_tok, k) in descending probability, their weights (n_tok, k))."""
        logits = self._linear(h, f"blk.{il}.ffn_gate_inp").astype(np.float64)  # (with its bias, if any)
        if self.arch == "gpt-oss":  # the largest logits, weighted by their softmax
            chosen = np.argsort(-logits, axis=1, kind="stable")[:, : self.n_expert_used]
            top = np.take_along_axis(logits, chosen, axis=1)
            w = np.exp(top - top.max(axis=1, keepdims=True))
            return chosen, (w / w.sum(axis=1, keepdims=True)).astype(self.dtype)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        chosen = np.argsort(-probs, axis=1, kind="stable")[:, : self.n_expert_used]
        w = np.take_along_axis(probs, chosen, axis=1)
        if self.expert_norm:
            w = w / np.maximum(w.sum(axis=1, keepdims=True), 6.103515625e-5)
        if self.expert_scale and self.expert_scale != 1.0:
            w = w * self.expert_scale
        return chosen, w.astype(self.dtype)

    def expert(self, il: int, e: int, h: np.ndarray) -> np.ndarray:
        """Expert e of layer il on h (n, n_embd): down_e(silu(gate_e h) * up_e h)."""
        p = f"blk.{il}."
        gate, up, down = (self.weight(p + f"ffn_{n}_exps.weight")[e] for n in ("gate", "up", "down"))
        if self.emulate_ggml:
            h = round_activations(h, ACTIVATION_TYPE.get(self.tensors[p + "ffn_up_exps.weight"].qtype))
        if self.arch == "gpt-oss":
            bias = {n: self.weight(p + f"ffn_{n}_exps.bias")[e] for n in ("gate", "up", "down")}
            g = swiglu_oai(h @ gate.T + bias["gate"], h @ up.T + bias["up"])
        else:
            g = silu(h @ gate.T) * (h @ up.T)
        if self.emulate_ggml:
            g = round_activations(g, ACTIVATION_TYPE.get(self.tensors[p + "ffn_down_exps.weight"].qtype))
        return g @ down.T + bias["down"] if self.arch == "gpt-oss" else g @ down.T

    def _moe(self, il: int, h: np.ndarray) -> np.ndarray:
        chosen, w = self.route(il, h)
        out = np.zeros_like(h)
        for t in range(len(h)):
            for j in range(chosen.shape[1]):
                out[t] += w[t, j] * self.expert(il, int(chosen[t, j]), h[t : t + 1])[0]
        return out

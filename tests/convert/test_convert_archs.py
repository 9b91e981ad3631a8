"""Conversion of the newer llama-family checkpoints (qwen3, smollm3, mistral3, and the
mixture-of-experts qwen3moe and mixtral) built here with random weights and the config
fields transformers defines for each (support/hf_checkpoints.py).

Each converted file is checked three ways: its tensors against the checkpoint's (experts
stacked into 3-D tensors as llama.cpp's converter writes them, Q/K rows permuted where the
GGUF architecture rotates interleaved pairs), pyggml's logits against a float64 forward pass
in Hugging Face's conventions (hf_logits), and pyggml's logits against the numpy reference
reading the same GGUF file. Optionally llama.cpp loads it too (marker llama_cpp)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pyggml import Model
from pyggml.convert import ConvertError, convert
from pyggml.formats.gguf_file import GGUFFile
from support.hf_checkpoints import MOE_NAMES, build_checkpoint, hf_logits
from support.reference_forward import ReferenceModel

ARCHS = ["qwen3", "smollm3", "mistral3", "qwen3moe", "mixtral", "phi3"]
GGUF_ARCH = {"qwen3": "qwen3", "smollm3": "smollm3", "mistral3": "mistral3", "qwen3moe": "qwen3moe",
             "mixtral": "llama", "phi3": "phi3"}
PRE = "qwen2"  # the synthetic byte-level tokenizers split text like Qwen2's (its hash is on no list)
PERMUTED = {"smollm3", "mistral3", "mixtral"}  # GGUF rope on interleaved pairs
N_LAYER = {"smollm3": 4}  # so that layer 3 goes without rope


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    out = {}
    for i, arch in enumerate(ARCHS):
        d = str(tmp_path_factory.mktemp(arch))
        w = build_checkpoint(d, arch, seed=10 + i, n_layer=N_LAYER.get(arch, 2))
        out[arch] = (d, w, json.load(open(os.path.join(d, "config.json"))))
    return out


@pytest.fixture(scope="module")
def converted(checkpoints, tmp_path_factory):
    out = {}
    for arch, (d, _, _) in checkpoints.items():
        path = str(tmp_path_factory.mktemp("gguf") / f"{arch}.gguf")
        convert(d, path, "F32", progress=False, tokenizer_pre=PRE)
        out[arch] = path
    return out


def _rope_rows(n_head: int, head_dim: int) -> np.ndarray:
    rows = []
    for h in range(n_head):
        for i in range(head_dim // 2):
            rows += [h * head_dim + i, h * head_dim + head_dim // 2 + i]
    return np.array(rows)


def _expected(arch, w, cfg) -> dict:
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    e = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"]}
    if arch == "phi3":
        rs = cfg["rope_scaling"]
        e["rope_factors_long.weight"] = np.array(rs["long_factor"], np.float32)
        e["rope_factors_short.weight"] = np.array(rs["short_factor"], np.float32)
    if "lm_head.weight" in w:
        e["output.weight"] = w["lm_head.weight"]
    for i in range(cfg["num_hidden_layers"]):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        e.update({b + "attn_norm.weight": w[p + "input_layernorm.weight"],
                  b + "attn_output.weight": w[p + "self_attn.o_proj.weight"],
                  b + "ffn_norm.weight": w[p + "post_attention_layernorm.weight"]})
        if arch == "phi3":  # fused as they come: q, k, v rows; gate, up rows
            e[b + "attn_qkv.weight"] = w[p + "self_attn.qkv_proj.weight"]
            e[b + "ffn_up.weight"] = w[p + "mlp.gate_up_proj.weight"]
            e[b + "ffn_down.weight"] = w[p + "mlp.down_proj.weight"]
            continue
        q, k = w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"]
        if arch in PERMUTED:
            q, k = q[_rope_rows(nh, hd)], k[_rope_rows(nkv, hd)]
        e.update({b + "attn_q.weight": q, b + "attn_k.weight": k, b + "attn_v.weight": w[p + "self_attn.v_proj.weight"]})
        if arch in ("qwen3", "qwen3moe"):
            e[b + "attn_q_norm.weight"] = w[p + "self_attn.q_norm.weight"]
            e[b + "attn_k_norm.weight"] = w[p + "self_attn.k_norm.weight"]
        if arch in MOE_NAMES:
            names, n_expert = MOE_NAMES[arch], cfg.get("num_experts") or cfg["num_local_experts"]
            e[b + "ffn_gate_inp.weight"] = w[p + names["router"]]
            for kind in ("gate", "up", "down"):
                e[b + f"ffn_{kind}_exps.weight"] = np.stack([w[p + names[kind].format(e=x)] for x in range(n_expert)])
        else:
            for kind in ("gate", "up", "down"):
                e[b + f"ffn_{kind}.weight"] = w[p + f"mlp.{kind}_proj.weight"]
    return e


@pytest.mark.parametrize("arch", ARCHS)
def test_tensors_match_the_checkpoint(arch, checkpoints, converted):
    _, w, cfg = checkpoints[arch]
    expected = _expected(arch, w, cfg)
    with GGUFFile(converted[arch]) as g:
        assert {t.name for t in g.tensors} == set(expected)
        for name, want in expected.items():
            np.testing.assert_array_equal(g.array(name), want, err_msg=name)


@pytest.mark.parametrize("arch", ARCHS)
def test_metadata(arch, checkpoints, converted):
    _, _, cfg = checkpoints[arch]
    a = GGUF_ARCH[arch]
    with GGUFFile(converted[arch]) as g:
        m = g.metadata
    assert m["general.architecture"] == a
    assert m[f"{a}.block_count"] == cfg["num_hidden_layers"]
    if arch == "qwen3moe":
        assert (m["qwen3moe.expert_count"], m["qwen3moe.expert_used_count"]) == (8, 2)
        assert m["qwen3moe.expert_feed_forward_length"] == cfg["moe_intermediate_size"]
        assert m["qwen3moe.expert_weights_norm"] is True
    if arch == "mixtral":
        assert (m["llama.expert_count"], m["llama.expert_used_count"]) == (4, 2)
    if arch == "phi3":
        assert m["phi3.rope.dimension_count"] == 12  # 3/4 of a 16-wide head
        assert m["phi3.rope.scaling.original_context_length"] == 32
        assert m["phi3.rope.scaling.attn_factor"] == pytest.approx((1 + np.log(4) / np.log(32)) ** 0.5)
        assert m["phi3.context_length"] == 128
    if arch == "mistral3":
        assert m["mistral3.attention.temperature_scale"] == pytest.approx(0.5)
        assert m["mistral3.rope.scaling.original_context_length"] == 4
        assert m["mistral3.rope.freq_base"] == pytest.approx(1e6)


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_match_hugging_face_conventions_and_the_reference(arch, checkpoints, converted):
    _, w, cfg = checkpoints[arch]
    toks = np.random.default_rng(3).integers(0, cfg["vocab_size"], 16)
    want = hf_logits(w, cfg, toks)
    # a context within phi3's original 32: the short LongRoPE factors, as transformers picks
    # them for a sequence that short
    m = Model.load(converted[arch], n_ctx=32, n_threads=2, n_batch=5, kv_type="f32")
    got = m.eval(toks, all_logits=True)
    rng = want.max() - want.min()
    assert np.abs(got - want).max() <= 1e-3 * rng
    ref = ReferenceModel(converted[arch], n_ctx=32).logits(toks)
    assert np.abs(got - ref).max() <= 1e-3 * rng


def test_qwen3moe_without_norm_topk_prob(tmp_path):
    d = str(tmp_path / "ck")
    w = build_checkpoint(d, "qwen3moe", seed=5, extra_config=dict(norm_topk_prob=False))
    cfg = json.load(open(os.path.join(d, "config.json")))
    path = str(tmp_path / "q.gguf")
    convert(d, path, "F32", progress=False, tokenizer_pre=PRE)
    toks = np.arange(3, 15)
    want = hf_logits(w, cfg, toks)
    got = Model.load(path, n_ctx=32, n_threads=2, kv_type="f32").eval(toks, all_logits=True)
    assert np.abs(got - want).max() <= 1e-3 * (want.max() - want.min())


MISTRAL3_YARN = dict(rope_type="yarn", rope_theta=1000.0, factor=4.0, original_max_position_embeddings=256,
                     beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=0.5, llama_4_scaling_beta=0.5)


def _mistral3_yarn(tmp_path):
    d = str(tmp_path / "ck")
    w = build_checkpoint(d, "mistral3", seed=8, extra_config=dict(rope_parameters=MISTRAL3_YARN))
    cfg = json.load(open(os.path.join(d, "config.json")))
    path = str(tmp_path / "m.gguf")
    convert(d, path, "F32", progress=False, tokenizer_pre=PRE)
    return w, cfg, path


def test_mistral3_yarn(tmp_path):
    """Ministral 3 checkpoints with YaRN rope_parameters: factor, original context, betas and
    mscale_all_dim (rope.scaling.yarn_log_multiplier) reach the file, and the logits follow
    transformers' YaRN (mscale over mscale_all_dim as the rotated dims' magnitude)."""
    rp = MISTRAL3_YARN
    w, cfg, path = _mistral3_yarn(tmp_path)
    with GGUFFile(path) as g:
        m = g.metadata
    assert m["mistral3.rope.scaling.type"] == "yarn"
    assert m["mistral3.rope.scaling.factor"] == pytest.approx(4.0)
    assert m["mistral3.rope.scaling.original_context_length"] == 256
    assert m["mistral3.rope.scaling.yarn_log_multiplier"] == pytest.approx(0.5)
    assert m["mistral3.rope.scaling.yarn_beta_fast"] == pytest.approx(32.0)
    toks = np.random.default_rng(9).integers(0, cfg["vocab_size"], 16)
    want = hf_logits(w, cfg, toks)
    model = Model.load(path, n_ctx=32, n_threads=2, kv_type="f32")
    assert model.hparams["rope_attn_factor"] == pytest.approx((1 + 0.1 * np.log(4)) / (1 + 0.05 * np.log(4)))
    got = model.eval(toks, all_logits=True)
    rng = want.max() - want.min()
    assert np.abs(got - want).max() <= 1e-3 * rng
    assert np.abs(got - ReferenceModel(path).logits(toks)).max() <= 1e-3 * rng
    # and YaRN matters here: without it the logits differ
    plain = dict(rp, rope_type="default")
    assert np.abs(hf_logits(w, dict(cfg, rope_parameters=plain), toks) - want).max() > 1e-2 * rng


def test_missing_expert_is_named(tmp_path):
    from support.hf_checkpoints import write_safetensors

    d = str(tmp_path / "ck")
    w = build_checkpoint(d, "mixtral", seed=6)
    del w["model.layers.1.block_sparse_moe.experts.3.w2.weight"]
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    with pytest.raises(ConvertError, match=r"block_sparse_moe.experts.3.w2.weight.*expert 3 of 4.*ffn_down_exps"):
        convert(d, str(tmp_path / "x.gguf"), "F32", progress=False, tokenizer_pre=PRE)


def test_unsupported_checkpoint_lists_what_converts(tmp_path):
    d = str(tmp_path / "ck")
    build_checkpoint(d, "llama", seed=7, extra_config=dict(architectures=["FalconForCausalLM"], model_type="falcon"))
    with pytest.raises(ConvertError, match=r"unsupported architecture \['FalconForCausalLM'\].*GptOssForCausalLM.*"
                                           r"Phi3ForCausalLM.*Qwen3MoeForCausalLM"):
        convert(d, str(tmp_path / "x.gguf"), "F32", progress=False, tokenizer_pre=PRE)


@pytest.mark.llama_cpp
def test_llama_cpp_agrees_on_mistral3_yarn(tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    _, cfg, path = _mistral3_yarn(tmp_path)
    toks = [int(t) for t in np.random.default_rng(4).integers(0, cfg["vocab_size"], 16)]
    llm = llama_cpp.Llama(model_path=path, logits_all=True, n_ctx=64, n_threads=2, verbose=False)
    llm.eval(toks)
    theirs = np.array(llm.scores[: len(toks)], dtype=np.float32)
    ours = Model.load(path, n_ctx=64, n_threads=2).eval(toks, all_logits=True)
    assert np.abs(ours - theirs).max() <= 1e-2 * (theirs.max() - theirs.min())
    np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))


@pytest.mark.llama_cpp
@pytest.mark.parametrize("arch", ARCHS)
def test_llama_cpp_agrees(arch, checkpoints, converted):
    llama_cpp = pytest.importorskip("llama_cpp")
    _, _, cfg = checkpoints[arch]
    toks = [int(t) for t in np.random.default_rng(4).integers(0, cfg["vocab_size"], 16)]
    llm = llama_cpp.Llama(model_path=converted[arch], logits_all=True, n_ctx=64, n_threads=2, verbose=False)
    llm.eval(toks)
    theirs = np.array(llm.scores[: len(toks)], dtype=np.float32)
    ours = Model.load(converted[arch], n_ctx=64, n_threads=2).eval(toks, all_logits=True)
    assert np.abs(ours - theirs).max() <= 1e-2 * (theirs.max() - theirs.min())
    np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))

"""gpt-oss end to end on tiny random checkpoints shaped as transformers' GptOssForCausalLM
stores them (support/hf_checkpoints.build_gpt_oss): conversion (bf16-style fused experts with
gate and up interleaved, or the original release's MXFP4 blocks copied as they are), the forward
pass against a float64 pass in Hugging Face's conventions (gpt_oss_logits: attention sinks, the
sliding window on every other layer, YaRN, biases, the router's softmax over its top logits,
the clamped SwiGLU) and against the numpy reference reading the GGUF file, incremental decoding
past the window, and the routing of single tokens. Optionally llama.cpp reads the same files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pyggml import GPUError, Model
from pyggml import arch as architectures
from pyggml.convert import convert
from pyggml.formats.gguf_file import GGUFFile
from support.hf_checkpoints import build_gpt_oss, gpt_oss_expert, gpt_oss_logits, gpt_oss_route, hf_mxfp4_values
from support.reference_forward import ReferenceModel

N_TOK = 16  # four times the sliding window of 4


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {}
    for kind in ("float", "mxfp4"):
        d = str(tmp_path_factory.mktemp(f"gpt-oss-{kind}"))
        w = build_gpt_oss(d, seed=21, mxfp4=kind == "mxfp4")
        path = str(tmp_path_factory.mktemp("gguf") / f"{kind}.gguf")
        written = convert(d, path, "F32", progress=False, tokenizer_pre="gpt-4o")
        out[kind] = dict(dir=d, weights=w, cfg=json.load(open(os.path.join(d, "config.json"))), path=path,
                         written={n: (s, t.name) for n, s, t in written})
    return out


def _tokens(cfg, seed=3, n=N_TOK):
    return np.random.default_rng(seed).integers(0, cfg["vocab_size"], n)


def test_experts_are_split_and_transposed_as_llama_cpp_does(models):
    m = models["float"]
    w, cfg = m["weights"], m["cfg"]
    p = "model.layers.1."
    gu, gub = w[p + "mlp.experts.gate_up_proj"], w[p + "mlp.experts.gate_up_proj_bias"]
    with GGUFFile(m["path"]) as g:
        np.testing.assert_array_equal(g.array("blk.1.ffn_gate_exps.weight"), gu[:, :, 0::2].transpose(0, 2, 1))
        np.testing.assert_array_equal(g.array("blk.1.ffn_up_exps.weight"), gu[:, :, 1::2].transpose(0, 2, 1))
        np.testing.assert_array_equal(g.array("blk.1.ffn_down_exps.weight"),
                                      w[p + "mlp.experts.down_proj"].transpose(0, 2, 1))
        np.testing.assert_array_equal(g.array("blk.1.ffn_gate_exps.bias"), gub[:, 0::2])
        np.testing.assert_array_equal(g.array("blk.1.ffn_up_exps.bias"), gub[:, 1::2])
        np.testing.assert_array_equal(g.array("blk.1.attn_sinks.weight"), w[p + "self_attn.sinks"])
        np.testing.assert_array_equal(g.array("blk.1.ffn_gate_inp.bias"), w[p + "mlp.router.bias"])
        np.testing.assert_array_equal(g.array("blk.1.post_attention_norm.weight"),
                                      w[p + "post_attention_layernorm.weight"])
        meta = g.metadata
    assert meta["general.architecture"] == "gpt-oss"
    assert meta["gpt-oss.attention.sliding_window"] == 4
    assert (meta["gpt-oss.expert_count"], meta["gpt-oss.expert_used_count"]) == (8, 2)
    assert meta["gpt-oss.expert_feed_forward_length"] == cfg["intermediate_size"]
    assert meta["gpt-oss.rope.scaling.type"] == "yarn"
    assert meta["gpt-oss.rope.scaling.factor"] == pytest.approx(4.0)
    assert meta["gpt-oss.rope.scaling.original_context_length"] == 256
    assert meta["tokenizer.ggml.pre"] == "gpt-4o"
    assert meta["tokenizer.ggml.model"] == "gpt2"


def test_mxfp4_experts_are_copied_without_requantizing(models):
    m = models["mxfp4"]
    assert m["written"]["blk.0.ffn_gate_exps.weight"][1] == "MXFP4"
    assert m["written"]["blk.0.ffn_down_exps.weight"][1] == "MXFP4"
    assert m["written"]["blk.0.attn_q.weight"][1] == "F32"
    w = m["weights"]
    with GGUFFile(m["path"]) as g:
        for i in range(m["cfg"]["num_hidden_layers"]):
            p = f"model.layers.{i}."
            gu = w[p + "mlp.experts.gate_up_proj"]
            np.testing.assert_array_equal(g.array(f"blk.{i}.ffn_gate_exps.weight"), gu[:, :, 0::2].transpose(0, 2, 1))
            np.testing.assert_array_equal(g.array(f"blk.{i}.ffn_up_exps.weight"), gu[:, :, 1::2].transpose(0, 2, 1))
            np.testing.assert_array_equal(g.array(f"blk.{i}.ffn_down_exps.weight"),
                                          w[p + "mlp.experts.down_proj"].transpose(0, 2, 1))


def test_hf_mxfp4_nibbles_become_ggml_blocks():
    """One block by hand: Hugging Face packs elements (2j, 2j + 1) into byte j; ggml packs
    (j, j + 16)."""
    from pyggml.arch.gpt_oss import hf_mxfp4_to_ggml

    codes = np.arange(32, dtype=np.uint8) % 16
    blocks = (codes[0::2] | (codes[1::2] << 4)).reshape(1, 16)
    out = hf_mxfp4_to_ggml(blocks, np.array([127], dtype=np.uint8))
    assert out.shape == (17,)
    assert out[0] == 127
    np.testing.assert_array_equal(out[1:] & 0x0F, codes[:16])
    np.testing.assert_array_equal(out[1:] >> 4, codes[16:])
    np.testing.assert_array_equal(hf_mxfp4_values(blocks, np.array([127], np.uint8)).reshape(-1),
                                  GGUF_MXFP4_VALUES(out))


def GGUF_MXFP4_VALUES(block: np.ndarray) -> np.ndarray:
    from gguf import GGMLQuantizationType, quants

    return quants.dequantize(block.reshape(1, 17), GGMLQuantizationType.MXFP4).reshape(-1)


@pytest.mark.parametrize("kind", ["float", "mxfp4"])
def test_logits_match_hugging_face_conventions_and_the_reference(models, kind):
    m = models[kind]
    toks = _tokens(m["cfg"])
    want = gpt_oss_logits(m["weights"], m["cfg"], toks)
    rng = want.max() - want.min()
    # float32 activations everywhere: the conversion and the forward pass exactly
    got = Model.load(m["path"], n_ctx=32, n_threads=2, kv_type="f32", precise=True).eval(toks, all_logits=True)
    assert np.abs(got - want).max() <= 1e-4 * rng
    ref = ReferenceModel(m["path"]).logits(toks)
    assert np.abs(got - ref).max() <= 1e-4 * rng
    if kind == "float":  # F32 weights: the default kernels take float32 activations too
        fast = Model.load(m["path"], n_ctx=32, n_threads=2, kv_type="f32").eval(toks, all_logits=True)
        assert np.abs(fast - want).max() <= 1e-3 * rng


def test_incremental_decoding_past_the_window_equals_the_batch(models):
    m = models["float"]
    toks = _tokens(m["cfg"], seed=5)
    batch = Model.load(m["path"], n_ctx=32, n_threads=2, kv_type="f32").eval(toks, all_logits=True)
    model = Model.load(m["path"], n_ctx=32, n_threads=2, kv_type="f32")
    steps = np.concatenate([model.eval(toks[:3], all_logits=True)] +
                           [model.eval(toks[i:i + 1], all_logits=True) for i in range(3, N_TOK)])
    np.testing.assert_allclose(steps, batch, rtol=0, atol=1e-4 * (batch.max() - batch.min()))


def test_a_token_gets_the_dense_output_of_its_chosen_experts(models):
    """Layer 0's experts for each token equal, computed densely in Hugging Face's layout, the
    softmax-of-top-2-logits weighted sum of the two experts the biased router picks; pyggml's
    next layer input agrees with the reference that routes so."""
    m = models["float"]
    W = {k: v.astype(np.float64) for k, v in m["weights"].items()}
    ref = ReferenceModel(m["path"])
    toks = _tokens(m["cfg"], seed=7, n=4)
    ref.trace = {}
    ref.logits(toks)
    h = ref.trace[(0, 2)].astype(np.float64)  # the experts' (normed) input
    p = "model.layers.0."
    top, wts = gpt_oss_route(W, p, m["cfg"], h)
    for t in range(len(toks)):
        i, j = top[t]
        logits = h[t] @ W[p + "mlp.router.weight"].T + W[p + "mlp.router.bias"]
        assert {i, j} == set(np.argsort(-logits)[:2])
        wi = 1.0 / (1.0 + np.exp(logits[j] - logits[i]))
        dense = wi * gpt_oss_expert(W, p, i, h[t]) + (1 - wi) * gpt_oss_expert(W, p, j, h[t])
        np.testing.assert_allclose(ref._moe(0, h[t:t + 1].astype(np.float32))[0], dense, rtol=1e-4, atol=1e-4)
        other = 0.5 * gpt_oss_expert(W, p, (i + 1) % 8 if (i + 1) % 8 != j else (i + 2) % 8, h[t]) \
            + 0.5 * gpt_oss_expert(W, p, j, h[t])
        assert not np.allclose(dense, other, atol=1e-3)
    got = Model.load(m["path"], n_ctx=16, n_threads=2, kv_type="f32").capture(toks, [(1, 0)])[(1, 0)]
    np.testing.assert_allclose(got, ref.trace[(1, 0)], rtol=0, atol=1e-4)


def test_hparams_and_refusals(models):
    m = Model.load(models["mxfp4"]["path"], n_ctx=16, n_threads=1)
    hp = m.hparams
    assert m.arch == "gpt-oss"
    assert hp["layer_swa"] == [1, 0, 1, 0]
    assert hp["expert_gating"] == "softmax_weight" and hp["expert_weights_norm"] is False
    assert hp["yarn_ext_factor"] == 1.0 and hp["yarn_n_ctx_orig"] == 256
    assert hp["rope_attn_factor"] == pytest.approx(1 + 0.1 * np.log(4.0))
    assert hp["layer_rope_scale"] == [0.25] * 4  # the sliding layers keep YaRN too
    # calibration captures only the q/k/v input (attn_v's bias stands in AWQ's way at the output)
    assert [cs.site for cs in architectures.get("gpt-oss").sites_for(hp)] == [architectures.Site.ATTN_QKV]
    with pytest.raises(GPUError, match="attention sinks"):
        Model.load(models["mxfp4"]["path"], n_ctx=16, n_gpu_layers=1)


def test_tokenizer_splits_like_the_checkpoints(models):
    from tokenizers import Tokenizer as HFTokenizer

    from pyggml import Tokenizer

    m = models["float"]
    theirs = HFTokenizer.from_file(os.path.join(m["dir"], "tokenizer.json"))
    ours = Tokenizer.from_gguf(m["path"])
    for text in ("Hello, world! The quick brown fox's 12345 numbers.", "def add(a, b):\n    return a + b",
                 "<|start|>user<|message|>Hi<|end|>"):
        assert ours.encode(text, add_special=False, parse_special=True) == theirs.encode(text).ids


@pytest.mark.llama_cpp
@pytest.mark.parametrize("kind", ["float", "mxfp4"])
def test_llama_cpp_agrees(models, kind):
    llama_cpp = pytest.importorskip("llama_cpp")
    m = models[kind]
    toks = [int(t) for t in _tokens(m["cfg"], seed=4)]
    llm = llama_cpp.Llama(model_path=m["path"], logits_all=True, n_ctx=64, n_threads=2, verbose=False)
    llm.eval(toks)
    theirs = np.array(llm.scores[: len(toks)], dtype=np.float32)
    rng = theirs.max() - theirs.min()
    if kind == "float":
        ours = Model.load(m["path"], n_ctx=64, n_threads=2).eval(toks, all_logits=True)
        assert np.abs(ours - theirs).max() <= 1e-2 * rng
        np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))
    else:  # llama.cpp rounds the experts' activations to Q8_0: the reference that does the same
        ref = ReferenceModel(m["path"], emulate_ggml=True).logits(toks)
        assert np.abs(ref - theirs).max() <= 1e-3 * rng


def test_mxfp4_moe_preset_keeps_experts_mxfp4(models, tmp_path):
    """llama.cpp's MXFP4_MOE file type: the expert matrices MXFP4, the other matrices Q8_0, the
    router, norms, sinks and biases F32; MXFP4 experts of the original release stay as they are."""
    for kind in ("float", "mxfp4"):
        path = str(tmp_path / f"{kind}.gguf")
        written = {n: t.name for n, _, t in convert(models[kind]["dir"], path, "MXFP4_MOE", progress=False,
                                                    tokenizer_pre="gpt-4o")}
        for name, t in written.items():
            if name.endswith("_exps.weight"):
                assert t == "MXFP4", name
            elif name.endswith((".bias", "norm.weight", "attn_sinks.weight", "ffn_gate_inp.weight")):
                assert t == "F32", name
            else:
                assert t == "Q8_0", name
        if kind == "mxfp4":  # the same bytes as the F32-typed conversion wrote for the experts
            with GGUFFile(path) as a, GGUFFile(models[kind]["path"]) as b:
                np.testing.assert_array_equal(a.raw("blk.2.ffn_down_exps.weight"), b.raw("blk.2.ffn_down_exps.weight"))
        logits = Model.load(path, n_ctx=32, n_threads=2).eval(_tokens(models[kind]["cfg"]), all_logits=True)
        assert np.isfinite(logits).all()


@pytest.mark.parametrize("name, ne, message", [
    ("blk.1.attn_sinks.weight", None, r"missing tensor blk.1.attn_sinks.weight"),
    ("blk.0.ffn_up_exps.bias", (32, 7), r"'blk.0.ffn_up_exps.bias' has shape ne=\[32, 7\]: expected \[32, 8\]"),
    ("blk.0.ffn_gate_inp.bias", (9,), r"'blk.0.ffn_gate_inp.bias' has shape ne=\[9\]: expected \[8\]"),
    ("output.weight", None, r"missing tensor output.weight"),  # llama.cpp's gpt-oss has no tied output
])
def test_bad_gpt_oss_files_name_the_tensor(models, tmp_path, name, ne, message):
    from pyggml import GGUFError
    from support.gguf_files import write_gguf

    with GGUFFile(models["float"]["path"]) as g:
        meta = {k: v for k, v in g.metadata.items() if not k.startswith(("general.", "tokenizer."))}
        tensors = {t.name: g.array(t.name) for t in g.tensors}
    if ne is None:
        del tensors[name]
    else:
        tensors[name] = np.zeros(tuple(reversed(ne)), np.float32)
    bad = write_gguf(tmp_path / "bad.gguf", tensors, meta, arch="gpt-oss")
    with pytest.raises(GGUFError, match=message):
        Model.load(bad)


def test_yarn_without_a_training_context_is_a_gguf_error(models, tmp_path):
    from pyggml import GGUFError
    from support.gguf_files import write_gguf

    with GGUFFile(models["float"]["path"]) as g:
        meta = {k: v for k, v in g.metadata.items()
                if not k.startswith(("general.", "tokenizer.")) and k not in (
                    "gpt-oss.rope.scaling.original_context_length", "gpt-oss.context_length")}
        tensors = {t.name: g.array(t.name) for t in g.tensors}
    bad = write_gguf(tmp_path / "bad.gguf", tensors, meta, arch="gpt-oss")
    with pytest.raises(GGUFError, match="rope.scaling.type = 'yarn' needs gpt-oss.rope.scaling.original_context_length"):
        Model.load(bad)


@pytest.mark.parametrize("extra, message", [
    (dict(swiglu_limit=10.0), "swiglu_limit = 10.0"),
    (dict(layer_types=["full_attention", "sliding_attention"] * 2), "not sliding-window on every other layer"),
])
def test_configs_a_gpt_oss_file_cannot_describe_are_refused(tmp_path, extra, message):
    from pyggml.errors import PyggmlError

    d = str(tmp_path / "ck")
    build_gpt_oss(d, seed=4, n_layer=4, extra_config=extra)
    with pytest.raises(PyggmlError, match=message):
        convert(d, str(tmp_path / "x.gguf"), "F32", progress=False, tokenizer_pre="gpt-4o")

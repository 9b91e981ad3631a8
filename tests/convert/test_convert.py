"""Hugging Face -> GGUF conversion on tiny checkpoints built here (see support/hf_checkpoints.py).

Checks: tensor names, shapes and values (with the RoPE row permutation and Gemma's 1 + w norms,
stated independently of the converter's code), metadata, vocabulary and tokenization, quantized
output against the native quantizer, sharded/BF16 sources, errors, atomic output, bounded
memory, and (optional oracle) llama.cpp's logits on the converted file against a numpy forward
pass in Hugging Face's conventions.
"""

from __future__ import annotations

import json
import os
import tracemalloc

import numpy as np
import pytest

from support.hf_checkpoints import build_checkpoint, hf_logits
from pyggml.convert import hf_to_gguf as convert_mod
from pyggml.convert import ConvertError, convert
from pyggml.convert.hf_checkpoint import CheckpointError
from pyggml.formats.gguf_file import GGUFFile
from pyggml.formats.quants import quantize
from pyggml.formats.types import GGMLType

ARCHS = ["llama", "mistral", "qwen2", "gemma3"]
GGUF_ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gemma3": "gemma3"}
# The synthetic BPE tokenizer is trained on a few sentences: its ids for llama.cpp's reference
# text hash to nothing llama.cpp knows, so its pre-tokenizer (Qwen2's split) is named.
PRE = "qwen2"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{arch: (directory, weights, config)} built once for the module."""
    out = {}
    for arch in ARCHS:
        d = str(tmp_path_factory.mktemp(arch))
        w = build_checkpoint(d, arch, seed=ARCHS.index(arch))
        out[arch] = (d, w, json.load(open(os.path.join(d, "config.json"))))
    return out


@pytest.fixture(scope="module")
def converted(checkpoints, tmp_path_factory):
    """{arch: path of the F32 conversion}."""
    out = {}
    for arch, (d, _, _) in checkpoints.items():
        path = str(tmp_path_factory.mktemp("gguf") / f"{arch}.gguf")
        convert(d, path, "F32", progress=False, tokenizer_pre=PRE)
        out[arch] = path
    return out


def _rope_rows(n_head: int, head_dim: int) -> np.ndarray:
    """GGUF row r of a Q/K projection is Hugging Face row rows[r]: within a head, GGUF keeps
    rotation pairs adjacent (2i, 2i+1) where Hugging Face has them half a head apart (i, i+d/2)."""
    rows = []
    for h in range(n_head):
        for i in range(head_dim // 2):
            rows += [h * head_dim + i, h * head_dim + head_dim // 2 + i]
    return np.array(rows)


def _expected_tensors(arch: str, w: dict, cfg: dict) -> dict:
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    gemma = arch == "gemma3"
    norm = (lambda x: x + 1) if gemma else (lambda x: x)
    e = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": norm(w["model.norm.weight"])}
    if "lm_head.weight" in w:
        e["output.weight"] = w["lm_head.weight"]
    for i in range(cfg["num_hidden_layers"]):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        q, k = w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"]
        if arch in ("llama", "mistral"):
            q, k = q[_rope_rows(nh, hd)], k[_rope_rows(nkv, hd)]
        e.update({
            b + "attn_norm.weight": norm(w[p + "input_layernorm.weight"]),
            b + "attn_q.weight": q, b + "attn_k.weight": k,
            b + "attn_v.weight": w[p + "self_attn.v_proj.weight"],
            b + "attn_output.weight": w[p + "self_attn.o_proj.weight"],
            b + "ffn_gate.weight": w[p + "mlp.gate_proj.weight"],
            b + "ffn_up.weight": w[p + "mlp.up_proj.weight"],
            b + "ffn_down.weight": w[p + "mlp.down_proj.weight"],
        })
        if gemma:
            e.update({
                b + "attn_q_norm.weight": w[p + "self_attn.q_norm.weight"] + 1,
                b + "attn_k_norm.weight": w[p + "self_attn.k_norm.weight"] + 1,
                b + "post_attention_norm.weight": w[p + "post_attention_layernorm.weight"] + 1,
                b + "ffn_norm.weight": w[p + "pre_feedforward_layernorm.weight"] + 1,
                b + "post_ffw_norm.weight": w[p + "post_feedforward_layernorm.weight"] + 1,
            })
        else:
            e[b + "ffn_norm.weight"] = w[p + "post_attention_layernorm.weight"]
        if arch == "qwen2":
            for x in "qkv":
                e[b + f"attn_{x}.bias"] = w[p + f"self_attn.{x}_proj.bias"]
    return e


@pytest.mark.parametrize("arch", ARCHS)
def test_tensors_match_the_checkpoint(arch, checkpoints, converted):
    _, w, cfg = checkpoints[arch]
    expected = _expected_tensors(arch, w, cfg)
    with GGUFFile(converted[arch]) as g:
        assert g.version == 3
        assert {t.name for t in g.tensors} == set(expected)
        for name, want in expected.items():
            got = g.array(name)
            assert got.shape == want.shape, name
            np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=name)


@pytest.mark.parametrize("arch", ARCHS)
def test_metadata(arch, checkpoints, converted):
    d, _, cfg = checkpoints[arch]
    a = GGUF_ARCH[arch]
    with GGUFFile(converted[arch]) as g:
        m = g.metadata
    assert m["general.architecture"] == a
    assert m[f"{a}.block_count"] == cfg["num_hidden_layers"]
    assert m[f"{a}.embedding_length"] == cfg["hidden_size"]
    assert m[f"{a}.feed_forward_length"] == cfg["intermediate_size"]
    assert m[f"{a}.attention.head_count"] == cfg["num_attention_heads"]
    assert m[f"{a}.attention.head_count_kv"] == cfg["num_key_value_heads"]
    assert m[f"{a}.context_length"] == cfg["max_position_embeddings"]
    assert m[f"{a}.rope.freq_base"] == pytest.approx(cfg["rope_theta"])
    assert m[f"{a}.attention.layer_norm_rms_epsilon"] == pytest.approx(cfg["rms_norm_eps"])
    assert m["general.file_type"] == 0 and m["general.quantization_version"] == 2
    if arch == "gemma3":
        assert m["gemma3.attention.key_length"] == cfg["head_dim"]
        assert m["gemma3.attention.sliding_window"] == cfg["sliding_window"]
        assert m["tokenizer.ggml.add_space_prefix"] is False
    # from tokenizer_config.json and generation_config.json
    assert "<|im_start|>" in m["tokenizer.chat_template"]
    assert m["tokenizer.ggml.eos_token_id"] == cfg["eos_token_id"]
    assert m["general.sampling.top_k"] == 20
    assert m["general.sampling.temp"] == pytest.approx(0.7)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_sentencepiece_vocabulary(arch, checkpoints, converted):
    import sentencepiece as spm

    d, _, cfg = checkpoints[arch]
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
    with GGUFFile(converted[arch]) as g:
        m = g.metadata
    assert m["tokenizer.ggml.model"] == "llama"
    assert m["tokenizer.ggml.tokens"] == [sp.id_to_piece(i) for i in range(sp.vocab_size())]
    assert m["tokenizer.ggml.scores"] == pytest.approx([sp.get_score(i) for i in range(sp.vocab_size())])
    types = m["tokenizer.ggml.token_type"]
    assert types[sp.unk_id()] == 2 and types[sp.bos_id()] == 3
    assert all(types[i] == 6 for i in range(sp.vocab_size()) if sp.is_byte(i))
    assert m["tokenizer.ggml.bos_token_id"] == sp.bos_id()
    assert m["tokenizer.ggml.add_bos_token"] is True


def test_bpe_vocabulary(checkpoints, converted):
    d, _, cfg = checkpoints["qwen2"]
    tj = json.load(open(os.path.join(d, "tokenizer.json")))
    with GGUFFile(converted["qwen2"]) as g:
        m = g.metadata
    assert m["tokenizer.ggml.model"] == "gpt2" and m["tokenizer.ggml.pre"] == "qwen2"
    vocab = {t: i for i, t in enumerate(m["tokenizer.ggml.tokens"])}
    for text, i in tj["model"]["vocab"].items():
        assert vocab[text] == i
    merges = [" ".join(x) if isinstance(x, list) else x for x in tj["model"]["merges"]]
    assert m["tokenizer.ggml.merges"] == merges
    for a in tj["added_tokens"]:
        assert m["tokenizer.ggml.token_type"][a["id"]] == 3  # control


@pytest.mark.parametrize("arch", ["llama", "gemma3", "qwen2"])
def test_tokenization_of_the_converted_file(arch, checkpoints, converted):
    from pyggml.text.tokenizer import Tokenizer

    d = checkpoints[arch][0]
    texts = ["Hello world, the quick fox 123", "def add(a, b):\n    return a + b", "  spaced   out\n\nlines"]
    tok = Tokenizer.from_gguf(converted[arch])
    for text in texts:
        if arch == "qwen2":
            import tokenizers

            want = tokenizers.Tokenizer.from_file(os.path.join(d, "tokenizer.json")).encode(text).ids
        else:
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
            want = [sp.bos_id()] + sp.encode(text)
        assert tok.encode(text) == want, text


def test_quantized_output_is_the_native_quantizer_s(checkpoints, tmp_path):
    d, w, cfg = checkpoints["llama"]
    path = str(tmp_path / "q.gguf")
    table = convert(d, path, "Q8_0", progress=False)
    expected = _expected_tensors("llama", w, cfg)
    with GGUFFile(path) as g:
        assert g.metadata["general.file_type"] == 7
        for name, shape, qtype in table:
            t = g.tensor(name)
            assert t.type == qtype and t.shape == shape
            if qtype == GGMLType.F32:
                continue
            assert qtype == GGMLType.Q8_0
            np.testing.assert_array_equal(g.raw(name), quantize(expected[name], qtype).reshape(-1), err_msg=name)


ALL_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
             "Q6_K", "IQ4_NL", "IQ4_XS"]


@pytest.fixture(scope="module")
def wide_checkpoint(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("wide"))
    w = build_checkpoint(d, "qwen2", hidden=256, n_ff=256, head_dim=64, n_layer=1, n_head=4, n_head_kv=1)
    return d, w, json.load(open(os.path.join(d, "config.json")))


@pytest.mark.parametrize("qtype", ALL_TYPES)
def test_every_output_type(qtype, wide_checkpoint, tmp_path):
    d, w, cfg = wide_checkpoint
    path = str(tmp_path / "m.gguf")
    convert(d, path, qtype, pure=True, progress=False, tokenizer_pre=PRE)
    expected = _expected_tensors("qwen2", w, cfg)
    t = GGMLType[qtype]
    with GGUFFile(path) as g:
        for info in g.tensors:
            if len(info.shape) == 1:
                assert info.type == GGMLType.F32, info.name
                continue
            assert info.type == t, info.name
            np.testing.assert_array_equal(g.raw(info.name), quantize(expected[info.name], t).reshape(-1),
                                          err_msg=info.name)


def test_k_quant_preset_on_256_wide_model(tmp_path):
    d = str(tmp_path / "hf")
    w = build_checkpoint(d, "llama", hidden=256, n_ff=512, head_dim=64, n_layer=4)
    path = str(tmp_path / "q4km.gguf")
    table = {n: t for n, _, t in convert(d, path, "Q4_K_M", progress=False)}
    # llama.cpp's Q4_K_M on 4 layers: attn_v / ffn_down get "more bits" in layers 2 and 3
    # (i >= 7n/8, or (i - n/8) % 3 == 2), the output Q6_K
    assert table["output.weight"] == GGMLType.Q6_K
    assert table["token_embd.weight"] == GGMLType.Q4_K
    assert [table[f"blk.{i}.attn_v.weight"] for i in range(4)] == [GGMLType.Q4_K, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q6_K]
    assert [table[f"blk.{i}.ffn_down.weight"] for i in range(4)] == [GGMLType.Q4_K, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q6_K]
    assert table["blk.0.attn_q.weight"] == GGMLType.Q4_K
    with GGUFFile(path) as g:
        assert g.metadata["general.file_type"] == 15
        x = g.array("blk.1.ffn_up.weight")
        ref = w["model.layers.1.mlp.up_proj.weight"]
        assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 0.12


def test_sharded_bf16_source_gives_the_same_file_as_one_f32_file(tmp_path):
    a, b = str(tmp_path / "sharded"), str(tmp_path / "single")
    build_checkpoint(a, "qwen2", dtype="BF16", shards=3, seed=5)
    wb = build_checkpoint(b, "qwen2", dtype="F32", seed=5)
    # the single-file copy holds the bf16-rounded values as float32
    from support.hf_checkpoints import bf16_round, write_safetensors

    write_safetensors(os.path.join(b, "model.safetensors"), {k: bf16_round(v) for k, v in wb.items()})
    pa, pb = str(tmp_path / "a.gguf"), str(tmp_path / "b.gguf")
    convert(a, pa, "F16", progress=False, tokenizer_pre=PRE)
    convert(b, pb, "F16", progress=False, tokenizer_pre=PRE)
    with GGUFFile(pa) as ga, GGUFFile(pb) as gb:
        assert [t.name for t in ga.tensors] == [t.name for t in gb.tensors]
        for t in ga.tensors:
            np.testing.assert_array_equal(ga.raw(t.name), gb.raw(t.name), err_msg=t.name)


# --- errors and safety -----------------------------------------------------------------------


def _copy_checkpoint(src: str, dst: str) -> str:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _edit_config(d: str, **changes) -> None:
    p = os.path.join(d, "config.json")
    cfg = json.load(open(p))
    cfg.update(changes)
    json.dump(cfg, open(p, "w"))


def test_errors_name_what_is_wrong(checkpoints, tmp_path):
    src = checkpoints["llama"][0]
    out = str(tmp_path / "x.gguf")

    with pytest.raises(CheckpointError, match="not a directory"):
        convert(str(tmp_path / "nowhere"), out, progress=False)

    d = _copy_checkpoint(src, str(tmp_path / "noconfig"))
    os.remove(os.path.join(d, "config.json"))
    with pytest.raises(CheckpointError, match="config.json: missing"):
        convert(d, out, progress=False)

    d = _copy_checkpoint(src, str(tmp_path / "arch"))
    _edit_config(d, architectures=["FalconForCausalLM"], model_type="falcon")
    with pytest.raises(ConvertError, match="unsupported architecture.*Falcon"):
        convert(d, out, progress=False)

    d = _copy_checkpoint(src, str(tmp_path / "shape"))
    _edit_config(d, intermediate_size=96)
    with pytest.raises(ConvertError, match=r"gate_proj.*has shape \[128, 64\].*\[96, 64\]"):
        convert(d, out, progress=False)

    d = _copy_checkpoint(src, str(tmp_path / "layers"))
    _edit_config(d, num_hidden_layers=3)
    with pytest.raises(ConvertError, match="missing tensor 'layers.2.input_layernorm.weight'"):
        convert(d, out, progress=False)

    d = _copy_checkpoint(src, str(tmp_path / "notok"))
    os.remove(os.path.join(d, "tokenizer.model"))
    with pytest.raises(CheckpointError, match="no tokenizer"):
        convert(d, out, progress=False)

    d = _copy_checkpoint(src, str(tmp_path / "noweights"))
    os.remove(os.path.join(d, "model.safetensors"))
    with pytest.raises(CheckpointError, match="no \\*.safetensors"):
        convert(d, out, progress=False)

    assert not os.path.exists(out)


def test_unsupported_dtype_is_named(checkpoints, tmp_path):
    d = _copy_checkpoint(checkpoints["llama"][0], str(tmp_path / "int8"))
    path = os.path.join(d, "model.safetensors")
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["model.norm.weight"]["dtype"] = "I32"  # same size, different meaning
    head = json.dumps(header).encode()
    head += b" " * (n - len(head))
    open(path, "wb").write(raw[:8] + head + raw[8 + n:])
    with pytest.raises(CheckpointError, match="model.norm.weight.*dtype I32"):
        convert(d, str(tmp_path / "x.gguf"), progress=False)


def test_truncated_shard_is_named(checkpoints, tmp_path):
    d = _copy_checkpoint(checkpoints["llama"][0], str(tmp_path / "trunc"))
    path = os.path.join(d, "model.safetensors")
    os.truncate(path, os.path.getsize(path) - 100)
    with pytest.raises(CheckpointError, match="model.safetensors.*inside the file"):
        convert(d, str(tmp_path / "x.gguf"), progress=False)


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_file(checkpoints, tmp_path, monkeypatch, exc):
    calls = []
    real = convert_mod.encode_tensor

    def failing(*a, **k):
        calls.append(1)
        if len(calls) == 5:
            raise exc
        return real(*a, **k)

    monkeypatch.setattr(convert_mod, "encode_tensor", failing)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(type(exc)):
        convert(checkpoints["llama"][0], str(out / "m.gguf"), "Q8_0", progress=False)
    assert os.listdir(out) == []


def test_existing_output_survives_a_failed_conversion(checkpoints, tmp_path, monkeypatch):
    out = str(tmp_path / "m.gguf")
    open(out, "wb").write(b"previous")
    monkeypatch.setattr(convert_mod, "encode_tensor", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        convert(checkpoints["llama"][0], out, progress=False)
    assert open(out, "rb").read() == b"previous"
    assert os.listdir(tmp_path) == ["m.gguf"]


def test_memory_is_bounded_by_the_largest_tensor(tmp_path):
    d = str(tmp_path / "hf")
    w = build_checkpoint(d, "llama", hidden=256, n_ff=1024, head_dim=64, n_layer=6)
    total = sum(v.nbytes for v in w.values())
    largest = max(v.nbytes for v in w.values())
    del w
    tracemalloc.start()
    try:
        convert(d, str(tmp_path / "m.gguf"), "Q8_0", progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 10 * largest
    assert peak < 4 * largest + (2 << 20), (peak, largest, total)


# --- optional oracle: llama.cpp --------------------------------------------------------------


@pytest.mark.llama_cpp
@pytest.mark.parametrize("arch", ARCHS)
def test_llama_cpp_logits_match_hugging_face_forward(arch, checkpoints, converted):
    llama_cpp = pytest.importorskip("llama_cpp")
    _, w, cfg = checkpoints[arch]
    llm = llama_cpp.Llama(converted[arch], logits_all=True, verbose=False, n_ctx=64, n_threads=1)
    tokens = llm.tokenize(b"Hello world, the quick fox 123", add_bos=True)
    llm.eval(tokens)
    got = np.array(llm.scores[: len(tokens)])
    want = hf_logits(w, cfg, tokens)
    # llama.cpp keeps its KV cache in F16: allow for that rounding
    assert np.abs(got - want).max() < 2e-3 * np.abs(want).max() + 1e-3
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.9


# --- against the numpy reference forward pass (reads the GGUF the way llama.cpp does) ---------


@pytest.mark.parametrize("arch", ARCHS)
def test_reference_forward_on_the_gguf_matches_hugging_face_forward(arch, checkpoints, converted):
    from support.reference_forward import ReferenceModel

    _, w, cfg = checkpoints[arch]
    tokens = [1, 17, 42, 99, 5, 250, 7, 300]
    got = ReferenceModel(converted[arch]).logits(tokens)
    want = hf_logits(w, cfg, tokens)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize("arch", ARCHS)
def test_converted_models_run_in_pyggml(arch, checkpoints, converted):
    import pyggml

    _, w, cfg = checkpoints[arch]
    tokens = [1, 17, 42, 99, 5, 250, 7, 300]
    model = pyggml.Model.load(converted[arch], n_ctx=64, kv_type="f32")
    got = model.eval(tokens, all_logits=True)
    want = hf_logits(w, cfg, tokens)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3 * np.abs(want).max())


def test_llama3_rope_scaling_becomes_rope_freqs(tmp_path):
    from support.reference_forward import ReferenceModel

    rs = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
              original_max_position_embeddings=64)
    d = str(tmp_path / "hf")
    w = build_checkpoint(d, "llama", extra_config=dict(rope_scaling=rs))
    cfg = json.load(open(os.path.join(d, "config.json")))
    path = str(tmp_path / "m.gguf")
    table = {n: t for n, _, t in convert(d, path, "F32", progress=False)}
    assert table["rope_freqs.weight"] == GGMLType.F32
    with GGUFFile(path) as g:
        f = g.array("rope_freqs.weight")
    assert f.shape == (8,) and f[0] == 1.0 and f[-1] == 8.0 and 1.0 < f[1] < 8.0  # all three regimes
    tokens = list(range(3, 40, 3))
    want = hf_logits(w, cfg, tokens)
    got = ReferenceModel(path).logits(tokens)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())
    assert np.abs(hf_logits(w, dict(cfg, rope_scaling=None), tokens) - want).max() > 1e-3  # it matters


def test_output_file_has_ordinary_permissions(converted):
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(converted["llama"]).st_mode & 0o777 == 0o666 & ~mask


# --- a realistic source: a real GGUF dequantized into a Hugging Face directory ---------------


@pytest.mark.real_model
@pytest.mark.slow
def test_real_gemma3_round_trip(gemma_path, tmp_path):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
    from gguf_to_hf import gguf_to_hf

    from pyggml.text.tokenizer import Tokenizer

    hf = str(tmp_path / "hf")
    gguf_to_hf(gemma_path, hf, "F16")
    # the rebuilt SentencePiece model tokenizes like the original GGUF (on text without runs of
    # whitespace: Gemma's whitespace pieces are user-defined, which llama.cpp matches in the raw
    # text and sentencepiece only after escaping spaces)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=os.path.join(hf, "tokenizer.model"))
    tok = Tokenizer.from_gguf(gemma_path)
    texts = ["Hello world, the quick fox 123", "def f(x): return x * 2", "Ünïcödé ✓ 日本語"]
    for text in texts:
        assert [sp.bos_id()] + sp.encode(text) == tok.encode(text), text
    # converting back with llama.cpp's Q4_K_M preset picks exactly the original file's types
    back = str(tmp_path / "back.gguf")
    convert(hf, back, "Q4_K_M", progress=False)
    with GGUFFile(gemma_path) as a, GGUFFile(back) as b:
        assert [(t.name, t.type, t.shape) for t in a.tensors] == [(t.name, t.type, t.shape) for t in b.tensors] or \
            {(t.name, t.type, t.shape) for t in a.tensors} == {(t.name, t.type, t.shape) for t in b.tensors}
        for key in ("gemma3.block_count", "gemma3.attention.head_count_kv", "gemma3.attention.key_length",
                    "gemma3.attention.sliding_window", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                    "tokenizer.ggml.scores", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_space_prefix"):
            assert a.metadata[key] == b.metadata[key], key
        # the converted file tokenizes exactly like the original, whitespace runs included
        tok_back = Tokenizer.from_gguf(back)
        for text in texts + ["def f(x):\n    return x * 2\n", "a  b   c\t\td\n\n\ne"]:
            assert tok_back.encode(text) == tok.encode(text), text
        # and the weights are the original's within F16 + re-quantization rounding
        for name in ("blk.3.ffn_down.weight", "blk.0.attn_norm.weight", "blk.5.attn_q.weight"):
            x, y = a.array(name), b.array(name)
            assert np.linalg.norm(x - y) / np.linalg.norm(x) < 0.08, name


def test_missing_sentencepiece_says_what_to_install(checkpoints, tmp_path, monkeypatch):
    import sys

    d = checkpoints["llama"][0]  # ships tokenizer.model
    assert os.path.exists(os.path.join(d, "tokenizer.model"))
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # as if it were not installed
    out = str(tmp_path / "out.gguf")
    with pytest.raises(CheckpointError, match="tokenizer.model.*pip install sentencepiece"):
        convert(d, out, progress=False)
    assert not os.path.exists(out)

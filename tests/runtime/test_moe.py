"""Mixture-of-experts models (qwen3moe, and mixtral as "llama" files with experts): routing
against a dense computation of the chosen experts, the renormalisation switch, expert
tensors checked against the expert count, quantized experts, and calibration sites.

The logits of whole models against the numpy reference are in test_model.py (its ARCHS)."""

from __future__ import annotations

import numpy as np
import pytest

import pyggml
from pyggml import GGUFError, Model

from support.gguf_files import write_gguf
from support.reference_forward import ReferenceModel, silu
from support.synthetic_models import make_model


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    d = tmp_path_factory.mktemp("moe")
    out = {}
    for arch in ("qwen3moe", "mixtral"):
        path = d / f"{arch}.gguf"
        out[arch] = (str(path), make_model(arch, path, seed=3))
    return out


def _tensors_and_meta(path):
    ref = ReferenceModel(path)
    with pyggml.GGUFFile(path) as f:
        meta = {k: v for k, v in f.metadata.items() if not k.startswith(("general.", "tokenizer."))}
        arch = f.metadata["general.architecture"]
    return ref, {name: ref.weight(name) for name in ref.tensors}, meta, arch


@pytest.mark.parametrize("arch", ["qwen3moe", "mixtral"])
def test_a_token_gets_the_dense_output_of_its_chosen_experts(moe, arch):
    """The first layer's feed-forward for one token equals, computed densely here, the
    weighted sum of the two experts the router picks (and differs from other pairs)."""
    path, hp = moe[arch]
    ref = ReferenceModel(path)
    toks = np.array([5, 17, 42])
    ref.trace = {}
    ref.logits(toks)
    h = ref.trace[(0, 2)]  # normed input of layer 0's feed-forward
    logits = h @ ref.weight("blk.0.ffn_gate_inp.weight").T
    for t in range(len(toks)):
        i, j = np.argsort(-logits[t])[:2]
        p = np.exp(logits[t] - logits[t].max())
        p /= p.sum()
        wi, wj = p[i] / (p[i] + p[j]), p[j] / (p[i] + p[j])  # softmax, top 2, renormalised
        dense = wi * _expert(ref, 0, i, h[t]) + wj * _expert(ref, 0, j, h[t])
        np.testing.assert_allclose(ref._moe(0, h[t : t + 1])[0], dense, rtol=1e-4, atol=1e-5)
        other = 0.5 * _expert(ref, 0, (i + 1) % hp["n_expert"], h[t]) + 0.5 * _expert(ref, 0, j, h[t])
        assert not np.allclose(dense, other, atol=1e-3)
    # and pyggml's layer 0 output (the next layer's input) agrees with that reference
    m = Model.load(path, n_ctx=16, n_threads=2, kv_type="f32")
    got = m.capture(toks, [(1, 0)])[(1, 0)]
    np.testing.assert_allclose(got, ref.trace[(1, 0)], rtol=0, atol=1e-4)


def _expert(ref, il, e, x):
    p = f"blk.{il}."
    g = ref.weight(p + "ffn_gate_exps.weight")[e] @ x
    u = ref.weight(p + "ffn_up_exps.weight")[e] @ x
    return ref.weight(p + "ffn_down_exps.weight")[e] @ (silu(g) * u)


def test_expert_weights_norm_off_changes_the_output(moe, tmp_path):
    path, hp = moe["qwen3moe"]
    ref, tensors, meta, arch = _tensors_and_meta(path)
    meta["qwen3moe.expert_weights_norm"] = False
    off = write_gguf(tmp_path / "nonorm.gguf", tensors, meta, arch=arch)
    toks = np.random.default_rng(0).integers(0, hp["n_vocab"], 12)
    a = Model.load(off, n_ctx=16, n_threads=2, kv_type="f32").eval(toks, all_logits=True)
    b = Model.load(path, n_ctx=16, n_threads=2, kv_type="f32").eval(toks, all_logits=True)
    r = ReferenceModel(off).logits(toks)
    assert np.abs(a - r).max() <= 1e-3 * (r.max() - r.min())
    assert np.abs(a - b).max() > 1e-2 * (r.max() - r.min())


@pytest.mark.parametrize("name, ne, message", [
    ("blk.1.ffn_up_exps.weight", (64, 32, 7), r"'blk.1.ffn_up_exps.weight' has shape ne=\[64, 32, 7\]: expected "
                                              r"\[64, 32, 8\] = \(embedding_length, expert feed-forward length, "
                                              r"expert_count\)"),
    ("blk.0.ffn_gate_inp.weight", (64, 6), r"'blk.0.ffn_gate_inp.weight' has shape ne=\[64, 6\]: expected \[64, 8\]"),
])
def test_expert_count_and_shapes_disagreeing_is_a_gguf_error(moe, tmp_path, name, ne, message):
    path, _ = moe["qwen3moe"]
    ref, tensors, meta, arch = _tensors_and_meta(path)
    tensors[name] = np.zeros(tuple(reversed(ne)), np.float32)
    bad = write_gguf(tmp_path / "bad.gguf", tensors, meta, arch=arch)
    with pytest.raises(GGUFError, match=message):
        Model.load(bad)


def test_expert_used_count_beyond_expert_count_is_a_gguf_error(moe, tmp_path):
    path, _ = moe["mixtral"]
    ref, tensors, meta, arch = _tensors_and_meta(path)
    meta["llama.expert_used_count"] = 5
    bad = write_gguf(tmp_path / "bad.gguf", tensors, meta, arch=arch)
    with pytest.raises(GGUFError, match=r"llama.expert_used_count = 5: expected an integer in \[1, "
                                        r"llama.expert_count = 4\]"):
        Model.load(bad)


@pytest.mark.parametrize("arch", ["qwen3moe", "mixtral"])
@pytest.mark.parametrize("wtype", ["Q8_0", "Q4_K"])
def test_quantized_experts_match_reference(tmp_path, arch, wtype):
    sizes = dict(n_ff_exp=256, n_ff=256) if wtype == "Q4_K" else {}
    path = tmp_path / f"{arch}-{wtype}.gguf"
    hp = make_model(arch, path, wtype=wtype, seed=4, **sizes)
    toks = np.random.default_rng(1).integers(0, hp["n_vocab"], 20)
    ref = ReferenceModel(path).logits(toks)
    rng = ref.max() - ref.min()
    precise = Model.load(path, n_ctx=32, n_threads=2, kv_type="f32", precise=True).eval(toks, all_logits=True)
    assert np.abs(precise - ref).max() <= 1e-3 * rng
    # activations rounded to the dot types as llama.cpp does (the router's too: a near tie
    # may pick another expert than float32 would), experts repacked where the CPU wants it
    emulated = ReferenceModel(path, emulate_ggml=True).logits(toks)
    m = Model.load(path, n_ctx=32, n_threads=2, kv_type="f32")
    fast = m.eval(toks, all_logits=True)
    assert np.abs(fast - emulated).max() <= 3e-2 * rng
    m.reset()
    steps = np.stack([m.eval(toks[i : i + 1]) for i in range(len(toks))])
    # one token at a time rounds its activations like the batch up to summation order; a
    # router near a tie may still pick another expert there (a jump, not drift): rare rows
    close = np.abs(steps - fast).max(axis=1) <= 1e-4 * rng
    assert close.mean() >= 0.9, np.flatnonzero(~close)


def test_capture_of_the_expert_inputs_is_refused(moe):
    path, _ = moe["mixtral"]
    m = Model.load(path, n_ctx=16, n_threads=1)
    with pytest.raises(ValueError, match="mixture-of-experts"):
        m.capture([1, 2, 3], [(0, 3)])
    got = m.capture([1, 2, 3], [(0, 2)])[(0, 2)]  # the router's and every expert's input
    assert got.shape == (3, 64)


def test_mixtral_hparams(moe):
    path, hp = moe["mixtral"]
    m = Model.load(path, n_ctx=16, n_threads=1)
    assert m.arch == "llama"
    assert (m.hparams["n_expert"], m.hparams["n_expert_used"], m.hparams["n_ff_exp"]) == (4, 2, 64)
    assert m.hparams["expert_weights_norm"] is True


def test_gpu_offload_of_experts_is_refused_by_name(moe):
    path, _ = moe["qwen3moe"]
    with pytest.raises(pyggml.GPUError, match="does not run a mixture of experts yet; load with n_gpu_layers=0"):
        Model.load(path, n_ctx=16, n_gpu_layers=1)


def test_imatrix_of_stacked_experts_steers_each_expert(tmp_path):
    """An imatrix entry of a 3-D expert tensor holds n_expert rows of importances (llama.cpp's
    imatrix tool): each expert is quantized with its own row."""
    from pyggml.formats.quants import encode_tensor, quantize
    from pyggml.formats.types import GGMLType

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 256)).astype(np.float32)
    imp = rng.random((3, 256)).astype(np.float32) + 0.01
    got = encode_tensor(x, GGMLType.Q4_K, "blk.0.ffn_up_exps.weight", {"blk.0.ffn_up_exps.weight": imp.ravel()}, 1)
    for e in range(3):
        np.testing.assert_array_equal(got[e], quantize(x[e], "Q4_K", imatrix=imp[e], n_threads=1))
    assert not np.array_equal(got[1], quantize(x[1], "Q4_K", imatrix=imp[0], n_threads=1))

"""`pyggml info`: text and JSON reports on a synthetic file and on both real models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as QT

import pyggml
from pyggml.cli import main


def _info(capsys, *argv) -> str:
    assert main(["info", *argv]) == 0
    return capsys.readouterr().out


@pytest.fixture
def tiny(make_gguf):
    w = np.ones((4, 64), dtype=np.float32)
    return make_gguf(
        arch="llama",
        tensors={"a.weight": (QT.Q8_0, pyggml.quantize(w, "Q8_0")), "b.weight": w[0]},
        metadata={
            "general.name": "Tiny",
            "general.file_type": 7,
            "llama.context_length": 128,
            "llama.embedding_length": 64,
            "llama.block_count": 2,
            "llama.attention.head_count": 4,
            "llama.feed_forward_length": 96,
            "llama.rope.freq_base": 10000.0,
            "llama.attention.layer_norm_rms_epsilon": 1e-5,
            "tokenizer.ggml.model": "gpt2",
            "tokenizer.ggml.pre": "default",
            "tokenizer.ggml.tokens": ["<s>", "</s>", "x"],
            "tokenizer.ggml.bos_token_id": 0,
            "tokenizer.ggml.eos_token_id": 1,
        },
    )


def test_json_report(capsys, tiny):
    info = json.loads(_info(capsys, tiny, "--json"))
    assert info["architecture"] == "llama" and info["name"] == "Tiny"
    assert info["file_type"] == "Q8_0" and info["gguf_version"] == 3
    hp = info["hyperparameters"]
    assert hp["context_length"] == 128 and hp["block_count"] == 2
    assert hp["attention.head_count_kv"] == 4  # absent: defaults to the head count
    assert hp["attention.key_length"] == 16  # absent: embedding length / heads
    assert "attention.sliding_window" not in hp
    t = info["tensors"]
    assert t["count"] == 2 and t["parameters"] == 256 + 64
    assert t["by_type"]["Q8_0"] == {"count": 1, "bytes": 4 * 2 * 34, "parameters": 256}
    assert t["by_type"]["F32"] == {"count": 1, "bytes": 256, "parameters": 64}
    assert t["bytes"] == 4 * 2 * 34 + 256
    assert t["bits_per_weight"] == pytest.approx(t["bytes"] * 8 / 320)
    tok = info["tokenizer"]
    assert tok == {
        "model": "gpt2", "pre": "default", "model_description": "byte-level BPE", "supported": True,
        "pre_tokenizer": "default", "pre_tokenizer_from": "tokenizer.ggml.pre", "vocab_size": 3, "has_chat_template": False,
        "bos_token_id": 0, "bos_token": "<s>", "eos_token_id": 1, "eos_token": "</s>",
    }


def test_text_report_is_aligned(capsys, tiny):
    out = _info(capsys, "-m", tiny)
    lines = out.splitlines()
    assert lines[0].startswith("file ") and tiny in lines[0]
    assert "architecture     llama" in out
    assert "rope base         10000" in out and "norm eps          1e-05" in out
    assert "EOS            1 '</s>'" in out
    assert "model          gpt2: byte-level BPE" in out and "pre-tokenizer  default" in out
    table = lines[lines.index(next(l for l in lines if l.startswith("  type"))) :][:3]
    assert [l.split()[0] for l in table] == ["type", "Q8_0", "F32"]
    assert len({len(l) for l in table}) == 1  # columns line up


def test_missing_file_is_an_error(capsys, tmp_path):
    assert main(["info", str(tmp_path / "absent.gguf")]) == 1
    assert "absent.gguf: no such file" in capsys.readouterr().err


def test_corrupt_file_is_an_error(capsys, tmp_path):
    (tmp_path / "bad.gguf").write_bytes(b"GGUF" + bytes(30))
    assert main(["info", str(tmp_path / "bad.gguf")]) == 1
    assert "unsupported GGUF version 0" in capsys.readouterr().err


def test_path_and_option_together_is_an_error(capsys, tiny):
    assert main(["info", tiny, "-m", tiny]) == 1
    assert "not both" in capsys.readouterr().err


@pytest.mark.real_model
def test_gemma(capsys, gemma_path):
    info = json.loads(_info(capsys, gemma_path, "--json"))
    assert info["architecture"] == "gemma3" and info["file_type"] == "Q4_K_M"
    hp = info["hyperparameters"]
    assert (hp["block_count"], hp["embedding_length"], hp["attention.head_count"]) == (18, 640, 4)
    assert (hp["attention.head_count_kv"], hp["attention.key_length"]) == (1, 256)
    assert hp["attention.sliding_window"] == 512 and hp["feed_forward_length"] == 2048
    assert info["tensors"]["count"] == 236 and info["tensors"]["parameters"] == 268_098_176
    assert set(info["tensors"]["by_type"]) == {"F32", "Q5_0", "Q4_K", "Q8_0", "Q6_K"}
    assert 7 < info["tensors"]["bits_per_weight"] < 8
    tok = info["tokenizer"]
    assert (tok["model"], tok["vocab_size"], tok["bos_token"], tok["eos_token"]) == ("llama", 262144, "<bos>", "<eos>")
    assert (tok["model_description"], tok["pre_tokenizer"]) == ("SentencePiece", None)


@pytest.mark.real_model
def test_qwen(capsys, qwen_path):
    info = json.loads(_info(capsys, qwen_path, "--json"))
    assert info["architecture"] == "qwen2" and info["file_type"] == "Q4_K_M"
    hp = info["hyperparameters"]
    assert (hp["block_count"], hp["attention.head_count"], hp["attention.head_count_kv"]) == (28, 12, 2)
    assert hp["attention.key_length"] == 128 and hp["feed_forward_length"] == 8960
    assert info["tensors"]["count"] == 339 and set(info["tensors"]["by_type"]) == {"F32", "Q4_K", "Q6_K"}
    tok = info["tokenizer"]
    assert (tok["model"], tok["pre"], tok["vocab_size"]) == ("gpt2", "qwen2", 151936)
    assert (tok["model_description"], tok["pre_tokenizer"], tok["supported"]) == ("byte-level BPE", "qwen2", True)
    assert tok["eos_token"] == "<|im_end|>" and tok["has_chat_template"]


@pytest.mark.real_model
def test_default_model_and_names(capsys, gemma_path, qwen_path):
    out = _info(capsys)
    assert gemma_path in out.splitlines()[0] and "gemma3" in out
    assert qwen_path in _info(capsys, "qwen2.5-coder-1.5b").splitlines()[0]


@pytest.mark.parametrize("model, pre, want_model, want_pre", [
    ("bert", "bert-bge", "bert: WordPiece", "- (not a BPE model"),
    ("t5", None, "t5: Unigram (SentencePiece)", "- (not a BPE model"),
    ("gemma4", None, "gemma4: BPE over SentencePiece-style text (Gemma 4)", "gemma4 (always, for this model)"),
    ("gpt2", "kimi-k2", "gpt2: byte-level BPE", "kimi-k2"),
    ("gpt2", None, "gpt2: byte-level BPE", "default (tokenizer.ggml.pre missing)"),
    ("gpt2", "no-such-pre", "gpt2: byte-level BPE", "no-such-pre (unknown to pyggml and llama.cpp)"),
    ("wordpiece", None, "wordpiece (unknown to pyggml and llama.cpp)", "-"),
])
def test_tokenizer_model_and_pre_tokenizer_are_named(capsys, make_gguf, model, pre, want_model, want_pre):
    meta = {"tokenizer.ggml.model": model, "tokenizer.ggml.tokens": ["a", "b"]}
    if pre is not None:
        meta["tokenizer.ggml.pre"] = pre
    out = _info(capsys, "-m", make_gguf(metadata=meta, arch="llama"))
    assert f"model          {want_model}" in out
    assert f"pre-tokenizer  {want_pre}" in out


def test_moe_report_shows_experts_and_active_parameters(capsys, tmp_path):
    from support.synthetic_models import make_model

    path = tmp_path / "qwen3moe.gguf"
    hp = make_model("qwen3moe", path, seed=1)
    info = json.loads(_info(capsys, str(path), "--json"))
    assert info["architecture"] == "qwen3moe"
    h = info["hyperparameters"]
    assert (h["expert_count"], h["expert_used_count"], h["expert_feed_forward_length"]) == (8, 2, hp["n_ff_exp"])
    experts = hp["n_layer"] * 3 * 8 * hp["n_ff_exp"] * hp["n_embd"]
    t = info["tensors"]
    assert t["parameters"] - t["active_parameters"] == experts * 6 // 8
    text = _info(capsys, str(path))
    assert "experts            8" in text and "experts per token  2" in text
    assert "active per token" in text

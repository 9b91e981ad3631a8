"""Layer policies: presets against llama.cpp's own per-tensor choices, rules, TOML, fallbacks."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from pyggml.quantization.policy import (
    ModelShape, Policy, PolicyError, Rule, fallback_type, load_policy, policy_for, preset_policy,
)
from pyggml.formats.types import GGMLType

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "preset_types.json.gz")
with gzip.open(GOLDEN, "rt", encoding="utf-8") as f:
    TABLES = json.load(f)["models"]


def _shape(entry) -> ModelShape:
    hp = entry["hparams"]
    names = {t[0] for t in entry["tensors"]}
    return ModelShape(hp["arch"], hp["n_layer"], hp["n_head"], hp["n_head_kv"], hp["n_expert"],
                      tied_embeddings="output.weight" not in names)


CASES = [(m, p) for m, e in TABLES.items() for p in e["presets"]]


@pytest.mark.parametrize("model,preset", CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_preset_matches_llama_cpp(model, preset):
    entry = TABLES[model]
    policy = preset_policy(preset, _shape(entry))
    expected = entry["presets"][preset].split()
    wrong = []
    for (name, *ne), want in zip(entry["tensors"], expected):
        shape = tuple(reversed(ne))
        got = policy.choose(name, shape)
        got = GGMLType.F32 if got is None else got  # the sources keep 1-D tensors in F32
        if got.name != want:
            wrong.append(f"{name}{ne}: {got.name} != llama.cpp {want}")
    assert not wrong, f"{len(wrong)} tensors differ:\n" + "\n".join(wrong[:20])


def test_golden_tables_cover_the_presets_and_architectures():
    archs = {e["hparams"]["arch"] for e in TABLES.values()}
    assert {"gemma3", "qwen2", "llama", "qwen3", "smollm3", "mistral3", "qwen3moe"} <= archs
    assert {e["hparams"]["n_expert"] for e in TABLES.values()} >= {0, 8, 128}  # mixtral-8x7b, qwen3-30b-a3b
    for e in TABLES.values():
        assert {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
                "Q6_K", "Q8_0"} <= set(e["presets"])


def test_nvfp4_preset_follows_llama_cpp_source():
    """NVFP4 (llama.cpp's file type 39) as llama.cpp's source chooses (llama_ftype_get_default_type
    and the output rule): NVFP4 for every matrix, the output Q6_K, or Q8_0 where Q6_K's 256-wide
    blocks do not fit. The llama.cpp build the tables come from refuses file type 39, so there is
    no table of its own to compare with."""
    tied = preset_policy("NVFP4", ModelShape("gemma3", 18, 4, 1, tied_embeddings=True))
    assert tied.choose("token_embd.weight", (262144, 640)) == GGMLType.Q8_0
    assert tied.choose("blk.3.ffn_down.weight", (640, 2048)) == GGMLType.NVFP4
    untied = preset_policy("NVFP4", ModelShape("qwen2", 28, 12, 2))
    assert untied.choose("output.weight", (151936, 1536)) == GGMLType.Q6_K
    assert untied.choose("token_embd.weight", (151936, 1536)) == GGMLType.NVFP4
    for name in ("blk.0.attn_v.weight", "blk.0.ffn_down.weight", "blk.27.attn_output.weight", "blk.5.attn_k.weight"):
        assert untied.choose(name, (256, 8960)) == GGMLType.NVFP4
    assert untied.choose("blk.0.attn_norm.weight", (1536,)) is None


def test_fallbacks_for_rows_not_divisible_by_256():
    assert fallback_type(GGMLType.Q4_K, 640) == GGMLType.Q5_0
    assert fallback_type(GGMLType.Q5_K, 640) == GGMLType.Q5_1
    assert fallback_type(GGMLType.Q6_K, 640) == GGMLType.Q8_0
    assert fallback_type(GGMLType.Q3_K, 640) == GGMLType.Q4_0
    assert fallback_type(GGMLType.IQ4_XS, 640) == GGMLType.IQ4_NL
    assert fallback_type(GGMLType.Q4_K, 48) == GGMLType.F16
    assert fallback_type(GGMLType.Q4_0, 48) == GGMLType.F16
    assert fallback_type(GGMLType.Q4_K, 512) == GGMLType.Q4_K


def test_rules_first_match_wins_and_layers_restrict():
    p = Policy([Rule("ffn_down", "Q6_K", "0-1"), Rule("ffn_", "Q5_K")], "Q4_K")
    assert p.choose("blk.0.ffn_down.weight", (256, 256)) == GGMLType.Q6_K
    assert p.choose("blk.2.ffn_down.weight", (256, 256)) == GGMLType.Q5_K
    assert p.choose("blk.2.attn_q.weight", (256, 256)) == GGMLType.Q4_K
    assert p.choose("blk.2.attn_norm.weight", (256,)) is None
    assert p.choose("output_norm.weight", (256,)) is None


def test_toml_policy_round_trip(tmp_path):
    text = """
name = "mine"
default = "Q4_K"
[[rules]]
pattern = 'attn_v\\.weight'
layers = "0-2,5"
type = "Q8_0"
[[rules]]
pattern = "output"
type = "Q6_K"
"""
    path = tmp_path / "p.toml"
    path.write_text(text)
    p = load_policy(str(path))
    assert p.name == "mine" and p.default == GGMLType.Q4_K
    assert p.rules[0].layers == frozenset({0, 1, 2, 5})
    assert p.choose("blk.5.attn_v.weight", (256, 256)) == GGMLType.Q8_0
    assert p.choose("blk.3.attn_v.weight", (256, 256)) == GGMLType.Q4_K
    again = load_policy(p.to_toml())
    assert again == p


def test_toml_policy_with_base_preset():
    model = ModelShape("llama", 8, 8, 2, 0, tied_embeddings=False)
    p = load_policy({"base": "Q4_K_M", "rules": [{"pattern": "attn_q", "type": "Q8_0"}]})
    r = policy_for(p, model)
    assert r.choose("blk.3.attn_q.weight", (256, 256)) == GGMLType.Q8_0
    assert r.choose("blk.0.ffn_down.weight", (256, 256)) == GGMLType.Q6_K  # from the preset
    assert r.choose("output.weight", (256, 256)) == GGMLType.Q6_K


@pytest.mark.parametrize("bad,msg", [
    ({"default": "Q9_K"}, "unknown tensor type"),
    ({"rules": [{"pattern": "x", "type": "Q4_K"}]}, "needs 'default'"),
    ({"default": "Q4_K", "rules": [{"pattern": "(", "type": "Q4_K"}]}, "bad tensor-name pattern"),
    ({"default": "Q4_K", "rules": [{"pattern": "x", "type": "Q4_K", "layers": "3-1"}]}, "end before start"),
    ({"default": "Q4_K", "rules": [{"type": "Q4_K"}]}, "needs 'pattern'"),
    ({"default": "Q4_K", "colour": 1}, "unknown policy keys"),
    ({"base": "Q7_K_Z"}, "unknown base preset"),
])
def test_bad_policies_are_named(bad, msg):
    with pytest.raises(PolicyError, match=msg):
        load_policy(bad)


def test_bad_toml_file_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("default = \n")
    with pytest.raises(PolicyError, match="broken.toml"):
        load_policy(str(path))


def test_policy_for_distinguishes_presets_and_pure_types():
    model = ModelShape("llama", 8, 8, 8, 0, tied_embeddings=False)
    assert policy_for("Q4_K_M", model).choose("output.weight", (256, 256)) == GGMLType.Q6_K
    assert policy_for("Q4_K", model).choose("output.weight", (256, 256)) == GGMLType.Q4_K
    assert policy_for("Q6_K", model, pure=True).choose("blk.0.ffn_down.weight", (256, 256)) == GGMLType.Q6_K
    with pytest.raises(PolicyError):
        policy_for("Q4_K_Q", model)


@pytest.mark.real_model
def test_q4_k_m_preset_reproduces_the_real_gemma_file(gemma_path):
    """The Gemma file was made with a recent llama.cpp's Q4_K_M: the preset gives every tensor its type.

    (The Qwen file predates llama.cpp's current ffn_down rule -- its blk.10.ffn_down is Q6_K
    where today's llama.cpp picks Q4_K, as the dry-run table in preset_types.json.gz records.)
    """
    from pyggml.formats.gguf_file import GGUFFile

    with GGUFFile(gemma_path) as g:
        shape = ModelShape.from_gguf_metadata(g.metadata, [t.name for t in g.tensors])
        policy = preset_policy("Q4_K_M", shape)
        for t in g.tensors:
            assert (policy.choose(t.name, t.shape) or GGMLType.F32) == t.type, t.name

"""Chat templates: sandboxed jinja2 rendering, HF helpers, fallbacks, Qwen2.5 golden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyggml.text.chat_template import (CHATML_TEMPLATE, ChatTemplate, ChatTemplateError, default_template,
                         render)

DATA = Path(__file__).resolve().parents[1] / "data"
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]


def _qwen_golden() -> dict:
    return json.loads((DATA / "chat_golden_qwen2.5.json").read_text(encoding="utf-8"))


def test_qwen_template_matches_reference_rendering():
    # Golden prompts rendered by llama-cpp-python's Jinja2ChatFormatter (scripts/make_chat_golden.py).
    golden = _qwen_golden()
    for case in golden["cases"]:
        got = render(golden["template"], case["messages"], case["add_generation_prompt"],
                     bos_token="<|endoftext|>", eos_token="<|im_end|>")
        assert got == case["prompt"], case["name"]


def test_qwen_template_with_tools_uses_tojson():
    golden = _qwen_golden()
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Wetter <heute>",
                                               "parameters": {"type": "object", "properties": {}}}}]
    out = render(golden["template"], [{"role": "user", "content": "Weather?"}], tools=tools)
    assert '"name": "get_weather"' in out
    assert "Wetter <heute>" in out  # no HTML escaping, non-ASCII kept


def test_chatml_fallback_multi_turn():
    out = render(CHATML_TEMPLATE, CONVERSATION)
    assert out == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                   "<|im_start|>assistant\n")
    assert not render(CHATML_TEMPLATE, CONVERSATION, add_generation_prompt=False).endswith("assistant\n")


def test_gemma_fallback_folds_system_into_first_user_turn():
    t = ChatTemplate(default_template("gemma3"), bos_token="<bos>")
    out = t.render(CONVERSATION)
    assert out == ("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                   "<start_of_turn>model\nHello!<end_of_turn>\n"
                   "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")
    assert default_template("unknown-arch") == CHATML_TEMPLATE


def test_raise_exception_and_strftime_helpers():
    tpl = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok"
    assert render(tpl, [{"role": "user", "content": "x"}]) == "ok"
    with pytest.raises(ChatTemplateError, match="first must be user"):
        render(tpl, [{"role": "system", "content": "x"}])
    year = render("{{ strftime_now('%Y') }}", [])
    assert year.isdigit() and len(year) == 4


def test_sandbox_blocks_unsafe_access():
    evil = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ChatTemplateError):
        render(evil, [])
    # Immutable: templates cannot mutate the caller's messages.
    msgs = [{"role": "user", "content": "x"}]
    with pytest.raises(ChatTemplateError):
        render("{% set _ = messages.append(1) %}", msgs)
    assert msgs == [{"role": "user", "content": "x"}]


def test_bad_template_source_is_a_clear_error():
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatTemplate("{% for %}")


@pytest.mark.real_model
def test_from_tokenizer_uses_gguf_template(qwen_path, gemma_path):
    from pyggml.text.tokenizer import Tokenizer

    qwen = Tokenizer.from_gguf(qwen_path)
    t = ChatTemplate.from_tokenizer(qwen)
    assert t.source == _qwen_golden()["template"]
    prompt = t.render(CONVERSATION)
    ids = qwen.encode(prompt, add_special=False, parse_special=True)
    assert ids.count(qwen.token_to_id["<|im_start|>"]) == 5
    gemma = Tokenizer.from_gguf(gemma_path)
    g = ChatTemplate.from_tokenizer(gemma)
    prompt = g.render(CONVERSATION)
    assert prompt.startswith("<bos><start_of_turn>user\n")
    ids = gemma.encode(prompt, add_special=False, parse_special=True)
    assert ids[0] == gemma.bos_id and ids.count(gemma.token_to_id["<start_of_turn>"]) == 4


def test_mistral3_fallback_is_mistral_v7_tekken_as_llama_cpp_writes_it():
    # llama.cpp's llm_chat_apply_template for LLM_CHAT_TEMPLATE_MISTRAL_V7_TEKKEN
    t = ChatTemplate(default_template("mistral3"), bos_token="<s>", eos_token="</s>")
    assert t.render(CONVERSATION) == ("<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]Hi[/INST]Hello!</s>"
                                      "[INST]Bye[/INST]")


@pytest.mark.parametrize("arch", ["qwen3", "qwen3moe", "smollm3"])
def test_qwen3_and_smollm3_fall_back_to_chatml(arch):
    assert default_template(arch) == CHATML_TEMPLATE


def test_phi3_fallback_as_llama_cpp_writes_it():
    t = ChatTemplate(default_template("phi3"))
    assert t.render(CONVERSATION) == ("<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
                                      "<|user|>\nBye<|end|>\n<|assistant|>\n")

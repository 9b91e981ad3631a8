"""Function calling through `pyggml serve` over HTTP with the real `openai` client: a tiny qwen2
model carrying Qwen2.5's chat template, each reply scripted token by token (the engine's sampler
replaced), so that the template's tools, the tokenizer's text of the calls, their parsing and the
OpenAI shapes (whole and streamed) are all in the path."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from support.scripted_replies import ScriptedSampler
from support.serving import running_server
from support.synthetic_models import make_model
from support.tool_templates import MISTRAL_MARKERS, MISTRAL_TEMPLATE, QWEN_TEMPLATE

import pyggml.serve.engine

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "now", "description": "The time", "parameters": {"type": "object"}}}]
ASK = [{"role": "user", "content": "Weather in Paris?"}]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("serve-tools") / "qwen2-tools.gguf")
    make_model("qwen2", path, tie_output=False, chat_template=QWEN_TEMPLATE)
    with running_server(path, n_slots=1, n_ctx_slot=1024) as (url, engine):
        yield url, engine, openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture
def reply(served, monkeypatch):
    """reply(text): the next requests' model says `text`, then <|im_end|>."""
    engine = served[1]

    def script(text):
        tokens = engine.tokenizer.encode(text + "<|im_end|>", add_special=False, parse_special=True)
        monkeypatch.setattr(pyggml.serve.engine, "Sampler", lambda params: ScriptedSampler(tokens))
    return script


def test_tool_calls_whole(served, reply):
    client = served[2]
    reply("Let me check.\n" + CALL)
    out = client.chat.completions.create(model=served[1].model_id, messages=ASK, tools=TOOLS, max_tokens=200)
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me check."
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    reply(CALL)
    out = client.chat.completions.create(model=served[1].model_id, messages=ASK, tools=TOOLS, max_tokens=200)
    assert out.choices[0].message.content is None and len(out.choices[0].message.tool_calls) == 1


def test_tool_calls_streamed(served, reply):
    reply("Let me check.\n" + CALL)
    chunks = list(served[2].chat.completions.create(model=served[1].model_id, messages=ASK, tools=TOOLS,
                                                    max_tokens=200, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Let me check."
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather" and calls[0].function.arguments == '{"city": "Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_named_and_required_tool_choice(served, reply):
    client, model = served[2], served[1].model_id
    reply('{"city": "Oslo"}}\n</tool_call>')  # the call's start is in the prompt
    out = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, max_tokens=200,
                                         tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = out.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Oslo"}')
    reply('now", "arguments": {}}\n</tool_call>')
    out = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, max_tokens=200,
                                         tool_choice="required")
    assert out.choices[0].message.tool_calls[0].function.name == "now"
    reply(CALL)  # "none": no tools in the prompt, the reply is not read
    out = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, max_tokens=200, tool_choice="none")
    assert out.choices[0].message.content == CALL and not out.choices[0].message.tool_calls


def test_malformed_call_is_content(served, reply):
    bad = '<tool_call>\n{"name": "get_weather", "arguments": {city}}\n</tool_call>'
    reply(bad)
    out = served[2].chat.completions.create(model=served[1].model_id, messages=ASK, tools=TOOLS, max_tokens=200)
    assert out.choices[0].message.content == bad and out.choices[0].finish_reason == "stop"
    chunks = list(served[2].chat.completions.create(model=served[1].model_id, messages=ASK, tools=TOOLS,
                                                    max_tokens=200, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == bad


def test_tool_history_is_accepted(served, reply):
    reply("It is 21.")
    history = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}]
    out = served[2].chat.completions.create(model=served[1].model_id, messages=history, tools=TOOLS, max_tokens=200)
    assert out.choices[0].message.content == "It is 21." and out.choices[0].finish_reason == "stop"
    prompt = served[1].detokenize(served[1].chat_tokens(history, tools=TOOLS))
    assert '<tool_response>\n{"temp": 21}\n</tool_response>' in prompt
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt


def test_bad_tool_choice_is_400(served):
    url = served[0]
    for body, message in (
            ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "'nope'"),
            ({"tool_choice": "required"}, "needs tools"),
            ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice must be"),
            ({"tools": [{"type": "function"}]}, "tools[0]")):
        r = httpx.post(url + "/v1/chat/completions", json={"messages": ASK, "max_tokens": 2, **body})
        error = r.json()["error"]
        assert r.status_code == 400 and message in error["message"], body
        assert error["param"] == ("tool_choice" if "tool_choice" in body else "tools")


def test_mistral_markers_that_are_control_tokens(tmp_path, monkeypatch):
    path = str(tmp_path / "mistral-like.gguf")
    make_model("qwen2", path, tie_output=False, chat_template=MISTRAL_TEMPLATE,
               extra_specials=MISTRAL_MARKERS)
    with running_server(path, n_slots=1, n_ctx_slot=1024) as (url, engine):
        tokens = engine.tokenizer.encode('[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}<|im_end|>',
                                         add_special=False, parse_special=True)
        monkeypatch.setattr(pyggml.serve.engine, "Sampler", lambda params: ScriptedSampler(tokens))
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)
        for stream in (False, True):
            out = client.chat.completions.create(model=engine.model_id, messages=ASK, tools=TOOLS, max_tokens=200,
                                                 stream=stream)
            calls = [tc for c in out for tc in (c.choices[0].delta.tool_calls or [])] if stream \
                else out.choices[0].message.tool_calls
            assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", '{"city": "Paris"}')]

"""Function calling through pyggml.Llama.create_chat_completion: a tiny qwen2 model carrying
Qwen2.5's chat template (and one carrying a Mistral-style template whose markers are control
tokens), its replies scripted token by token (a logits processor), so that the template's tools,
the tokenizer's text of the calls and their parsing are all in the path."""

from __future__ import annotations

import pytest
from support.scripted_replies import scripted_processor
from support.synthetic_models import make_model
from support.tool_templates import MISTRAL_MARKERS, MISTRAL_TEMPLATE, QWEN_TEMPLATE

from pyggml import Llama

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "now", "description": "The time", "parameters": {"type": "object"}}}]
ASK = [{"role": "user", "content": "Weather in Paris?"}]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tools") / "qwen2-tools.gguf")
    make_model("qwen2", path, tie_output=False, chat_template=QWEN_TEMPLATE)
    return Llama(path, n_ctx=1024, n_threads=1, verbose=False)


def says(llm, text):
    """A logits processor making the model say `text`, then <|im_end|>."""
    return [scripted_processor(llm.tokenize(text.encode(), add_bos=False, special=True) +
                               llm.tokenize(b"<|im_end|>", add_bos=False, special=True))]


def chat(llm, reply, **kw):
    return llm.create_chat_completion(ASK, tools=TOOLS, max_tokens=200, logits_processor=says(llm, reply), **kw)


def test_the_reply_call_comes_back_as_tool_calls(llm):
    out = chat(llm, "Let me check.\n" + CALL)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    # only a call: no content
    out = chat(llm, CALL + "\n" + CALL.replace("get_weather", "now").replace('{"city": "Paris"}', "{}"))
    assert out["choices"][0]["message"]["content"] is None
    assert [c["function"]["name"] for c in out["choices"][0]["message"]["tool_calls"]] == ["get_weather", "now"]
    # a call in a ```json block, as Qwen2.5-Coder-1.5B writes one
    out = chat(llm, '```json\n{"name": "now", "arguments": {}}\n```')
    assert out["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "now", "arguments": "{}"}


def test_the_tools_reach_the_prompt_unless_tool_choice_is_none(llm):
    assert '"name": "get_weather"' in llm.apply_chat_template(ASK, tools=TOOLS)
    out = chat(llm, CALL, tool_choice="none")  # neither in the prompt nor read from the reply
    assert out["choices"][0]["message"] == {"role": "assistant", "content": CALL}
    assert out["choices"][0]["finish_reason"] == "stop"
    n_none = out["usage"]["prompt_tokens"]
    assert chat(llm, CALL)["usage"]["prompt_tokens"] > n_none


def test_malformed_call_is_plain_content(llm):
    bad = '<tool_call>\n{"name": "get_weather", "arguments": {city: Paris}}\n</tool_call>'
    out = chat(llm, bad)
    assert out["choices"][0]["message"] == {"role": "assistant", "content": bad}
    assert out["choices"][0]["finish_reason"] == "stop"
    chunks = list(chat(llm, bad, stream=True))
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == bad
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks)


def test_stream_gives_text_as_content_and_each_call_in_one_delta(llm):
    chunks = list(chat(llm, "Let me check.\n" + CALL, stream=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("content", "") for d in deltas) == "Let me check."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert len(calls) == 1 and calls[0]["index"] == 0 and calls[0]["id"].startswith("call_")
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_named_tool_choice_prefills_the_call(llm):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    prompt = llm.apply_chat_template(ASK, tools=TOOLS)
    # the model only writes the arguments: the template's prompt ends with the call's start
    out = chat(llm, '{"city": "Paris"}}\n</tool_call>', tool_choice=choice)
    assert out["usage"]["prompt_tokens"] == len(llm.tokenize(
        (prompt + '<tool_call>\n{"name": "get_weather", "arguments": ').encode(), add_bos=False, special=True))
    (call,) = out["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    streamed = list(chat(llm, '{"city": "Paris"}}\n</tool_call>', tool_choice=choice, stream=True))
    calls = [tc for c in streamed for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
    # required: the model picks the function
    out = chat(llm, 'now", "arguments": {}}\n</tool_call>', tool_choice="required")
    assert out["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "now", "arguments": "{}"}


def test_bad_tool_choice_is_a_value_error(llm):
    with pytest.raises(ValueError, match="'nope', which is not among the tools"):
        llm.create_chat_completion(ASK, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}})
    with pytest.raises(ValueError, match="needs tools"):
        llm.create_chat_completion(ASK, tool_choice="required")


def test_legacy_functions(llm):
    out = llm.create_chat_completion(ASK, functions=[t["function"] for t in TOOLS], function_call={"name": "now"},
                                     max_tokens=200, logits_processor=says(llm, "{}}\n</tool_call>"))
    message = out["choices"][0]["message"]
    assert message["function_call"] == {"name": "now", "arguments": "{}"}
    assert message["tool_calls"][0]["function"] == message["function_call"]


def test_tool_history_renders_and_continues(llm):
    history = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}]
    prompt = llm.apply_chat_template(history, tools=TOOLS)
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert '<tool_response>\n{"temp": 21}\n</tool_response>' in prompt
    out = llm.create_chat_completion(history, tools=TOOLS, max_tokens=200, logits_processor=says(llm, "It is 21."))
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "It is 21."}
    assert out["choices"][0]["finish_reason"] == "stop"


def test_a_template_without_a_call_format(tmp_path):
    path = str(tmp_path / "chatml.gguf")
    make_model("qwen2", path, tie_output=False)  # no template: ChatML, which teaches no calls
    plain = Llama(path, n_ctx=1024, n_threads=1, verbose=False)
    out = plain.create_chat_completion(ASK, tools=TOOLS, max_tokens=200, logits_processor=says(plain, CALL))
    assert out["choices"][0]["message"]["content"] == CALL  # not read
    with pytest.raises(ValueError, match="no tool-call format"):
        plain.create_chat_completion(ASK, tools=TOOLS, tool_choice="required")


def test_mistral_calls_whose_markers_are_control_tokens(tmp_path):
    path = str(tmp_path / "mistral-like.gguf")
    make_model("qwen2", path, tie_output=False, chat_template=MISTRAL_TEMPLATE,
               extra_specials=MISTRAL_MARKERS)
    llm = Llama(path, n_ctx=1024, n_threads=1, verbose=False)
    marker = llm.tokenize(b"[TOOL_CALLS]", add_bos=False, special=True)
    assert len(marker) == 1 and llm.detokenize(marker) == b""  # a control token: no text by default
    reply = '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}'
    out = llm.create_chat_completion(ASK, tools=TOOLS, max_tokens=200, logits_processor=says(llm, reply))
    assert out["choices"][0]["finish_reason"] == "tool_calls" and out["choices"][0]["message"]["content"] is None
    (call,) = out["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'} and len(call["id"]) == 9
    # a named choice prefills "[TOOL_CALLS]get_weather[ARGS]"; the model writes the arguments
    out = llm.create_chat_completion(ASK, tools=TOOLS, max_tokens=200, logits_processor=says(llm, '{"city": "Oslo"}'),
                                     tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    # without tools the markers stay hidden, as any control token
    out = llm.create_chat_completion(ASK, max_tokens=200, logits_processor=says(llm, reply))
    assert out["choices"][0]["message"]["content"] == 'get_weather{"city": "Paris"}'

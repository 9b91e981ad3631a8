"""gpt-oss's harmony format: the fallback template against the official one (marker llama_cpp:
PYGGML_LLAMA_CPP_SRC names a llama.cpp source tree, which keeps a copy of it), the splitting of replies into channels, and create_chat_completion on a
converted gpt-oss model whose reply is scripted token by token (a logits processor), so that
the tokenizer's rendering of the channel markers, the end-of-generation tokens and the
channel parsing are all in the path."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pyggml.text import harmony
from pyggml.text.chat_template import ChatTemplate

# gpt-oss's own template, as llama.cpp's source tree keeps a copy of it (optional cross-check)
_SRC = os.environ.get("PYGGML_LLAMA_CPP_SRC", "")
OFFICIAL = os.path.join(_SRC, "models", "templates", "openai-gpt-oss-120b.jinja") if _SRC else ""
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}]


def test_split_reply():
    text = ("<|channel|>analysis<|message|>User asks sum. Answer 4.<|start|>assistant<|channel|>final"
            "<|message|>4")
    assert harmony.split_reply(text) == ("4", "User asks sum. Answer 4.")
    assert harmony.split_reply("plain text, no channels") == ("plain text, no channels", "")
    # cut off while still thinking: no answer yet
    assert harmony.split_reply("<|channel|>analysis<|message|>Let me") == ("", "Let me")
    msgs = harmony.parse("<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{}")
    assert msgs[0].channel == "commentary" and msgs[0].content == "{}"
    assert "to=functions.get_weather" in msgs[0].header


def test_fallback_template_renders_the_harmony_prompt():
    out = ChatTemplate(harmony.HARMONY_TEMPLATE).render(MESSAGES)
    assert out.startswith("<|start|>system<|message|>You are ChatGPT")
    assert "Reasoning: medium" in out
    assert ("<|start|>developer<|message|># Instructions\n\nBe brief.\n\n<|end|><|start|>user<|message|>Hi<|end|>"
            "<|start|>assistant<|channel|>final<|message|>Hello!<|end|><|start|>user<|message|>2+2?<|end|>"
            "<|start|>assistant") in out
    assert out.endswith("<|start|>assistant")


@pytest.mark.llama_cpp
@pytest.mark.skipif(not os.path.exists(OFFICIAL), reason="PYGGML_LLAMA_CPP_SRC names no llama.cpp source tree with "
                                                          "the gpt-oss template")
def test_the_official_template_renders_in_the_sandbox_as_the_fallback_does():
    official = ChatTemplate(open(OFFICIAL).read(), "<|startoftext|>", "<|return|>")
    for effort in ("low", "high"):
        assert official.render(MESSAGES, reasoning_effort=effort) == \
            ChatTemplate(harmony.HARMONY_TEMPLATE).render(MESSAGES, reasoning_effort=effort)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    out = official.render(MESSAGES[1:2], tools=tools)
    assert "type get_weather = (_: {\ncity: string,\n}) => any;" in out
    # tools, an earlier call, its result and an answer: the fallback writes what the official one does
    tools[0]["function"]["parameters"]["properties"].update(
        unit={"type": "string", "enum": ["c", "f"], "default": "c"}, days={"type": "integer", "default": 1},
        tags={"type": "array", "items": {"type": "string"}}, exact={"type": "boolean", "description": "Exact?"})
    tools.append({"type": "function", "function": {"name": "now", "description": "The time", "parameters": {}}})
    call = {"role": "assistant", "content": "Need the weather.", "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}
    for conversation in ([*MESSAGES, call, result], [*MESSAGES, call, result, MESSAGES[2], MESSAGES[3]]):
        for t in (tools, None):
            assert official.render(conversation, tools=t) == ChatTemplate(harmony.HARMONY_TEMPLATE).render(
                conversation, tools=t)


@pytest.fixture(scope="module")
def gpt_oss(tmp_path_factory):
    from pyggml.convert import convert
    from support.hf_checkpoints import build_gpt_oss

    d = str(tmp_path_factory.mktemp("ck"))
    build_gpt_oss(d, seed=2, n_layer=2)
    path = str(tmp_path_factory.mktemp("gguf") / "g.gguf")
    convert(d, path, "F32", progress=False, tokenizer_pre="gpt-4o")
    return path


def _scripted(llm, text):
    """A logits processor making the model say `text` (special tokens parsed), then nothing."""
    script = llm.tokenize(text.encode(), add_bos=False, special=True)
    start = []

    def processor(input_ids, scores):
        if not start:
            start.append(len(input_ids))
        i = len(input_ids) - start[0]
        out = np.full_like(scores, -np.inf)
        out[script[min(i, len(script) - 1)]] = 0.0
        return out
    return processor


REPLY = ("<|channel|>analysis<|message|>Simple sum.<|end|><|start|>assistant<|channel|>final"
         "<|message|>The answer is 4.<|return|>")


def test_chat_completion_returns_the_final_channel(gpt_oss):
    from pyggml import Llama

    llm = Llama(gpt_oss, n_ctx=512, n_threads=2, verbose=False)
    assert llm._harmony
    from support.hf_checkpoints import GPT_OSS_TEMPLATE

    assert llm.apply_chat_template(MESSAGES) == ChatTemplate(GPT_OSS_TEMPLATE).render(MESSAGES)  # the file's
    out = llm.create_chat_completion(MESSAGES, max_tokens=40, logits_processor=[_scripted(llm, REPLY)])
    msg = out["choices"][0]["message"]
    assert msg["content"] == "The answer is 4."
    assert msg["reasoning_content"] == "Simple sum."
    assert out["choices"][0]["finish_reason"] == "stop"  # <|return|> ends it, <|end|> did not
    chunks = list(llm.create_chat_completion(MESSAGES, max_tokens=40, stream=True,
                                             logits_processor=[_scripted(llm, REPLY)]))
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    assert (content, reasoning) == ("The answer is 4.", "Simple sum.")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_reply_splitter_gives_each_piece_once():
    pieces = ["<|channel|>", "analysis", "<|message|>", "Simple", " sum.", "<|start|>", "assistant", "<|channel|>",
              "final", "<|message|>", "The", " answer", " is 4."]
    split = harmony.ReplySplitter()
    out = [split.feed(p) for p in pieces]
    assert "".join(c for c, _ in out) == "The answer is 4."
    assert "".join(r for _, r in out) == "Simple sum."
    assert out[1] == ("", "")  # the header of the first message gives nothing out
    plain = harmony.ReplySplitter()
    assert [plain.feed(p) for p in ("Hello", " there")] == [("Hello", ""), (" there", "")]


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CALL_REPLY = ("<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
              'to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>')


def test_chat_completion_returns_the_tool_call(gpt_oss):
    from pyggml import Llama

    llm = Llama(gpt_oss, n_ctx=1024, n_threads=2, verbose=False)
    out = llm.create_chat_completion(MESSAGES, tools=TOOLS, max_tokens=200,
                                     logits_processor=[_scripted(llm, CALL_REPLY)])
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"  # <|call|> ended it
    assert choice["message"]["content"] is None and choice["message"]["reasoning_content"] == "Need the weather."
    (call,) = choice["message"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    chunks = list(llm.create_chat_completion(MESSAGES, tools=TOOLS, max_tokens=200, stream=True,
                                             logits_processor=[_scripted(llm, CALL_REPLY)]))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Need the weather."
    assert not "".join(d.get("content", "") for d in deltas)
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert [(c["index"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == \
        [(0, "get_weather", '{"city": "Paris"}')]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # a named choice: the reply starts inside the call's message, the model writes the arguments
    out = llm.create_chat_completion(MESSAGES, tools=TOOLS, max_tokens=200,
                                     tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                     logits_processor=[_scripted(llm, '{"city":"Oslo"}<|call|>')])
    assert out["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                                         "arguments": '{"city": "Oslo"}'}

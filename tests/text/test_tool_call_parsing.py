"""Function calling's text side: tool calls read out of literal replies (Hermes/Qwen2.5, Mistral and
gpt-oss harmony), whole and streamed in pieces cut anywhere, tool_choice resolved, the format found
from the chat template, and conversations with tool calls and tool results rendered by the Qwen2.5
template and the harmony one."""

from __future__ import annotations

import json
import os
import pytest
from support.tool_templates import QWEN_TEMPLATE

from pyggml.text import harmony
from pyggml.text import tool_calls as tc
from pyggml.text.chat_template import CHATML_TEMPLATE, MISTRAL_V7_TEKKEN_TEMPLATE, ChatTemplate

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "description": "The city"}}, "required": ["city"]}}}
NOW = {"type": "function", "function": {"name": "now", "description": "The time", "parameters": {
    "type": "object", "properties": {}}}}
HISTORY = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
]


def calls_of(calls):
    return [(c.name, json.loads(c.arguments)) for c in calls]


def streamed(fmt, text, cuts, names=()):
    """(content, reasoning, calls) of `text` fed in pieces cut at `cuts`."""
    stream = fmt.stream(names)
    bounds = [0, *cuts, len(text)]
    deltas = [stream.feed(text[a:b]) for a, b in zip(bounds, bounds[1:])] + [stream.finish()]
    return ("".join(d.content for d in deltas), "".join(d.reasoning for d in deltas),
            [c for d in deltas for c in d.calls])


HERMES_REPLY = ('I will look both up.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
                '</tool_call>\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>')


def test_hermes_calls_with_text_before_them():
    content, reasoning, calls = tc.parse_reply(tc.HERMES, HERMES_REPLY)
    assert content == "I will look both up." and reasoning == ""
    assert calls_of(calls) == [("get_weather", {"city": "Paris"}), ("now", {})]
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    assert calls[0].to_openai() == {"id": calls[0].id, "type": "function",
                                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert calls[1].to_openai(3)["index"] == 3


def test_hermes_only_a_call_has_no_content():
    content, _, calls = tc.parse_reply(tc.HERMES, '<tool_call>\n{"name": "now", "arguments": "{}"}\n</tool_call>')
    assert content is None and calls_of(calls) == [("now", {})]
    # a reply cut off after the JSON (no closing tag) is still a call
    content, _, calls = tc.parse_reply(tc.HERMES, '<tool_call>\n{"name": "now", "arguments": {"a": [1, 2]}}')
    assert content is None and calls_of(calls) == [("now", {"a": [1, 2]})]


@pytest.mark.parametrize("bad", [
    '<tool_call>\n{"name": "get_weather", "arguments": {city: Paris}}\n</tool_call>',  # not JSON
    '<tool_call>\n{"arguments": {}}\n</tool_call>',                                     # no name
    '<tool_call>\n{"name": "x", "arguments": "not json"}\n</tool_call>',                # arguments not JSON
    '<tool_call>\n{"name": "x", "arguments": {}} trailing\n</tool_call>',               # more than one value
    '<tool_call>\n{"name": "x", "argu',                                                 # cut off mid-call
])
def test_malformed_hermes_calls_are_content(bad):
    text = "Before. " + bad
    assert tc.parse_reply(tc.HERMES, text) == (text, "", [])
    assert streamed(tc.HERMES, text, range(1, len(text), 2)) == (text, "", [])


def test_hermes_text_without_calls_is_unchanged():
    for text in ("Plain answer.", "Mentions <tool but no call", "  spaced  \n", ""):
        assert tc.parse_reply(tc.HERMES, text) == (text, "", [])
        assert streamed(tc.HERMES, text, range(1, len(text)))[0] == text


def test_hermes_stream_cut_anywhere_agrees_with_the_whole():
    content, _, calls = tc.parse_reply(tc.HERMES, HERMES_REPLY)
    for cut in range(1, len(HERMES_REPLY)):  # one cut at every place, mid-tag included
        got_content, _, got_calls = streamed(tc.HERMES, HERMES_REPLY, [cut])
        assert got_content.strip() == content and calls_of(got_calls) == calls_of(calls), cut
    got_content, _, got_calls = streamed(tc.HERMES, HERMES_REPLY, range(1, len(HERMES_REPLY)))  # a character at a time
    assert got_content.strip() == content and calls_of(got_calls) == calls_of(calls)


def test_hermes_stream_gives_text_before_the_call_closes_and_holds_partial_tags():
    stream = tc.HERMES.stream()
    assert stream.feed("Sure") == tc.ReplyDelta("Sure")
    assert stream.feed(", one moment <tool").content == ", one moment"  # the blank and "<tool" are held
    d = stream.feed('_call>\n{"name": "now", "arguments": {}}\n</tool')
    assert d.content == "" and d.calls == []  # a call is given only when it closes
    d = stream.feed("_call>")
    assert calls_of(d.calls) == [("now", {})]
    assert stream.finish() == tc.ReplyDelta()


def test_hermes_fenced_json_is_a_call_of_a_known_function():
    # small Qwen2.5 models answer a tool prompt so
    text = 'Sure.\n```json\n{\n  "name": "get_weather",\n  "arguments": {"city": "Paris"}\n}\n```'
    content, _, calls = tc.parse_reply(tc.HERMES, text, names=["get_weather"])
    assert content == "Sure." and calls_of(calls) == [("get_weather", {"city": "Paris"})]
    assert streamed(tc.HERMES, text, range(1, len(text)), ["get_weather"])[0] == "Sure."
    assert calls_of(streamed(tc.HERMES, text, range(1, len(text)), ["get_weather"])[2]) == \
        [("get_weather", {"city": "Paris"})]
    # JSON that names no function of the request, or any other JSON, stays content
    for other, names in ((text, ["now"]), (text, []), ('```json\n{"a": 1}\n```', ["get_weather"])):
        assert tc.parse_reply(tc.HERMES, other, names) == (other, "", [])
        assert streamed(tc.HERMES, other, range(1, len(other), 2), names) == (other, "", [])


def test_mistral_formats():
    nemo = tc.MistralFormat(args_marker=False)
    content, _, calls = tc.parse_reply(nemo, '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, '
                                             '"id": "abcdefghi"}, {"name": "now", "arguments": {}}]')
    assert content is None and calls_of(calls) == [("get_weather", {"city": "Paris"}), ("now", {})]
    assert all(len(c.id) == 9 and c.id.isalnum() for c in calls)  # Mistral's templates want 9 characters
    small = tc.MistralFormat(args_marker=True)
    text = 'Checking.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]now[ARGS]{}'
    assert tc.parse_reply(small, text)[0] == "Checking."
    assert calls_of(tc.parse_reply(small, text)[2]) == [("get_weather", {"city": "Paris"}), ("now", {})]
    assert calls_of(streamed(small, text, range(1, len(text), 3))[2]) == calls_of(tc.parse_reply(small, text)[2])
    bad = "[TOOL_CALLS]get_weather[ARGS]{oops"
    assert tc.parse_reply(small, bad) == (bad, "", [])
    assert small.prefill("now") == "[TOOL_CALLS]now[ARGS]" and nemo.prefill(None) == "[TOOL_CALLS]"


def test_llama3_json_reply():
    names = ["get_weather", "now"]
    for text in ('{"name": "get_weather", "parameters": {"city": "Paris"}}',
                 '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}'):
        content, reasoning, calls = tc.parse_reply(tc.LLAMA3, text, names)
        assert (content, reasoning, calls_of(calls)) == (None, "", [("get_weather", {"city": "Paris"})])
        for cut in range(1, len(text)):
            assert calls_of(streamed(tc.LLAMA3, text, [cut], names)[2]) == [("get_weather", {"city": "Paris"})], cut
    # JSON that is not a call of the request's functions, and text, stay content (text streams as it comes)
    for text in ('{"name": "other", "parameters": {}}', '{"answer": 4}', '{"name": "now", "parameters": {',
                 "The weather is fine.", "  <|python", ""):
        assert tc.parse_reply(tc.LLAMA3, text, names) == (text, "", [])
        assert streamed(tc.LLAMA3, text, range(1, len(text)), names) == (text, "", [])
    stream = tc.LLAMA3.stream(names)
    assert stream.feed(" Hello").content == " Hello" and stream.feed(" {").content == " {"
    content, _, calls = tc.parse_reply(tc.LLAMA3, tc.LLAMA3.prefill("now") + "{}}", names)
    assert content is None and calls_of(calls) == [("now", {})]


HARMONY_CALL = ("<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
                'to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}')


def test_harmony_call_on_the_commentary_channel():
    content, reasoning, calls = tc.parse_reply(tc.HARMONY, HARMONY_CALL)
    assert content is None and reasoning == "Need the weather."
    assert calls_of(calls) == [("get_weather", {"city": "Paris"})]
    # the recipient in the role part of the header, as gpt-oss's template writes earlier calls
    _, _, calls = tc.parse_reply(tc.HARMONY, ' to=functions.now<|channel|>commentary json<|message|>{}')
    assert calls_of(calls) == [("now", {})]
    for cut in range(1, len(HARMONY_CALL)):
        got = streamed(tc.HARMONY, HARMONY_CALL, [cut])
        assert (got[1], calls_of(got[2])) == ("Need the weather.", [("get_weather", {"city": "Paris"})]), cut
    # an answer without calls, and a call whose arguments are not JSON (given back as content)
    assert tc.parse_reply(tc.HARMONY, "<|channel|>final<|message|>Hi!") == ("Hi!", "", [])
    bad = "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{city"
    assert tc.parse_reply(tc.HARMONY, bad) == ("{city", "", [])


def test_prefills_start_a_call_the_parser_reads():
    for fmt, rest in ((tc.HERMES, '{"city": "Paris"}}\n</tool_call>'), (tc.HARMONY, '{"city": "Paris"}'),
                      (tc.MistralFormat(True), '{"city": "Paris"}'),
                      (tc.MistralFormat(False), '{"city": "Paris"}}]')):
        content, _, calls = tc.parse_reply(fmt, fmt.prefill("get_weather") + rest)
        assert content is None and calls_of(calls) == [("get_weather", {"city": "Paris"})], fmt.name
    assert tc.HERMES.prefill(None) == '<tool_call>\n{"name": "'
    assert tc.HARMONY.prefill(None) == "<|channel|>commentary to=functions."


def test_the_format_is_found_from_the_template():
    assert tc.detect(QWEN_TEMPLATE, "qwen2") is tc.HERMES
    assert tc.detect(harmony.HARMONY_TEMPLATE) is tc.HARMONY and tc.detect(None, "gpt-oss") is tc.HARMONY
    assert tc.detect("{{ '[AVAILABLE_TOOLS]' }}[TOOL_CALLS]{{ name }}[ARGS]").args_marker
    assert not tc.detect("[TOOL_CALLS][{{ calls }}]").args_marker
    assert tc.detect("{{ '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}") is tc.LLAMA3
    for none in (CHATML_TEMPLATE, MISTRAL_V7_TEKKEN_TEMPLATE, None, ""):
        assert tc.detect(none, "llama") is None


def test_tool_choice():
    tools = [WEATHER, NOW]
    names = ("get_weather", "now")
    assert tc.resolve_tool_choice(tc.HERMES, tools) == tc.ToolRequest(tools, tc.HERMES, "", names)
    assert tc.resolve_tool_choice(tc.HERMES, tools, "auto") == tc.ToolRequest(tools, tc.HERMES, "", names)
    assert tc.resolve_tool_choice(tc.HERMES, tools, "none") == tc.ToolRequest()
    assert tc.resolve_tool_choice(tc.HERMES, None) == tc.ToolRequest()
    assert tc.resolve_tool_choice(None, tools) == tc.ToolRequest(tools, None, "", names)  # tools reach the prompt only
    assert tc.resolve_tool_choice(tc.HERMES, tools, "required").prefill == '<tool_call>\n{"name": "'
    named = tc.resolve_tool_choice(tc.HERMES, tools, {"type": "function", "function": {"name": "now"}})
    assert named.prefill == '<tool_call>\n{"name": "now", "arguments": '
    legacy = tc.resolve_tool_choice(tc.HERMES, None, functions=[NOW["function"]], function_call={"name": "now"})
    assert legacy.tools == [NOW] and legacy.prefill == named.prefill
    with pytest.raises(ValueError, match="'nope', which is not among the tools"):
        tc.resolve_tool_choice(tc.HERMES, tools, {"type": "function", "function": {"name": "nope"}})
    with pytest.raises(ValueError, match="needs tools"):
        tc.resolve_tool_choice(tc.HERMES, None, "required")
    with pytest.raises(ValueError, match="tool_choice must be"):
        tc.resolve_tool_choice(tc.HERMES, tools, "sometimes")
    with pytest.raises(ValueError, match="no tool-call format"):
        tc.resolve_tool_choice(None, tools, "required")
    with pytest.raises(ValueError, match=r"tools\[0\]"):
        tc.resolve_tool_choice(tc.HERMES, [{"type": "function"}])


def test_qwen_template_renders_tool_calls_and_results():
    t = ChatTemplate(QWEN_TEMPLATE)
    assert t.object_arguments and not ChatTemplate(CHATML_TEMPLATE).object_arguments
    assert t.render(HISTORY) == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'
        '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n')
    # the call as the template writes it is a call the parser reads back
    body = t.render(HISTORY, add_generation_prompt=False).split("<|im_start|>assistant\n")[1].split("<|im_end|>")[0]
    assert calls_of(tc.parse_reply(tc.HERMES, body)[2]) == [("get_weather", {"city": "Paris"})]


def test_harmony_template_renders_tools_calls_and_results():
    out = ChatTemplate(harmony.HARMONY_TEMPLATE).render(
        [{"role": "system", "content": "Be brief."}, *HISTORY], tools=[WEATHER, NOW])
    assert "Channel must be included for every message.\nCalls to these tools must go to the commentary channel: " \
           "'functions'.<|end|>" in out
    assert ("<|start|>developer<|message|># Instructions\n\nBe brief.\n\n# Tools\n\n## functions\n\n"
            "namespace functions {\n\n// Weather in a city\ntype get_weather = (_: {\n// The city\ncity: string,\n"
            "}) => any;\n\n// The time\ntype now = () => any;\n\n} // namespace functions<|end|>") in out
    assert out.endswith(
        "<|start|>user<|message|>Weather in Paris?<|end|>"
        '<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>'
        '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"{\\"temp\\": 21}"<|end|>'
        "<|start|>assistant")
    # the call as the template writes it is a call the parser reads back
    call = out.split("<|start|>assistant", 1)[1].split("<|call|>")[0]
    assert calls_of(tc.parse_reply(tc.HARMONY, call)[2]) == [("get_weather", {"city": "Paris"})]


def test_arguments_reach_a_template_as_it_writes_them():
    verbatim = ChatTemplate("{% for m in messages %}{% for c in m.tool_calls or [] %}[{{ c.function.arguments }}]"
                            "{% endfor %}{% endfor %}")
    as_json = ChatTemplate("{% for m in messages %}{% for c in m.tool_calls or [] %}[{{ c.function.arguments | tojson }}]"
                           "{% endfor %}{% endfor %}")
    assert not verbatim.object_arguments and as_json.object_arguments
    for args in ('{"city": "Paris"}', {"city": "Paris"}):  # JSON text or an object, as callers give them
        msgs = [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": args}}]}]
        assert verbatim.render(msgs) == '[{"city": "Paris"}]' == as_json.render(msgs)
    broken = [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]
    assert as_json.render(broken) == '["{oops"]'  # left as it was


_SRC = os.environ.get("PYGGML_LLAMA_CPP_SRC", "")
FAMILIES = {  # template file in llama.cpp's tree -> the format pyggml reads from it
    "Qwen-Qwen2.5-7B-Instruct.jinja": "hermes", "Qwen-Qwen3-0.6B.jinja": "hermes",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": "hermes",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral", "Mistral-Small-3.2-24B-Instruct-2506.jinja": "mistral",
    "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3", "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3",
    "openai-gpt-oss-120b.jinja": "harmony", "microsoft-Phi-3.5-mini-instruct.jinja": None,
}


@pytest.mark.llama_cpp
@pytest.mark.skipif(not os.path.isdir(os.path.join(_SRC, "models", "templates")),
                    reason="PYGGML_LLAMA_CPP_SRC names no llama.cpp source tree with its templates")
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_real_templates_give_their_format_and_render_tool_history(name):
    source = open(os.path.join(_SRC, "models", "templates", name), encoding="utf-8").read()
    fmt = tc.detect(source)
    assert (fmt.name if fmt else None) == FAMILIES[name]
    if fmt is None:
        return
    history = [{**m, "tool_calls": [{**m["tool_calls"][0], "id": "abcdefghi"}]} if "tool_calls" in m else
               {**m, "tool_call_id": "abcdefghi"} if m["role"] == "tool" else m for m in HISTORY]
    out = ChatTemplate(source, "<s>", "</s>").render(history, tools=[WEATHER, NOW])
    assert "get_weather" in out and ('"city": "Paris"' in out or '"city":"Paris"' in out)

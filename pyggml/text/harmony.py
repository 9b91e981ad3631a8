"""gpt-oss's chat format (OpenAI harmony): the reply's channels.

A gpt-oss model answers in messages of the form

    <|channel|>analysis<|message|>(its reasoning)<|end|>
    <|start|>assistant<|channel|>final<|message|>(the answer)<|return|>

after the prompt's closing "<|start|>assistant". The model's chat template (or
HARMONY_TEMPLATE when a file lacks one) writes the prompt; this module splits what the model
generated into its messages so that a chat completion returns the final channel's text as
the content and the analysis channel's as reasoning_content. The control tokens <|end|>,
<|return|> and <|call|> detokenize to nothing; <|start|>, <|channel|>, <|message|> and
<|constrain|> appear in the text (llama.cpp and pyggml's tokenizer render them).
"""

from __future__ import annotations

import dataclasses
import re

START, CHANNEL, MESSAGE, END = "<|start|>", "<|channel|>", "<|message|>", "<|end|>"

CONSTRAIN = "<|constrain|>"

# gpt-oss's conversation as its template writes it: the system header, the system message as
# the developer's instructions, the tools as a TypeScript namespace "functions" (parameters of
# the JSON-schema types string, enum, number, integer, boolean, arrays of those and objects),
# user turns, the assistant's earlier answers on the final channel, its calls
# ("<|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>{...}<|call|>", the
# content of a calling message as analysis while no answer follows) and the tools' results;
# then the opening of the reply.
_TS_TYPE = (
    "{% macro ts_type(s) %}"
    "{% if s.type == 'array' %}"
    "{% if s['items'] and s['items'].type in ('string', 'number', 'integer', 'boolean') %}"
    "{{ 'number' if s['items'].type == 'integer' else s['items'].type }}[]{% else %}any[]{% endif %}"
    "{% if s.nullable %} | null{% endif %}"
    "{% elif s.type == 'string' %}"
    "{% if s.enum %}\"{{ s.enum | join('\" | \"') }}\"{% else %}string{% if s.nullable %} | null{% endif %}{% endif %}"
    "{% elif s.type in ('number', 'integer') %}number"
    "{% elif s.type == 'boolean' %}boolean"
    "{% elif s.type == 'object' %}object"
    "{% else %}any{% endif %}"
    "{% endmacro %}"
)
_TOOLS = (
    "# Tools\n\n## functions\n\nnamespace functions {\n\n"
    "{% for t in tools %}{% set f = t.function %}"
    "{% if f.description %}// {{ f.description }}\n{% endif %}type {{ f.name }} = "
    "{% if f.parameters and f.parameters.properties %}(_: {\n"
    "{% for pname, p in f.parameters.properties.items() %}"
    "{% if p.description %}// {{ p.description }}\n{% endif %}"
    "{{ pname }}{% if pname not in (f.parameters.required or []) %}?{% endif %}: {{ ts_type(p) }}"
    "{% if p.default is defined %}, // default: {{ p.default if p.enum else p.default | tojson }}{% endif %},\n"
    "{% endfor %}}) => any;\n\n{% else %}() => any;\n\n{% endif %}"
    "{% endfor %}} // namespace functions"
)
HARMONY_TEMPLATE = (
    _TS_TYPE +
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: {{ strftime_now('%Y-%m-%d') }}\n\n"
    "Reasoning: {{ reasoning_effort | default('medium') }}\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message."
    "{% if tools %}{{ '\\n' }}Calls to these tools must go to the commentary channel: 'functions'.{% endif %}<|end|>"
    "{% if messages and messages[0]['role'] in ('system', 'developer') %}"
    "{% set instructions = messages[0]['content'] %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set instructions = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% if instructions or tools %}<|start|>developer<|message|>"
    "{% if instructions %}# Instructions\n\n{{ instructions }}\n\n{% endif %}"
    "{% if tools %}" + _TOOLS + "{% endif %}<|end|>{% endif %}"
    "{% set last = namespace(name=none) %}"
    "{% for m in loop_messages %}"
    "{% if m['role'] == 'assistant' and m['tool_calls'] %}"
    "{% set answered = namespace(found=false) %}"
    "{% for later in loop_messages[loop.index:] %}"
    "{% if later['role'] == 'assistant' and not later['tool_calls'] %}{% set answered.found = true %}{% endif %}"
    "{% endfor %}"
    "{% if m['content'] and not answered.found %}"
    "<|start|>assistant<|channel|>analysis<|message|>{{ m['content'] }}<|end|>{% endif %}"
    "{% set call = m['tool_calls'][0]['function'] or m['tool_calls'][0] %}"
    "<|start|>assistant to=functions.{{ call['name'] }}<|channel|>commentary json<|message|>"
    "{{ call['arguments'] | tojson }}<|call|>{% set last.name = call['name'] %}"
    "{% elif m['role'] == 'assistant' %}<|start|>assistant<|channel|>final<|message|>{{ m['content'] }}<|end|>"
    "{% set last.name = none %}"
    "{% elif m['role'] == 'tool' %}"
    "{% if last.name is none %}{{ raise_exception('a tool message follows no assistant tool call') }}{% endif %}"
    "<|start|>functions.{{ last.name }} to=assistant<|channel|>commentary<|message|>{{ m['content'] | tojson }}<|end|>"
    "{% else %}<|start|>{{ m['role'] }}<|message|>{{ m['content'] }}<|end|>{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant{% endif %}"
)


def is_harmony(template: str | None, architecture: str | None = None) -> bool:
    """Whether a model speaks harmony: gpt-oss, or a chat template writing channels."""
    return architecture == "gpt-oss" or bool(template and CHANNEL in template)


@dataclasses.dataclass
class HarmonyMessage:
    channel: str  # "analysis", "commentary", "final" or "" (none named)
    content: str
    header: str = ""  # what precedes <|message|> besides the channel (role, recipient, <|constrain|>...)


_HEAD = re.compile(r"^(?P<pre>.*?)(?:" + re.escape(CHANNEL) + r"(?P<channel>[^\s<]*)(?P<post>.*))?$", re.S)


def parse(text: str) -> list:
    """The messages of a generated reply (text after the prompt's "<|start|>assistant"), the
    last one possibly unfinished. Text without any harmony header is one message of no channel."""
    out = []
    for part in text.split(START):
        if not part:
            continue
        if MESSAGE not in part:  # a header still being generated, or plain text
            if CHANNEL not in part and not out:
                out.append(HarmonyMessage("", part))
            continue
        header, content = part.split(MESSAGE, 1)
        m = _HEAD.match(header)
        channel = (m.group("channel") or "") if m else ""
        rest = ((m.group("pre") or "") + (m.group("post") or "")).strip() if m else header
        out.append(HarmonyMessage(channel, content.replace(END, ""), rest))
    return out


def split_reply(text: str) -> tuple:
    """(content, reasoning) of a generated reply: the final channel's text (all of the text when
    it has no channels), and the analysis channel's ("" when none)."""
    messages = parse(text)
    if not any(m.channel for m in messages):
        return text, ""
    final = "".join(m.content for m in messages if m.channel == "final")
    reasoning = "".join(m.content for m in messages if m.channel == "analysis")
    return final, reasoning


_MARKERS = (START, CHANNEL, MESSAGE, END, CONSTRAIN, "<|return|>", "<|call|>")


def _held(text: str) -> int:
    """Length of a tail of text that may be the start of a marker still arriving."""
    i = text.rfind("<")
    tail = text[i:] if i >= 0 else ""
    return len(tail) if tail and any(m.startswith(tail) and m != tail for m in _MARKERS) else 0


class ReplySplitter:
    """split_reply for a reply arriving in pieces: feed() each piece, get what it adds to the
    content and to the reasoning; finish() at the end gives the rest. Nothing of the answer is
    given out while a header is still arriving (text with a "<|" and no channel yet), nor a tail
    that may be the start of a marker."""

    def __init__(self):
        self.text, self.content, self.reasoning = "", "", ""

    def feed(self, piece: str) -> tuple:
        self.text += piece
        return self._give(self.text[: len(self.text) - _held(self.text)])

    def finish(self) -> tuple:
        return self._give(self.text)

    def _give(self, text: str) -> tuple:
        content, reasoning = split_reply(text)
        if "<|" in text and not any(m.channel for m in parse(text)):
            content = ""
        out_c = content[len(self.content):] if content.startswith(self.content) else ""
        out_r = reasoning[len(self.reasoning):] if reasoning.startswith(self.reasoning) else ""
        self.content += out_c
        self.reasoning += out_r
        return out_c, out_r

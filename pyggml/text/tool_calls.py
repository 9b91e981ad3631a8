"""Function calling: the tool-call syntax a chat template teaches its model, parsed out of the
generated text into OpenAI `tool_calls`, and the `tool_choice` that forces a call.

A format is found from the chat template (and the architecture), never from a model's name:

    hermes   <tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>   (Qwen2.5, Qwen3, Hermes 2/3:
             templates that write "<tool_call>")
    mistral  [TOOL_CALLS][{"name": ..., "arguments": {...}}]  or, where the template writes "[ARGS]",
             [TOOL_CALLS]name[ARGS]{...}                        (Mistral Nemo / Small 3.x, Ministral)
    llama3   {"name": ..., "parameters": {...}} as the whole reply  (Llama 3.1 - 3.3: templates with an
             ipython role)
    harmony  <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>   (gpt-oss)

A reply is read as a stream (feed() each piece of text, finish() at the end) that gives back
ReplyDeltas: the text outside the calls as content (whole calls are held back until they close),
harmony's analysis channel as reasoning, and each call once it is complete. A call whose JSON
does not parse is given back as content, as the model wrote it. parse_reply() reads a whole reply
the same way. prefill() is what a forced choice ("required", or one named function) appends to
the prompt after the assistant turn's opening, so that the model can only continue a call.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import string
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import ArgumentError
from . import harmony


@dataclasses.dataclass
class ToolCall:
    name: str
    arguments: str  # a JSON text (OpenAI's function.arguments)
    id: str = ""

    def to_openai(self, index: Optional[int] = None) -> Dict[str, Any]:
        """{"id", "type": "function", "function": {"name", "arguments"}} (with "index" for a stream's delta)."""
        out: Dict[str, Any] = {} if index is None else {"index": index}
        out.update({"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}})
        return out


@dataclasses.dataclass
class ReplyDelta:
    """What a piece of a reply adds: content text, reasoning text and completed calls."""

    content: str = ""
    reasoning: str = ""
    calls: List[ToolCall] = dataclasses.field(default_factory=list)

    def __add__(self, later: "ReplyDelta") -> "ReplyDelta":
        return ReplyDelta(self.content + later.content, self.reasoning + later.reasoning, self.calls + later.calls)


def _call_id(kind: str) -> str:
    if kind == "mistral":  # Mistral's templates insist on 9 letters and digits
        return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))
    return "call_" + secrets.token_hex(12)


def _arguments_text(args: Any) -> Optional[str]:
    """Arguments as a JSON text: an object is dumped, a string must itself be JSON; None when neither."""
    if args is None:
        return "{}"
    if isinstance(args, str):
        try:
            json.loads(args)
        except ValueError:
            return None
        return args
    if isinstance(args, (dict, list)):
        return json.dumps(args, ensure_ascii=False)
    return None


def _call_from_object(obj: Any, kind: str) -> Optional[ToolCall]:
    """A call from {"name": ..., "arguments" (or Llama's "parameters"): ...}; None when it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    args = _arguments_text(obj.get("arguments", obj.get("parameters")))
    if args is None:
        return None
    return ToolCall(obj["name"], args, _call_id(kind))


def _json_value(text: str) -> Tuple[bool, Any]:
    """(True, value) when `text` is one JSON value with only blanks around it."""
    text = text.strip()
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return False, None
    return (True, value) if not text[end:].strip() else (False, None)


# -- formats ----------------------------------------------------------------------------------


class ToolCallFormat:
    """A model family's tool-call syntax; `markers` are the texts of its tags, which must show in
    the generated text even where the vocabulary has them as control tokens."""

    name = ""
    markers: Tuple[str, ...] = ()

    def prefill(self, function: Optional[str]) -> str:
        """Text after the prompt that starts a call (of `function` when named)."""
        raise NotImplementedError

    def stream(self, names: Sequence[str] = ()) -> "ReplyStream":
        """A reader of one reply; `names` are the request's functions (some formats accept a
        looser syntax for a call of one of them)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Tags:
    """What encloses a call: opener, closer (None: the call runs to the end of the reply), and
    whether only calls of the request's functions count (for a syntax that also has other uses)."""

    opener: str
    closer: Optional[str]
    known_names_only: bool = False


class TaggedFormat(ToolCallFormat):
    """Calls enclosed in tags; parse_body turns what is between them into calls (None: malformed)."""

    def __init__(self, name: str, tags: Sequence[Tags], named_prefill: str, markers: Sequence[str] = ()):
        self.name, self.tags, self.named_prefill, self.markers = name, tuple(tags), named_prefill, tuple(markers)

    def prefill(self, function: Optional[str]) -> str:
        return self.tags[0].opener if function is None else self.named_prefill.format(name=function)

    def parse_body(self, body: str) -> Optional[List[ToolCall]]:
        raise NotImplementedError

    def stream(self, names: Sequence[str] = ()) -> "ReplyStream":
        return _TaggedStream(self, names)


class HermesFormat(TaggedFormat):
    """<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>, one call per tag pair. A
    ```json fenced block holding such an object is a call too when it names one of the request's
    functions (small Qwen2.5 models write their calls so)."""

    def __init__(self):
        super().__init__("hermes", [Tags("<tool_call>", "</tool_call>"), Tags("```json", "```", True)],
                         '<tool_call>\n{{"name": "{name}", "arguments": ', ("<tool_call>", "</tool_call>"))

    def prefill(self, function: Optional[str]) -> str:
        return '<tool_call>\n{"name": "' if function is None else self.named_prefill.format(name=function)

    def parse_body(self, body: str) -> Optional[List[ToolCall]]:
        ok, obj = _json_value(body)
        call = _call_from_object(obj, self.name) if ok else None
        return None if call is None else [call]


class MistralFormat(TaggedFormat):
    """[TOOL_CALLS] then, to the end of the reply, a JSON list of calls (Mistral Nemo) or
    name[ARGS]{...} repeated with [TOOL_CALLS] between calls (the templates writing [ARGS])."""

    def __init__(self, args_marker: bool):
        named = "[TOOL_CALLS]{name}[ARGS]" if args_marker else '[TOOL_CALLS][{{"name": "{name}", "arguments": '
        super().__init__("mistral", [Tags("[TOOL_CALLS]", None)], named, ("[TOOL_CALLS]", "[ARGS]"))
        self.args_marker = args_marker

    def parse_body(self, body: str) -> Optional[List[ToolCall]]:
        body = body.strip()
        if "[ARGS]" in body or self.args_marker and not body.startswith("["):
            calls = []
            for part in body.split("[TOOL_CALLS]"):
                name, sep, args = part.partition("[ARGS]")
                ok, value = _json_value(args)
                text = _arguments_text(value) if ok and sep else None
                if not name.strip() or text is None:
                    return None
                calls.append(ToolCall(name.strip(), text, _call_id(self.name)))
            return calls
        ok, value = _json_value(body)
        items = value if isinstance(value, list) else [value]
        calls = [_call_from_object(o, self.name) for o in items] if ok and items else [None]
        return None if any(c is None for c in calls) else calls


class HarmonyFormat(ToolCallFormat):
    """gpt-oss: a message addressed to=functions.NAME (on the commentary channel) whose content is
    the arguments; <|call|> ends the generation, so a call is complete when the reply is."""

    name = "harmony"

    def prefill(self, function: Optional[str]) -> str:
        head = harmony.CHANNEL + "commentary to=functions."
        return head if function is None else f"{head}{function} {harmony.CONSTRAIN}json{harmony.MESSAGE}"

    def stream(self, names: Sequence[str] = ()) -> "ReplyStream":
        return _HarmonyStream()


class Llama3Format(ToolCallFormat):
    """Llama 3.1 - 3.3: the whole reply is {"name": ..., "parameters": {...}}, at times after
    <|python_tag|>. Only a call of one of the request's functions counts (a reply can be JSON for
    other reasons)."""

    name = "llama3"
    markers = ("<|python_tag|>",)

    def prefill(self, function: Optional[str]) -> str:
        return '{"name": "' if function is None else f'{{"name": "{function}", "parameters": '

    def stream(self, names: Sequence[str] = ()) -> "ReplyStream":
        return _WholeReplyStream(names)


HERMES = HermesFormat()
HARMONY = HarmonyFormat()
LLAMA3 = Llama3Format()


def detect(template: Optional[str], architecture: Optional[str] = None) -> Optional[ToolCallFormat]:
    """The tool-call format a chat template (source) teaches, or None when it teaches none pyggml knows."""
    if harmony.is_harmony(template, architecture):
        return HARMONY
    if not template:
        return None
    if "<tool_call>" in template:
        return HERMES
    if "[TOOL_CALLS]" in template:
        return MistralFormat(args_marker="[ARGS]" in template)
    if "<|start_header_id|>ipython<|end_header_id|>" in template:
        return LLAMA3
    return None


# -- reading a reply ------------------------------------------------------------------------------


class ReplyStream:
    """feed() pieces of a reply, then finish(); each returns a ReplyDelta."""

    def feed(self, piece: str) -> ReplyDelta:
        raise NotImplementedError

    def finish(self) -> ReplyDelta:
        raise NotImplementedError


def _held(text: str, tag: str) -> int:
    """Length of the longest tail of text that is a proper prefix of tag."""
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:k]):
            return k
    return 0


class _TaggedStream(ReplyStream):
    def __init__(self, fmt: TaggedFormat, names: Sequence[str]):
        self.fmt = fmt
        self.names = set(names)
        self.buf = ""  # text not given out yet: a tail that may open a call, or an open call
        self.open: Optional[Tags] = None  # the tags of the call being read
        self.blank = ""  # blanks held back: dropped when a call follows them
        self.n_calls = 0

    def _content(self, text: str, out: List[str]) -> None:
        text = self.blank + text
        kept = text.rstrip()
        self.blank = text[len(kept):]
        if kept:
            out.append(kept)

    def _next_opener(self) -> Tuple[int, Optional[Tags]]:
        found = [(i, t) for t in self.fmt.tags for i in [self.buf.find(t.opener)] if i >= 0]
        return min(found, key=lambda f: f[0]) if found else (-1, None)

    def feed(self, piece: str) -> ReplyDelta:
        out: List[str] = []
        calls: List[ToolCall] = []
        self.buf += piece
        while True:
            if self.open is None:
                i, tags = self._next_opener()
                if tags is None:
                    cut = len(self.buf) - max(_held(self.buf, t.opener) for t in self.fmt.tags)
                    self._content(self.buf[:cut], out)
                    self.buf = self.buf[cut:]
                    break
                self._content(self.buf[:i], out)
                self.buf, self.open = self.buf[i:], tags
            if self.open.closer is None:
                break
            start = len(self.open.opener)
            j = self.buf.find(self.open.closer, start)
            if j < 0:
                break
            end = j + len(self.open.closer)
            block, self.buf = self.buf[:end], self.buf[end:]
            self._block(block, block[start:j], out, calls)
        return ReplyDelta("".join(out), "", calls)

    def _block(self, block: str, body: str, out: List[str], calls: List[ToolCall]) -> None:
        parsed = self.fmt.parse_body(body)
        if parsed is not None and self.open.known_names_only and any(c.name not in self.names for c in parsed):
            parsed = None
        self.open = None
        if parsed is None:  # not a call after all: the model's text, as it wrote it
            out.append(self.blank + block)
            self.blank = ""
            return
        self.blank = ""
        calls.extend(parsed)
        self.n_calls += len(parsed)

    def finish(self) -> ReplyDelta:
        out: List[str] = []
        calls: List[ToolCall] = []
        if self.open is not None:  # cut short, or a format whose call runs to the end
            self._block(self.buf, self.buf[len(self.open.opener):], out, calls)
        else:
            out.append(self.blank + self.buf if self.buf or not self.n_calls else "")
        self.buf, self.blank = "", ""
        return ReplyDelta("".join(out), "", calls)


_PYTHON_TAG = "<|python_tag|>"


class _WholeReplyStream(ReplyStream):
    """A reply that is one call or none: held back while it may be a call (it starts with "{"),
    given out as it comes once it cannot be."""

    def __init__(self, names: Sequence[str]):
        self.names = set(names)
        self.buf = ""
        self.passing = False  # known not to be a call

    def feed(self, piece: str) -> ReplyDelta:
        if self.passing:
            return ReplyDelta(piece)
        self.buf += piece
        head = self.buf.lstrip()
        if _PYTHON_TAG.startswith(head):  # blanks, or the tag still arriving
            return ReplyDelta()
        head = head[len(_PYTHON_TAG):].lstrip() if head.startswith(_PYTHON_TAG) else head
        if not head or head.startswith("{"):
            return ReplyDelta()
        self.passing, out, self.buf = True, self.buf, ""
        return ReplyDelta(out)

    def finish(self) -> ReplyDelta:
        text, self.buf = self.buf, ""
        if self.passing or not text:
            return ReplyDelta(text)
        body = text.strip()
        body = body[len(_PYTHON_TAG):] if body.startswith(_PYTHON_TAG) else body
        ok, value = _json_value(body)
        call = _call_from_object(value, "llama3") if ok else None
        if call is None or call.name not in self.names:
            return ReplyDelta(text)
        return ReplyDelta("", "", [call])


_RECIPIENT = re.compile(r"to=functions\.([^\s<]+)")


class _HarmonyStream(ReplyStream):
    """Content and reasoning as harmony.ReplySplitter gives them; the calls at the end."""

    def __init__(self):
        self.split = harmony.ReplySplitter()
        self.text = ""

    def feed(self, piece: str) -> ReplyDelta:
        self.text += piece
        content, reasoning = self.split.feed(piece)
        return ReplyDelta(content, reasoning, [])

    def finish(self) -> ReplyDelta:
        content, reasoning = self.split.finish()
        out, calls = [content], []
        for m in harmony.parse(self.text):
            found = _RECIPIENT.search(m.header)
            if not found:
                continue
            ok, value = _json_value(m.content)
            args = _arguments_text(value) if ok and isinstance(value, dict) else None
            if args is None:
                out.append(m.content)  # not a call after all
            else:
                calls.append(ToolCall(found.group(1), args, _call_id("harmony")))
        return ReplyDelta("".join(out), reasoning, calls)


def parse_reply(fmt: ToolCallFormat, text: str, names: Sequence[str] = ()) -> Tuple[Optional[str], str, List[ToolCall]]:
    """(content, reasoning, calls) of a whole reply (`names`: the request's functions): content
    is None when there are calls and no other text."""
    stream = fmt.stream(names)
    parts = [stream.feed(text), stream.finish()]
    content = "".join(p.content for p in parts)
    calls = [c for p in parts for c in p.calls]
    if calls:
        content = content.strip() or None
    return content, "".join(p.reasoning for p in parts), calls


# -- requests ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class ToolRequest:
    """A chat request's tools, resolved: those for the prompt (None: no tools), the format the
    reply is read in (None: it is not read for calls) and the text that starts the reply ("" unless
    a call is forced)."""

    tools: Optional[List[Dict[str, Any]]] = None
    format: Optional[ToolCallFormat] = None
    prefill: str = ""
    names: Tuple[str, ...] = ()  # the tools' function names

    def stream(self) -> "ReplyStream":
        """A reader of the reply, the prefill already fed (it gives nothing out by itself)."""
        reader = self.format.stream(self.names)
        reader.feed(self.prefill)
        return reader

    def parse(self, generated: str) -> Tuple[Optional[str], str, List[ToolCall]]:
        """parse_reply of the prefill and the generated text."""
        return parse_reply(self.format, self.prefill + generated, self.names)

    def marker_tokens(self, tokenizer: Any) -> List[int]:
        """Ids of the format's markers that are single tokens of `tokenizer` (the generation must
        show them, control tokens or not)."""
        out = []
        for text in self.format.markers if self.format is not None else ():
            ids = tokenizer.encode(text, add_special=False, parse_special=True)
            if len(ids) == 1:
                out.append(ids[0])
        return out


def tool_names(tools: Sequence[Mapping[str, Any]]) -> List[str]:
    names = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function" or not isinstance(fn, Mapping) \
                or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ArgumentError(f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}")
        names.append(fn["name"])
    return names


def resolve_tool_choice(fmt: Optional[ToolCallFormat], tools: Optional[Sequence[Mapping[str, Any]]],
                        tool_choice: Any = None, functions: Optional[Sequence[Mapping[str, Any]]] = None,
                        function_call: Any = None) -> ToolRequest:
    """Check tools and tool_choice (OpenAI's: "none", "auto", "required" or {"type": "function",
    "function": {"name": X}}) for a model whose template teaches `fmt`; the legacy functions /
    function_call are read as tools / tool_choice. ArgumentError (a ValueError) names what is
    wrong: a choice that names no given tool, or forces a call where `fmt` is None."""
    if functions:
        if tools:
            raise ArgumentError("give tools or the legacy functions, not both")
        tools = [{"type": "function", "function": dict(f)} for f in functions]
    if function_call is not None:
        if tool_choice is not None:
            raise ArgumentError("give tool_choice or the legacy function_call, not both")
        tool_choice = function_call if isinstance(function_call, str) else {"type": "function",
                                                                             "function": function_call}
    names = tool_names(tools) if tools else []
    if tool_choice == "none" or not names and tool_choice in (None, "auto"):
        return ToolRequest()
    if tool_choice in (None, "auto"):
        return ToolRequest(list(tools), fmt, "", tuple(names))
    if not names:
        raise ArgumentError(f"tool_choice {json.dumps(tool_choice)} needs tools")
    if tool_choice == "required":
        forced = None
    else:
        fn = tool_choice.get("function") if isinstance(tool_choice, Mapping) else None
        forced = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(forced, str):
            raise ArgumentError('tool_choice must be "none", "auto", "required" or {"type": "function", '
                                '"function": {"name": ...}}')
        if forced not in names:
            raise ArgumentError(f"tool_choice names the function '{forced}', which is not among the tools "
                                f"({', '.join(names)})")
    if fmt is None:
        raise ArgumentError("tool_choice forces a call, but this model's chat template has no tool-call format "
                            "pyggml reads (Hermes <tool_call>, Mistral [TOOL_CALLS], Llama 3 JSON, gpt-oss harmony)")
    return ToolRequest(list(tools), fmt, fmt.prefill(forced), tuple(names))


def openai_delta(delta: ReplyDelta, first_index: int) -> Dict[str, Any]:
    """A chat.completion.chunk's delta fields for `delta`, its calls numbered from first_index
    ({} when it adds nothing)."""
    out: Dict[str, Any] = {}
    if delta.content:
        out["content"] = delta.content
    if delta.reasoning:
        out["reasoning_content"] = delta.reasoning
    if delta.calls:
        out["tool_calls"] = [c.to_openai(first_index + i) for i, c in enumerate(delta.calls)]
    return out

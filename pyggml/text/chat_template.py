"""Chat prompts: the GGUF's tokenizer.chat_template rendered with jinja2 in a sandbox.

Templates come from model files, so they are untrusted: they run in
jinja2.sandbox.ImmutableSandboxedEnvironment with the helpers Hugging Face chat
templates expect (raise_exception, strftime_now, tojson with its keyword
arguments). A model without a template gets a fallback chosen by architecture
(Gemma's turn markers, Mistral 3's [INST], Phi-3's <|user|>, gpt-oss's harmony messages) or
ChatML.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Iterable, Mapping

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import PyggmlError
from .harmony import HARMONY_TEMPLATE

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Gemma: no system role; a system message is prepended to the first user turn.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# Mistral's v7-tekken format (Ministral 3, Mistral Small 3), as llama.cpp's llm_chat_apply_template writes it.
MISTRAL_V7_TEKKEN_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST]' + message['content'] + '[/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)

# Phi-3's turns, as llama.cpp's LLM_CHAT_TEMPLATE_PHI_3 writes them.
PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# By GGUF architecture; the others (llama, qwen2, qwen3, qwen3moe, smollm3, ...) get ChatML.
_FALLBACKS = {"gemma": GEMMA_TEMPLATE, "gemma2": GEMMA_TEMPLATE, "gemma3": GEMMA_TEMPLATE,
              "mistral3": MISTRAL_V7_TEKKEN_TEMPLATE, "phi3": PHI3_TEMPLATE, "gpt-oss": HARMONY_TEMPLATE}


class ChatTemplateError(PyggmlError):
    """A chat template failed to compile or render (including raise_exception calls)."""


def default_template(architecture: str | None = None) -> str:
    """The template used when a GGUF has no tokenizer.chat_template."""
    return _FALLBACKS.get(architecture or "", CHATML_TEMPLATE)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"chat template error: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # Hugging Face's tojson: no HTML escaping (jinja2's own would turn < into \u003c).
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"],
                                        undefined=jinja2.Undefined)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


class ChatTemplate:
    """A compiled chat template."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = ""):
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self._object_arguments: bool | None = None
        try:
            self._template = _environment().from_string(source)
        except jinja2.TemplateError as e:
            raise ChatTemplateError(f"chat template does not compile: {e}") from None

    def render(self, messages: Iterable[Mapping[str, Any]], add_generation_prompt: bool = True,
               **extra: Any) -> str:
        """The prompt text for `messages` ([{"role": ..., "content": ...}, ...]).

        `extra` reaches the template as variables (tools, documents, ...). Assistant messages'
        tool_calls keep OpenAI's shape; their arguments reach a template that writes them with
        tojson as objects (as Hugging Face's templates expect), any other as JSON text. A content
        of None is "".
        """
        variables = {"bos_token": self.bos_token, "eos_token": self.eos_token}
        variables.update(extra)
        messages = [self._message(m) for m in messages]
        try:
            return self._template.render(messages=messages, add_generation_prompt=add_generation_prompt, **variables)
        except ChatTemplateError:
            raise
        except jinja2.TemplateError as e:  # includes sandbox SecurityError
            raise ChatTemplateError(f"chat template failed: {e}") from None

    def _message(self, message: Mapping[str, Any]) -> dict:
        out = dict(message)
        if "content" in out and out["content"] is None:
            out["content"] = ""
        calls = out.get("tool_calls")
        if calls and isinstance(calls, list):
            out["tool_calls"] = [_call_arguments(c, self.object_arguments) for c in calls]
        return out

    @property
    def object_arguments(self) -> bool:
        """Whether the template writes a call's arguments as JSON itself (tojson on an object):
        found once by rendering a call whose arguments are an object."""
        if self._object_arguments is None:
            probe = [{"role": "user", "content": "x"},
                     {"role": "assistant", "content": "", "tool_calls": [{
                         "id": "abcdefghi", "type": "function",
                         "function": {"name": "probe", "arguments": {"pyggml_probe": 7}}}]}]
            try:
                out = self._template.render(messages=probe, add_generation_prompt=False,
                                            bos_token=self.bos_token, eos_token=self.eos_token)
            except Exception:  # noqa: BLE001 - a template that refuses the probe gets the arguments as text
                out = ""
            self._object_arguments = '"pyggml_probe": 7' in out or '"pyggml_probe":7' in out
        return self._object_arguments

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, template: str | None = None,
                       architecture: str | None = None) -> "ChatTemplate":
        """The GGUF's template (or a fallback) with the tokenizer's BOS/EOS texts."""
        source = template or getattr(tokenizer, "chat_template", None) or default_template(
            architecture or getattr(tokenizer, "architecture", None))
        bos = tokenizer.tokens[tokenizer.bos_id] if tokenizer.bos_id >= 0 else ""
        eos = tokenizer.tokens[tokenizer.eos_id] if tokenizer.eos_id >= 0 else ""
        return cls(source, bos_token=bos, eos_token=eos)


def _call_arguments(call: Any, as_object: bool) -> Any:
    """A tool call (OpenAI's shape, or the bare function) whose arguments are an object (parsed
    from JSON text) when as_object, else JSON text (an object dumped)."""
    if not isinstance(call, Mapping):
        return call
    if isinstance(call.get("function"), Mapping):
        return {**call, "function": _call_arguments(call["function"], as_object)}
    args = call.get("arguments")
    if as_object and isinstance(args, str):
        try:
            return {**call, "arguments": json.loads(args)}
        except ValueError:
            return call
    if not as_object and isinstance(args, (dict, list)):
        return {**call, "arguments": json.dumps(args, ensure_ascii=False)}
    return call


def render(template: str, messages: Iterable[Mapping[str, Any]], add_generation_prompt: bool = True,
           bos_token: str = "", eos_token: str = "", **extra: Any) -> str:
    """Render a chat template source for `messages` (see ChatTemplate.render)."""
    return ChatTemplate(template, bos_token, eos_token).render(messages, add_generation_prompt, **extra)

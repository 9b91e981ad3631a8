"""Chat templates that teach tool calls, for function-calling tests: Qwen2.5's own (from the golden
data) and a small Mistral-style one whose [TOOL_CALLS]name[ARGS]{...} markers a model's vocabulary
can hold as control tokens (make_model(..., extra_specials=MISTRAL_MARKERS))."""

from __future__ import annotations

import json
from pathlib import Path

QWEN_TEMPLATE = json.loads((Path(__file__).resolve().parents[1] / "data" / "chat_golden_qwen2.5.json")
                           .read_text(encoding="utf-8"))["template"]

MISTRAL_MARKERS = ("[TOOL_CALLS]", "[ARGS]")
MISTRAL_TEMPLATE = (
    "{% if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}"
    "{% for m in messages %}{% if m.role == 'user' %}[INST]{{ m.content }}[/INST]"
    "{% elif m.role == 'assistant' %}{% for c in m.tool_calls or [] %}[TOOL_CALLS]{{ c.function.name }}[ARGS]"
    "{{ c.function.arguments | tojson }}{% endfor %}{{ m.content }}<|im_end|>"
    "{% elif m.role == 'tool' %}[TOOL_RESULTS]{{ m.content }}[/TOOL_RESULTS]{% endif %}{% endfor %}")

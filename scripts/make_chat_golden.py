"""Regenerate tests/data/chat_golden_qwen2.5.json: the Qwen2.5 GGUF chat template
rendered by llama-cpp-python's Jinja2ChatFormatter for a few conversations.
Run from the repository root: python3 scripts/make_chat_golden.py
"""

from __future__ import annotations

import json
import os

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from pyggml.text.tokenizer import read_tokenizer_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.expanduser("~/.cache/pyggml/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")

CONVERSATIONS = {
    "multi_turn_system": [
        {"role": "system", "content": "You are a terse assistant. Answer in one line."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3 * 7? Use <tags> & \"quotes\"."},
    ],
    "no_system": [
        {"role": "user", "content": "Write hello world in C."},
    ],
    "unicode": [
        {"role": "system", "content": "Réponds en français. 你好 😀"},
        {"role": "user", "content": "  leading spaces and\nnewlines\n"},
    ],
}


def main() -> None:
    meta = read_tokenizer_metadata(MODEL)
    template = meta["tokenizer.chat_template"]
    out = {"template": template, "cases": []}
    for name, messages in CONVERSATIONS.items():
        for gen in (True, False):
            fmt = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="<|endoftext|>",
                                      add_generation_prompt=gen)
            prompt = fmt(messages=messages).prompt
            out["cases"].append({"name": name, "messages": messages, "add_generation_prompt": gen,
                                 "prompt": prompt})
    with open(os.path.join(ROOT, "tests/data/chat_golden_qwen2.5.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()

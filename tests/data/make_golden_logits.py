"""Regenerate tests/data/golden_logits_*.npz: llama.cpp's logits on the real models.

Needs llama-cpp-python and the real models; CI only reads the .npz files it writes.
For each model: a few fixed prompts (token ids from llama.cpp's own tokenizer,
stored in the file), and at chosen positions llama.cpp's top-k token ids and
logits plus the full logit range (max - min) of that row. Positions are kept only
where llama.cpp's top-1 leads its top-2 by at least MIN_MARGIN of the range, so
that "same top-1" is a fair test for an implementation that rounds differently
(llama.cpp quantizes activations to 8 bits before each quantized matmul).

    python3 tests/data/make_golden_logits.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TOP_K = 8
MIN_MARGIN = 0.04
HERE = Path(__file__).resolve().parent
MODELS = Path.home() / ".cache/pyggml/models"

STORY = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk. "
    "He wound the great clock, polished the lens, and wrote the weather in a worn leather book. "
    "Ships passed far out at sea, their lights blinking like slow stars. "
    "One winter night a storm tore the shutters loose and the lamp flickered, "
    "so he carried a lantern up and down until the dawn came grey and quiet. "
)
CODE = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n"


def long_text(n_chars: int) -> str:
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    parts, i = [], 0
    while sum(map(len, parts)) < n_chars:
        parts.append(f"On {days[i % 7]} of week {i // 7 + 1}, {STORY}")
        i += 1
    return "".join(parts)


# (model file, [(prompt text, wanted positions; negative counts from the end)])
SPECS = {
    "gemma3-270m": ("gemma-3-270m-q4_k_m.gguf", [
        ("One, two, three, four, five, six, seven,", [-1, -2, -3]),
        (STORY, [5, 10, 20, 30, 40, -3, -1]),
        (long_text(4000), [100, 300, 511, 520, 560, 590, -2, -1]),   # 600 tokens > window 512
    ], 600),
    "qwen2.5-coder-1.5b": ("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", [
        (CODE, [3, 8, 15, -3, -1]),
        ("The capital of France is Paris. The capital of Italy is", [-4, -1]),
    ], 40),
}


def golden(name: str) -> dict:
    import llama_cpp

    fname, prompts, max_len = SPECS[name]
    llm = llama_cpp.Llama(model_path=str(MODELS / fname), logits_all=True, n_ctx=1024,
                          n_batch=1024, n_ubatch=1024, verbose=False)
    tokens, offsets, positions, ids, logits, ranges = [], [0], [], [], [], []
    for pi, (text, wanted) in enumerate(prompts):
        toks = llm.tokenize(text.encode(), add_bos=True)[:max_len]
        llm.reset()
        llm.eval(toks)
        scores = np.array(llm.scores[: len(toks)], dtype=np.float32)
        for p in wanted:
            p = p % len(toks)
            row = scores[p]
            top = np.argsort(-row)[:TOP_K]
            rng = float(row.max() - row.min())
            if row[top[0]] - row[top[1]] < MIN_MARGIN * rng:
                print(f"{name}: prompt {pi} position {p}: top-1 margin too small, skipped")
                continue
            positions.append((pi, p))
            ids.append(top)
            logits.append(row[top])
            ranges.append(rng)
        tokens.extend(toks)
        offsets.append(len(tokens))
    return dict(tokens=np.array(tokens, np.int32), offsets=np.array(offsets, np.int64),
                positions=np.array(positions, np.int64), top_ids=np.array(ids, np.int32),
                top_logits=np.array(logits, np.float32), ranges=np.array(ranges, np.float32),
                llama_cpp_version=np.array(llama_cpp.__version__))


def main() -> None:
    for name in sys.argv[1:] or SPECS:
        data = golden(name)
        out = HERE / f"golden_logits_{name}.npz"
        np.savez_compressed(out, **data)
        print(f"{out.name}: {len(data['offsets']) - 1} prompts, {len(data['positions'])} positions")


if __name__ == "__main__":
    main()

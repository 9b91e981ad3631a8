"""`pyggml run`: one-shot text completion with llama.cpp's flag names (llama-cli -no-cnv).

Without -m it runs the default model (Gemma 3 270M, assembled into the user cache on
first use). The prompt is echoed unless --no-display-prompt, the completion streams to
stdout, and load time and prompt / generation tokens per second go to stderr.
The model-loading and sampling flags are shared with `pyggml chat` (cli/common.py).
"""

from __future__ import annotations

import sys
import time

from .common import (add_model_arguments, add_sampling_arguments, format_timings, int_at_least, load_llama,
                     sampling_kwargs)

DEFAULT_N_PREDICT = 256


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="complete a prompt (llama.cpp's flags: -m, -p, -n, -t, --temp, ...)",
        description="Complete a prompt with a GGUF model, streaming the text to stdout. "
        "Without -m, uses the default model (Gemma 3 270M).",
    )
    add_model_arguments(p)
    add_sampling_arguments(p)
    p.add_argument("-p", "--prompt", default=None, help="prompt text (escapes such as \\n are processed)")
    p.add_argument("-f", "--file", default=None, help="read the prompt from a file")
    p.add_argument("-n", "--n-predict", type=int_at_least(-1), default=DEFAULT_N_PREDICT,
                   help=f"tokens to generate (default {DEFAULT_N_PREDICT}; -1: until end of text or a full context)")
    p.add_argument("-r", "--reverse-prompt", action="append", default=[], metavar="TEXT",
                   help="stop when the output contains TEXT (repeatable)")
    p.add_argument("--ignore-eos", action="store_true", help="keep generating past end-of-text tokens")
    p.add_argument("--no-display-prompt", action="store_true", help="do not print the prompt before the output")
    p.add_argument("-e", "--escape", action="store_true", help="process escapes in the prompt (the default)")
    p.add_argument("--no-escape", action="store_true", help="take \\n etc. in the prompt literally")
    p.set_defaults(func=_run)


def process_escapes(text: str) -> str:
    """llama.cpp's escape processing of -p: \\n \\r \\t \\' \\" \\\\ (others stay as written)."""
    table = {"n": "\n", "r": "\r", "t": "\t", "'": "'", '"': '"', "\\": "\\"}
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in table:
            out.append(table[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _read_prompt(args) -> str:
    if args.file is not None:
        with open(args.file, encoding="utf-8") as f:
            return f.read()
    prompt = args.prompt if args.prompt is not None else ""
    return prompt if args.no_escape else process_escapes(prompt)


def _run(args) -> int:
    prompt = _read_prompt(args)
    t0 = time.perf_counter()
    llm = load_llama(args)
    load_seconds = time.perf_counter() - t0
    try:
        chunks = llm.create_completion(prompt, max_tokens=args.n_predict, stop=args.reverse_prompt, stream=True,
                                       ignore_eos=args.ignore_eos, **sampling_kwargs(args))
    except ValueError as e:  # longer than the context
        print(f"pyggml: error: {e} (raise it with -c)", file=sys.stderr)
        return 1
    out = sys.stdout
    if not args.no_display_prompt:
        out.write(prompt)
        out.flush()
    finish = None
    status = 0
    try:
        for chunk in chunks:
            choice = chunk["choices"][0]
            if choice["text"]:
                out.write(choice["text"])
                out.flush()
            finish = choice["finish_reason"] or finish
    except KeyboardInterrupt:
        status = 130
        finish = "interrupted"
    out.write("\n")
    out.flush()
    print(file=sys.stderr)
    print(format_timings(llm.timings, load_seconds), file=sys.stderr)
    print(f"pyggml: total time       = {(time.perf_counter() - t0) * 1e3:10.2f} ms (finish reason: {finish})",
          file=sys.stderr)
    return status

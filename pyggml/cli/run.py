"""`pyggml run`: one-shot text completion with llama.cpp's flag names (llama-cli -no-cnv).

Without -m it runs the default model (Gemma 3 270M, assembled into the user cache on
first use). The prompt is echoed unless --no-display-prompt, the completion streams to
stdout, and load time and prompt / generation tokens per second go to stderr.
The model-loading and sampling flags are shared with `pyggml chat`.
"""

from __future__ import annotations

import argparse
import sys
import time

from .. import models
from . import int_at_least

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


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", default=None,
                   help=f"a .gguf file or a model name ({', '.join(models.available_models())}); "
                   "default: the default model")
    p.add_argument("-t", "--threads", type=int_at_least(0), default=0, help="threads (default: physical cores)")
    p.add_argument("-c", "--ctx-size", type=int_at_least(0), default=4096,
                   help="context size (default 4096; 0: the model's)")
    p.add_argument("-b", "--batch-size", type=int_at_least(1), default=512,
                   help="prompt tokens per native call (default 512)")
    p.add_argument("-ngl", "--n-gpu-layers", "--gpu-layers", type=int, default=0, dest="n_gpu_layers",
                   help="accepted for llama.cpp compatibility; pyggml runs on the CPU only")
    p.add_argument("-ctk", "--cache-type-k", default="f16", choices=["f16", "q8_0", "f32"], help="KV cache type")
    p.add_argument("--check-tensors", action="store_true",
                   help="scan the model's tensors for NaN and infinity before running (as llama.cpp's flag)")


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--seed", type=int, default=-1, help="random seed (default -1: random)")
    p.add_argument("--temp", type=float, default=0.8, help="temperature (default 0.8; 0: greedy)")
    p.add_argument("--top-k", type=int_at_least(0), default=40, help="top-k (default 40; 0: off)")
    p.add_argument("--top-p", type=float, default=0.95, help="top-p (default 0.95; 1.0: off)")
    p.add_argument("--min-p", type=float, default=0.05, help="min-p (default 0.05; 0.0: off)")
    p.add_argument("--typical", type=float, default=1.0, help="locally typical sampling p (default 1.0: off)")
    p.add_argument("--repeat-penalty", type=float, default=1.0, help="repetition penalty (default 1.0: off)")
    p.add_argument("--repeat-last-n", type=int_at_least(0), default=64, help="tokens the penalties look back on (default 64)")
    p.add_argument("--presence-penalty", type=float, default=0.0, help="presence penalty (default 0.0)")
    p.add_argument("--frequency-penalty", type=float, default=0.0, help="frequency penalty (default 0.0)")


def load_llama(args):
    """Resolve the model argument, warn about -ngl, load; returns a pyggml.Llama."""
    from ..api.llama import Llama

    if args.n_gpu_layers > 0:
        print(f"pyggml: -ngl {args.n_gpu_layers} ignored: pyggml runs on the CPU only", file=sys.stderr)
    path = models.resolve(args.model)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    kv = {"f32": 0, "f16": 1, "q8_0": 8}[args.cache_type_k]
    llm = Llama(str(path), n_ctx=args.ctx_size, n_threads=args.threads or None, n_batch=args.batch_size,
                seed=args.seed if args.seed >= 0 else 0xFFFFFFFF, last_n_tokens_size=args.repeat_last_n,
                type_k=kv, type_v=kv, verbose=False, check_tensors=args.check_tensors)
    return llm


def sampling_kwargs(args) -> dict:
    """create_completion / create_chat_completion keywords from the sampling flags."""
    return dict(temperature=args.temp, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                typical_p=args.typical, repeat_penalty=args.repeat_penalty,
                presence_penalty=args.presence_penalty, frequency_penalty=args.frequency_penalty)


def make_sampler(llm, args):
    """A Sampler for the flags, continuing the Llama's seeded random sequence."""
    kw = sampling_kwargs(args)
    return llm._sampler(kw["temperature"], kw["top_k"], kw["top_p"], kw["min_p"], kw["typical_p"],
                        kw["repeat_penalty"], kw["frequency_penalty"], kw["presence_penalty"], None, None, None)


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
    from ..api.llama import format_timings

    prompt = _read_prompt(args)
    t0 = time.perf_counter()
    llm = load_llama(args)
    load_seconds = time.perf_counter() - t0
    try:
        tokens = llm._prompt_tokens(prompt)
    except ValueError as e:  # longer than the context
        print(f"pyggml: error: {e} (raise it with -c)", file=sys.stderr)
        return 1
    out = sys.stdout
    if not args.no_display_prompt:
        out.write(prompt)
        out.flush()
    sampler = make_sampler(llm, args)
    finish = None
    status = 0
    try:
        for chunk in llm.generator.stream(tokens, sampler=sampler, max_tokens=args.n_predict,
                                          stop=args.reverse_prompt, ignore_eos=args.ignore_eos):
            if chunk.text:
                out.write(chunk.text)
                out.flush()
            finish = chunk.finish_reason or finish
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

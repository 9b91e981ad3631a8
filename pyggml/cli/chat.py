"""`pyggml chat`: an interactive multi-turn chat in the terminal.

Each turn renders the whole conversation with the model's chat template; the KV cache
keeps the part the previous turn already evaluated, so only the new text is processed.
Ctrl+C during a reply stops it (the partial reply stays in the conversation); Ctrl+C
or Ctrl+D at the prompt, /exit or /quit leave. /reset starts a new conversation.
Load time, then prompt and generation tokens/s of every reply, go to stderr, and so does a
reasoning model's analysis channel (gpt-oss), marked [thinking]; the answer goes to stdout.
"""

from __future__ import annotations

import sys
import time

from .common import add_model_arguments, add_sampling_arguments, int_at_least, load_llama, sampling_kwargs

HELP = "/reset: new conversation, /exit or Ctrl+D: quit, Ctrl+C: stop a reply"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "chat",
        help="interactive chat with a model in the terminal",
        description="Chat with a GGUF model using its chat template. " + HELP,
    )
    add_model_arguments(p)
    add_sampling_arguments(p)
    p.add_argument("-sys", "--system-prompt", default=None, help="system message opening the conversation")
    p.add_argument("-n", "--n-predict", type=int_at_least(-1), default=-1,
                   help="most tokens per reply (default -1: until end of turn or a full context)")
    p.set_defaults(func=_run)


def _say(stats) -> str:
    return (f"[prompt {stats.prompt_eval_tokens} tokens, {stats.prompt_tokens_per_second:.1f} tokens/s | "
            f"reply {stats.generated_tokens} tokens, {stats.generation_tokens_per_second:.1f} tokens/s]")


def _read_line(prompt: str) -> "str | None":
    try:
        return input(prompt)
    except (EOFError, KeyboardInterrupt):
        return None


def reply(llm, messages, args, out, thoughts=None) -> str:
    """Stream the model's reply to `messages` to `out`; returns its text (partial if interrupted).
    A reasoning model's analysis (gpt-oss's, reasoning_content) streams to `thoughts` when given."""
    parts = []
    kwargs = sampling_kwargs(args)
    thinking = False
    try:
        for chunk in llm.create_chat_completion(messages, stream=True, max_tokens=args.n_predict, **kwargs):
            delta = chunk["choices"][0]["delta"]
            if thoughts is not None and delta.get("reasoning_content"):
                thoughts.write(("" if thinking else "[thinking] ") + delta["reasoning_content"])
                thoughts.flush()
                thinking = True
            text = delta.get("content")
            if text:
                if thinking:
                    thoughts.write("\n")
                    thinking = False
                parts.append(text)
                out.write(text)
                out.flush()
    except KeyboardInterrupt:
        out.write(" [stopped]")
    out.write("\n")
    out.flush()
    return "".join(parts)


def _run(args) -> int:
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    t0 = time.perf_counter()
    llm = load_llama(args)
    print(f"pyggml: loaded {llm.model_path} in {(time.perf_counter() - t0) * 1e3:.0f} ms "
          f"(n_ctx {llm.n_ctx()}). {HELP}", file=sys.stderr)
    system = [{"role": "system", "content": args.system_prompt}] if args.system_prompt else []
    messages = list(system)
    interactive = sys.stdin.isatty()
    while True:
        line = _read_line("> " if interactive else "")
        if line is None or line.strip() in ("/exit", "/quit"):
            break
        if line.strip() == "/reset":
            messages = list(system)
            print("(new conversation)", file=sys.stderr)
            continue
        if not line.strip():
            continue
        messages.append({"role": "user", "content": line})
        try:
            text = reply(llm, messages, args, sys.stdout, thoughts=sys.stderr)
        except ValueError as e:  # the conversation no longer fits in the context
            print(f"pyggml: {e}; /reset to start over", file=sys.stderr)
            messages.pop()
            continue
        messages.append({"role": "assistant", "content": text})
        print(_say(llm.timings), file=sys.stderr)
    if interactive:
        print(file=sys.stderr)
    return 0

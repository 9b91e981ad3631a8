"""`pyggml serve`: the OpenAI-compatible HTTP server, llama-server's flags.

`-c` is the context shared by the slots, as llama-server's: each of the `-np` slots (requests
generating at once) holds `-c / -np` positions for its prompt and completion. Requests past the
slots wait in a queue of `--max-queue`; past that they get 503 with Retry-After.
"""

from __future__ import annotations

import sys

from .. import models
from ..errors import ArgumentError
from .common import add_model_arguments, int_at_least

DEFAULT_CTX = 8192


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="an OpenAI-compatible HTTP server (/v1/chat/completions, ...), several requests batched together",
        description="Serve a GGUF model over the OpenAI HTTP API (llama-server's flags). Without -m, "
        "serves the default model (Gemma 3 270M). Needs the serve extra: pip install 'pyggml[serve]'.",
    )
    add_model_arguments(p, DEFAULT_CTX, f"context shared by the slots: each holds -c / -np positions "
                        f"for a prompt and its completion (default {DEFAULT_CTX}; 0: the default)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_at_least(0), default=8080, help="port (default 8080)")
    p.add_argument("-np", "--parallel", type=int_at_least(1), default=4,
                   help="slots: requests generating at once, batched together (default 4)")
    p.add_argument("--max-queue", type=int_at_least(0), default=16,
                   help="requests that may wait for a slot; more get 503 (default 16)")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (not on /health)")
    p.add_argument("-a", "--alias", default=None, help="the model's name in the API (default: the file name)")
    p.add_argument("--prefill-chunk", type=int_at_least(1), default=None,
                   help="prompt tokens evaluated per step while others generate (default: -b)")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    try:
        import uvicorn

        from ..serve.app import create_app
        from ..serve.engine import Engine
    except ImportError as e:
        raise ArgumentError(f"pyggml serve needs the serve extra (pip install 'pyggml[serve]'): {e}") from None
    if args.port > 65535:
        raise ArgumentError(f"--port must be in [0, 65535], got {args.port}")
    if args.n_gpu_layers > 0:
        print(f"pyggml: -ngl {args.n_gpu_layers} ignored: pyggml runs on the CPU only", file=sys.stderr)
    path = models.resolve(args.model)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    n_ctx = args.ctx_size or DEFAULT_CTX
    per_slot = n_ctx // args.parallel
    if per_slot < 16:
        raise ArgumentError(f"-c {n_ctx} over -np {args.parallel} slots leaves {per_slot} positions each: too few")
    engine = Engine(path, n_slots=args.parallel, n_ctx_slot=per_slot, n_threads=args.threads or None,
                    n_batch=args.batch_size, kv_type=args.cache_type_k, max_queue=args.max_queue, alias=args.alias,
                    check_tensors=args.check_tensors, prefill_chunk=args.prefill_chunk,
                    weight_format=args.weight_format, int8_threshold=args.int8_threshold)
    app = create_app(engine, api_key=args.api_key)
    print(f"pyggml: serving {engine.model_id} on http://{args.host}:{args.port}/v1 ({args.parallel} slots of "
          f"{per_slot} tokens, {engine.model.n_threads} threads)", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        engine.close()
    return 0

"""`pyggml serve`: an OpenAI-compatible HTTP server (FastAPI on uvicorn, sse-starlette for
streams) over a multi-sequence model with continuous batching.

engine.py holds the model, tokenizer, chat template and the batching scheduler
(pyggml/runtime/batching.py) and bridges the scheduler's thread to asyncio; schemas.py the
request bodies; app.py the endpoints and their OpenAI-shaped errors. The app needs the `serve`
extra (`pip install "pyggml[serve]"`).
"""

from __future__ import annotations

from .engine import Engine


def create_app(*args, **kwargs):
    """The ASGI application (see app.create_app); imports the server's dependencies."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["Engine", "create_app"]

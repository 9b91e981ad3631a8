"""A `pyggml serve` application run by uvicorn in a thread on a free loopback port, for tests
and benchmarks to talk to over real HTTP."""

from __future__ import annotations

import contextlib
import threading
import time


@contextlib.contextmanager
def running_server(path, api_key=None, **engine_kw):
    """Yields (base url, engine) of a server on 127.0.0.1 and a free port."""
    import uvicorn

    from pyggml.serve.app import create_app
    from pyggml.serve.engine import Engine

    engine_kw.setdefault("n_slots", 2)
    engine_kw.setdefault("n_ctx_slot", 256)
    engine_kw.setdefault("n_threads", 1)
    engine = Engine(path, **engine_kw)
    app = create_app(engine, api_key=api_key)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        t0 = time.time()
        while not server.started:
            if time.time() - t0 > 30 or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", engine
    finally:
        server.should_exit = True
        thread.join(30)
        engine.close()

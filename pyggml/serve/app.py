"""The OpenAI-compatible HTTP API over an Engine, as a FastAPI (ASGI) application.

Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (streamed as
server-sent events with stream=true; the model's tool calls read out as OpenAI tool_calls),
POST /v1/embeddings, GET /health, and llama.cpp's POST /tokenize and POST /detokenize. Every
error is OpenAI's shape, {"error": {"message", "type", "param", "code"}}: 400 for a malformed
or invalid request (and a prompt longer than the context, or a tool_choice naming no given
tool), 401 without the API key when one is set, 404 for an unknown model or path, 503 with
Retry-After when every slot is busy and the queue is full. A client that goes away
mid-request cancels its generation.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
import uuid
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ArgumentError
from ..runtime.sampling import SamplingParams
from ..text.chat_template import ChatTemplateError
from ..text.harmony import ReplySplitter, split_reply
from ..text.tool_calls import ToolRequest, openai_delta, resolve_tool_choice
from .engine import Engine, Generation, Piece, QueueFull, engine_error_message
from .schemas import (ChatCompletionRequest, CompletionRequest, DetokenizeRequest, EmbeddingRequest,
                      TokenizeRequest, _Sampling)

RETRY_AFTER_SECONDS = 1


class APIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: Optional[str] = None,
                 code: Optional[str] = None, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.message, self.type, self.param, self.code), status_code=self.status,
                            headers=self.headers)


def error_body(message: str, type: str = "invalid_request_error", param: Optional[str] = None,
               code: Optional[str] = None) -> Dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _busy() -> APIError:
    return APIError(503, "the server is busy: every slot is generating and the queue is full; retry later",
                    type="server_error", code="server_busy", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def create_app(engine: Engine, api_key: Optional[str] = None) -> FastAPI:
    """The application serving `engine`; with api_key, every endpoint but /health needs
    `Authorization: Bearer <api_key>`."""
    app = FastAPI(title="pyggml", description="OpenAI-compatible API over pyggml", docs_url=None, redoc_url=None)
    app.state.engine = engine
    _install_error_handlers(app)
    if api_key:
        _install_api_key(app, api_key)

    @app.get("/health")
    async def health():
        return {"status": "ok", **engine.scheduler.stats()}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{
            "id": engine.model_id, "object": "model", "created": engine.created, "owned_by": "pyggml",
            "meta": {"n_ctx_slot": engine.n_ctx, "n_slots": engine.model.n_seq_max, "n_vocab": engine.model.n_vocab,
                     "n_embd": engine.model.hparams["n_embd"], "arch": engine.model.arch},
        }]}

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        _check_common(engine, body)
        if body.suffix:
            raise APIError(400, "suffix (infill) is not supported", param="suffix")
        if body.echo and body.logprobs is not None:
            raise APIError(400, "echo together with logprobs is not supported", param="echo")
        prompt = body.prompt
        if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):  # a batch of prompts
            if len(prompt) != 1:
                raise APIError(400, "several prompts in one request are not supported: send one per request",
                               param="prompt")
            prompt = prompt[0]
        tokens = _checked_prompt(engine, engine.completion_tokens(prompt), "prompt")
        gen = _start(engine, body, tokens, top_logprobs=body.logprobs)
        job = _CompletionOutput(engine, body, tokens, prompt if isinstance(prompt, str) else "")
        if body.stream:
            return _sse(job.chunks(gen), gen)
        return await _until_done(job.result(gen), gen, request)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        _check_common(engine, body)
        if body.response_format and body.response_format.get("type", "text") != "text":
            raise APIError(400, "response_format other than text is not supported", param="response_format")
        try:
            tools = resolve_tool_choice(engine.tool_format, body.tools, body.tool_choice, body.functions,
                                        body.function_call)
        except ArgumentError as e:
            raise APIError(400, str(e), param="tool_choice" if body.tool_choice is not None else "tools") from None
        messages = [_message_dict(m, i) for i, m in enumerate(body.messages)]
        try:
            tokens = engine.chat_tokens(messages, tools=tools.tools, prefill=tools.prefill)
        except ChatTemplateError as e:
            raise APIError(400, f"the chat template refused the messages: {e}", param="messages") from None
        tokens = _checked_prompt(engine, tokens, "messages")
        if body.max_completion_tokens is not None:
            body.max_tokens = body.max_completion_tokens
        top = (body.top_logprobs or 0) if body.logprobs else None
        gen = _start(engine, body, tokens, top_logprobs=top, shown_tokens=tools.marker_tokens(engine.tokenizer))
        job = _ChatOutput(engine, body, tokens, tools)
        if body.stream:
            return _sse(job.chunks(gen), gen)
        return await _until_done(job.result(gen), gen, request)

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest):
        _check_model(engine, body.model)
        inputs = body.input
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not inputs:
            raise APIError(400, "input is empty", param="input")
        data, total = [], 0
        for i, item in enumerate(inputs):
            tokens = engine.tokenizer.encode(item, add_special=True) if isinstance(item, str) else list(item)
            if len(tokens) > engine.n_ctx:
                raise APIError(400, f"input {i} has {len(tokens)} tokens, more than the context ({engine.n_ctx})",
                               param="input", code="context_length_exceeded")
            bad = engine.check_tokens(tokens)
            if bad:
                raise APIError(400, f"input {i}: {bad}", param="input")
            try:
                hidden = await engine.embed(tokens)
            except QueueFull:
                raise _busy() from None
            vec = hidden.mean(axis=0)
            norm = float(np.linalg.norm(vec))
            vec = (vec / norm if norm > 0 else vec).astype(np.float32)
            emb = base64.b64encode(vec.tobytes()).decode() if body.encoding_format == "base64" else vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
            total += len(tokens)
        return {"object": "list", "data": data, "model": engine.model_id,
                "usage": {"prompt_tokens": total, "total_tokens": total}}

    @app.post("/tokenize")
    async def tokenize(body: TokenizeRequest):
        tokens = engine.tokenizer.encode(body.content, add_special=body.add_special, parse_special=True)
        if body.with_pieces:
            return {"tokens": [{"id": t, "piece": engine.detokenize([t])} for t in tokens]}
        return {"tokens": tokens}

    @app.post("/detokenize")
    async def detokenize(body: DetokenizeRequest):
        bad = engine.check_tokens(body.tokens) if body.tokens else None
        if bad:
            raise APIError(400, bad, param="tokens")
        return {"content": engine.detokenize(body.tokens)}

    return app


# -- errors and the API key ------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        return e.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        errors = e.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        if first.get("type") == "json_invalid":
            message = f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"
            return APIError(400, message).response()
        param = loc[0] if loc else None
        where = ".".join(loc) or "body"
        return APIError(400, f"{where}: {first.get('msg', 'invalid value')}", param=param,
                        code="invalid_value").response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        kind = "not_found" if e.status_code == 404 else None
        message = f"{request.method} {request.url.path}: {e.detail}"
        return APIError(e.status_code, message, code=kind).response()


def _install_api_key(app: FastAPI, api_key: str) -> None:
    app.add_middleware(_APIKeyMiddleware, expected=f"Bearer {api_key}".encode())


class _APIKeyMiddleware:
    """Refuses HTTP requests without the key (401), except /health. Plain ASGI, so that
    streamed responses and their disconnects pass through untouched."""

    def __init__(self, app, expected: bytes):
        self.app, self.expected = app, expected

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = APIError(401, "invalid or missing API key (Authorization: Bearer <key>)",
                                    code="invalid_api_key").response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- requests ----------------------------------------------------------------------------


def _check_model(engine: Engine, model: Optional[str]) -> None:
    if model is not None and model not in engine.names:
        raise APIError(404, f"the model '{model}' does not exist: this server has '{engine.model_id}'",
                       param="model", code="model_not_found")


def _check_common(engine: Engine, body: _Sampling) -> None:
    _check_model(engine, body.model)
    if body.n != 1:
        raise APIError(400, "n > 1 is not supported: send one request per completion", param="n")


def _checked_prompt(engine: Engine, tokens: List[int], param: str) -> List[int]:
    bad = engine.check_tokens(tokens)
    if bad:
        raise APIError(400, bad, param=param)
    if len(tokens) >= engine.n_ctx:
        raise APIError(400, f"the prompt has {len(tokens)} tokens: this server's context holds {engine.n_ctx} per "
                       "request, prompt and completion together", param=param, code="context_length_exceeded")
    return tokens


def _message_dict(m, i: int) -> Dict[str, Any]:
    out = m.model_dump(exclude_none=True)
    if isinstance(m.content, list):
        texts = []
        for part in m.content:
            if part.type != "text" or part.text is None:
                raise APIError(400, f"messages[{i}]: content parts of type '{part.type}' are not supported (text only)",
                               param="messages")
            texts.append(part.text)
        out["content"] = "".join(texts)
    out.setdefault("content", "")
    return out


def _sampling_params(body: _Sampling) -> SamplingParams:
    bias = {}
    for k, v in (body.logit_bias or {}).items():
        try:
            bias[int(k)] = float(v)
        except ValueError:
            raise APIError(400, f"logit_bias keys must be token ids, got '{k}'", param="logit_bias") from None
    return SamplingParams(temperature=body.temperature, top_k=body.top_k, top_p=body.top_p, min_p=body.min_p,
                          typical_p=body.typical_p, repeat_penalty=body.repeat_penalty,
                          presence_penalty=body.presence_penalty, frequency_penalty=body.frequency_penalty,
                          logit_bias=bias or None, seed=body.seed)


def _stops(body: _Sampling) -> List[str]:
    return [body.stop] if isinstance(body.stop, str) else list(body.stop or [])


def _start(engine: Engine, body: _Sampling, tokens: List[int], top_logprobs: Optional[int],
           shown_tokens: Sequence[int] = ()) -> Generation:
    params = _sampling_params(body)
    bad = [k for k in (params.logit_bias or {}) if not 0 <= k < engine.model.n_vocab]
    if bad:
        raise APIError(400, f"logit_bias names token id {bad[0]}, outside the vocabulary", param="logit_bias")
    try:
        return engine.generate(tokens, params, body.max_tokens, _stops(body), ignore_eos=body.ignore_eos,
                               top_logprobs=top_logprobs, shown_tokens=shown_tokens)
    except QueueFull:
        raise _busy() from None


async def _until_done(result, gen: Generation, request: Request):
    """Await a non-streamed result; a client that disconnects meanwhile cancels the job."""
    task = asyncio.ensure_future(result)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if await request.is_disconnected():
                gen.cancel()
                task.cancel()
                return JSONResponse(error_body("client disconnected"), status_code=499)
    finally:
        if not task.done():
            task.cancel()
        gen.cancel()


def _sse(chunks: AsyncIterator[Dict[str, Any]], gen: Generation) -> EventSourceResponse:
    async def events():
        try:
            async for chunk in chunks:
                yield {"data": json.dumps(chunk, ensure_ascii=False)}
            yield {"data": "[DONE]"}
        finally:
            gen.cancel()  # the client went away (the response task is cancelled) or it ended

    return EventSourceResponse(events(), ping=15)


def _generation_error(e: BaseException) -> APIError:
    return APIError(500, f"generation failed: {engine_error_message(e)}", type="server_error")


class _CompletionOutput:
    """A text_completion, whole or as chunks."""

    object_name = "text_completion"

    def __init__(self, engine: Engine, body: _Sampling, tokens: List[int], prompt_text: str = ""):
        self.engine, self.body, self.tokens = engine, body, tokens
        self.prompt_text = prompt_text
        self.id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.n_completion = 0
        self.text_len = len(prompt_text) if getattr(body, "echo", False) else 0

    def usage(self) -> Dict[str, int]:
        n = len(self.tokens)
        return {"prompt_tokens": n, "completion_tokens": self.n_completion, "total_tokens": n + self.n_completion}

    def head(self) -> Dict[str, Any]:
        return {"id": self.id, "object": self.object_name, "created": self.created, "model": self.engine.model_id}

    def logprobs(self, piece: Piece) -> Optional[Dict[str, Any]]:
        if self.body.logprobs is None:
            return None
        out: Dict[str, Any] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        for lp in piece.logprobs:
            out["tokens"].append(lp.token)
            out["token_logprobs"].append(lp.logprob)
            out["top_logprobs"].append({p.decode("utf-8", "replace"): v for p, v in lp.top})
            out["text_offset"].append(self.text_len)
        return out

    async def pieces(self, gen: Generation) -> AsyncIterator[Piece]:
        try:
            async for piece in gen.pieces():
                self.n_completion += piece.n_tokens
                yield piece
        except QueueFull:
            raise _busy() from None

    async def result(self, gen: Generation) -> Dict[str, Any]:
        text, finish = [self.prompt_text] if self.body.echo else [], None
        lp: Optional[Dict[str, Any]] = None
        try:
            async for piece in self.pieces(gen):
                part = self.logprobs(piece)
                if part is not None:
                    lp = part if lp is None else {k: lp[k] + part[k] for k in lp}
                text.append(piece.text)
                self.text_len += len(piece.text)
                finish = piece.finish_reason or finish
        except Exception as e:  # noqa: BLE001 - the job ended with an error (a NaN in the model)
            raise _generation_error(e) from None
        if lp is None and self.body.logprobs is not None:
            lp = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        return {**self.head(), "choices": [{"text": "".join(text), "index": 0, "logprobs": lp,
                                            "finish_reason": finish}], "usage": self.usage()}

    async def chunks(self, gen: Generation) -> AsyncIterator[Dict[str, Any]]:
        if self.body.echo and self.prompt_text:
            yield {**self.head(), "choices": [{"text": self.prompt_text, "index": 0, "logprobs": None,
                                               "finish_reason": None}]}
        try:
            async for piece in self.pieces(gen):
                if piece.text or piece.logprobs:
                    yield {**self.head(), "choices": [{"text": piece.text, "index": 0, "logprobs": self.logprobs(piece),
                                                       "finish_reason": None}]}
                    self.text_len += len(piece.text)
                if piece.finish_reason is not None:
                    yield {**self.head(), "choices": [{"text": "", "index": 0, "logprobs": None,
                                                       "finish_reason": piece.finish_reason}]}
        except Exception as e:  # noqa: BLE001 - reported in the stream, which then ends
            yield error_body(f"generation failed: {engine_error_message(e)}", "server_error")
            return
        if self.body.stream_options and self.body.stream_options.include_usage:
            yield {**self.head(), "choices": [], "usage": self.usage()}


class _ChatOutput(_CompletionOutput):
    """A chat.completion, whole or as chat.completion.chunk deltas."""

    object_name = "chat.completion"

    def __init__(self, engine: Engine, body: ChatCompletionRequest, tokens: List[int], tools: ToolRequest):
        super().__init__(engine, body, tokens)
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.tools = tools

    def logprobs(self, piece: Piece) -> Optional[Dict[str, Any]]:
        if not self.body.logprobs:
            return None
        return {"content": [{
            "token": lp.token, "logprob": lp.logprob, "bytes": lp.token_bytes,
            "top_logprobs": [{"token": p.decode("utf-8", "replace"), "logprob": v, "bytes": list(p)} for p, v in lp.top],
        } for lp in piece.logprobs], "refusal": None}

    async def result(self, gen: Generation) -> Dict[str, Any]:
        text, finish, content = [], None, []
        try:
            async for piece in self.pieces(gen):
                part = self.logprobs(piece)
                if part is not None:
                    content.extend(part["content"])
                text.append(piece.text)
                finish = piece.finish_reason or finish
        except Exception as e:  # noqa: BLE001
            raise _generation_error(e) from None
        lp = {"content": content, "refusal": None} if self.body.logprobs else None
        message = {"role": "assistant", "content": "".join(text)}
        if self.tools.format is not None:  # the calls in the reply (after the forced start of one)
            message["content"], reasoning, calls = self.tools.parse(message["content"])
            if calls:
                message["tool_calls"] = [c.to_openai() for c in calls]
                if self.body.functions:  # the legacy request's answer
                    message["function_call"] = dict(message["tool_calls"][0]["function"])
                finish = "tool_calls"
        elif self.engine.harmony:  # gpt-oss: the final channel is the content, the analysis the reasoning
            message["content"], reasoning = split_reply(message["content"])
        else:
            reasoning = ""
        if reasoning:
            message["reasoning_content"] = reasoning
        return {**self.head(), "choices": [{"index": 0, "message": message, "logprobs": lp, "finish_reason": finish}],
                "usage": self.usage()}

    async def chunks(self, gen: Generation) -> AsyncIterator[Dict[str, Any]]:
        head = {**self.head(), "object": "chat.completion.chunk"}
        yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                    "finish_reason": None}]}
        reader = self.tools.stream() if self.tools.format is not None else None
        split = ReplySplitter() if self.engine.harmony and reader is None else None
        n_calls = 0
        try:
            async for piece in self.pieces(gen):
                if reader is not None:
                    step = reader.feed(piece.text)
                    if piece.finish_reason is not None:  # what the reply's end completes
                        step = step + reader.finish()
                    delta = openai_delta(step, n_calls)
                    n_calls += len(step.calls)
                elif split is not None:
                    content, reasoning = split.feed(piece.text)
                    if piece.finish_reason is not None:  # a held-back tail that was no marker
                        more = split.finish()
                        content, reasoning = content + more[0], reasoning + more[1]
                    delta = {**({"content": content} if content else {}),
                             **({"reasoning_content": reasoning} if reasoning else {})}
                else:
                    delta = {"content": piece.text} if piece.text else {}
                if delta or piece.logprobs:
                    yield {**head, "choices": [{"index": 0, "delta": delta,
                                                "logprobs": self.logprobs(piece), "finish_reason": None}]}
                if piece.finish_reason is not None:
                    finish = "tool_calls" if n_calls else piece.finish_reason
                    yield {**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]}
        except Exception as e:  # noqa: BLE001
            yield error_body(f"generation failed: {engine_error_message(e)}", "server_error")
            return
        if self.body.stream_options and self.body.stream_options.include_usage:
            yield {**head, "choices": [], "usage": self.usage()}

"""The served model: a multi-sequence Model, its tokenizer and chat template, the batching
Scheduler, and the bridge from the scheduler's thread to asyncio.

Engine.generate() is an async generator of Pieces (text that is whole UTF-8 characters,
held back while it could be the start of a stop string, as pyggml.Llama streams it) for one
request; closing it early (the client went away) cancels the request's job, whose slot is
then free for the next step.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence

import numpy as np

from ..errors import PyggmlError
from ..formats.gguf_file import GGUFFile
from ..runtime.batching import Event, Job, QueueFull, Scheduler
from ..runtime.generate import StopMatcher, StreamingDetokenizer
from ..runtime.model import Model
from ..runtime.sampling import Sampler, SamplingParams, log_softmax
from ..text.chat_template import ChatTemplate
from ..text.harmony import is_harmony
from ..text.tool_calls import detect as detect_tool_format
from ..text.tokenizer import Tokenizer, read_tokenizer_metadata

__all__ = ["Engine", "Generation", "Piece", "QueueFull", "TokenLogprob"]


@dataclass
class TokenLogprob:
    """A generated token's log-probability and the most likely alternatives."""

    token: str
    token_bytes: List[int]
    logprob: float
    top: List[tuple]  # [(piece, logprob)], most likely first


@dataclass
class Piece:
    """A step of a generation: text to show (maybe ""), the tokens it came with, their
    logprobs when asked for, and finish_reason on the last piece."""

    text: str = ""
    n_tokens: int = 0
    logprobs: List[TokenLogprob] = field(default_factory=list)
    finish_reason: Optional[str] = None


def text_side(f: GGUFFile):
    """(Tokenizer, ChatTemplate) of an open GGUF file: its vocabulary and its own template
    (or the architecture's default)."""
    meta = read_tokenizer_metadata(f)
    tokenizer = Tokenizer(meta, name=os.fspath(f.path))
    template = ChatTemplate.from_tokenizer(tokenizer, template=meta.get("tokenizer.chat_template"),
                                           architecture=meta.get("general.architecture"))
    return tokenizer, template


class Engine:
    """Loads `path` with n_slots sequences of n_ctx_slot positions each and serves them."""

    def __init__(self, path, n_slots: int = 4, n_ctx_slot: int = 2048, n_threads: Optional[int] = None,
                 n_batch: int = 512, kv_type: str = "f16", max_queue: int = 16, alias: Optional[str] = None,
                 check_tensors: bool = False, prefill_chunk: Optional[int] = None,
                 weight_format: Optional[str] = None, int8_threshold: float = 6.0):
        self.path = os.fspath(path)
        with GGUFFile(self.path) as f:
            self.tokenizer, self.chat_template = text_side(f)
            # gpt-oss replies in channels: chat completions give the final one as content
            arch = f.metadata.get("general.architecture")
            self.harmony = is_harmony(self.chat_template.source, arch)
            # the tool-call syntax the template teaches (None: tools reach the prompt, calls are not read)
            self.tool_format = detect_tool_format(self.chat_template.source, arch)
            self.model = Model.load(f, n_ctx=n_ctx_slot, n_threads=n_threads, n_batch=n_batch, kv_type=kv_type,
                                    n_seq_max=n_slots, check_tensors=check_tensors, weight_format=weight_format,
                                    int8_threshold=int8_threshold)
        self.model_id = alias or os.path.basename(self.path)
        self.names = {self.model_id, os.path.basename(self.path), self.path}
        self.created = int(time.time())
        self.scheduler = Scheduler(self.model, self.tokenizer.is_eog, max_queue=max_queue, prefill_chunk=prefill_chunk)

    @property
    def n_ctx(self) -> int:
        """Positions per slot: a prompt and its completion must fit in them."""
        return self.model.n_ctx

    def close(self) -> None:
        self.scheduler.close()

    # -- prompts ----------------------------------------------------------------------

    def completion_tokens(self, prompt) -> List[int]:
        """Token ids of a completion prompt: text (the model's BOS first when it wants one,
        control-token texts parsed) or token ids."""
        if isinstance(prompt, str):
            tok = self.tokenizer
            bos = [tok.bos_id] if tok.add_bos and tok.bos_id >= 0 else []
            return bos + (tok.encode(prompt, add_special=False, parse_special=True) if prompt else [])
        return [int(t) for t in prompt]

    def chat_tokens(self, messages: List[Dict[str, Any]], tools=None, prefill: str = "") -> List[int]:
        """Token ids of the chat prompt: the template's text for `messages` (and `tools`), then
        `prefill` (the forced start of the reply)."""
        extra = {"tools": tools} if tools else {}
        text = self.chat_template.render(messages, add_generation_prompt=True, **extra) + prefill
        return self.tokenizer.encode(text, add_special=False, parse_special=True)

    def check_tokens(self, tokens: Sequence[int]) -> Optional[str]:
        """What is wrong with a prompt's tokens, or None."""
        if not tokens:
            return "the prompt is empty"
        bad = next((t for t in tokens if not 0 <= t < self.model.n_vocab), None)
        if bad is not None:
            return f"token id {bad} is outside the vocabulary [0, {self.model.n_vocab})"
        return None

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.tokenizer.token_to_piece(int(t)) for t in tokens).decode("utf-8", "replace")

    # -- generation -------------------------------------------------------------------

    def generate(self, prompt_tokens: List[int], params: SamplingParams, max_tokens: Optional[int],
                 stop: Sequence[str], ignore_eos: bool = False, top_logprobs: Optional[int] = None,
                 shown_tokens: Sequence[int] = ()) -> "Generation":
        """Queue one completion (QueueFull at once when every slot is busy and the queue is
        full); iterate Generation.pieces() for its text. top_logprobs: None for no logprobs,
        else how many alternatives each token lists; shown_tokens: control tokens whose text is
        shown (a chat's tool-call markers). Call from the event loop's thread."""
        gen = Generation(self, asyncio.get_running_loop(), stop, top_logprobs, shown_tokens)
        gen.job = Job(prompt=list(prompt_tokens), sampler=Sampler(params), on_event=gen.on_event,
                      max_tokens=max_tokens, ignore_eos=ignore_eos, want_logits=top_logprobs is not None)
        self.scheduler.submit(gen.job)
        return gen

    def _logprob(self, token: int, logits: np.ndarray, n_top: int) -> TokenLogprob:
        lp = log_softmax(logits)
        piece = self.tokenizer.token_to_piece(int(token))
        if n_top <= 0:
            top = np.zeros(0, dtype=np.int64)
        else:
            top = np.argpartition(-lp, n_top)[:n_top] if n_top < lp.size else np.arange(lp.size)
            top = top[np.argsort(-lp[top], kind="stable")]
        return TokenLogprob(
            token=piece.decode("utf-8", "replace"), token_bytes=list(piece), logprob=float(lp[token]),
            top=[(self.tokenizer.token_to_piece(int(i)), float(lp[i])) for i in top],
        )

    async def embed(self, tokens: List[int]) -> np.ndarray:
        """Hidden states after the final norm of `tokens`, (len, n_embd)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()

        def done(hidden, error) -> None:
            def settle():
                if fut.done():
                    return
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(hidden)
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:
                pass

        self.scheduler.embed(tokens, done)
        return await fut


class Generation:
    """One queued completion: pieces() turns its tokens into text; cancel() ends it (also
    when pieces() is closed early, or never started)."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, stop: Sequence[str],
                 top_logprobs: Optional[int], shown_tokens: Sequence[int] = ()):
        self.engine = engine
        self.loop = loop
        self.events: asyncio.Queue = asyncio.Queue()
        self.stop = list(stop)
        self.top_logprobs = top_logprobs
        self.shown_tokens = shown_tokens
        self.job: Optional[Job] = None

    def on_event(self, ev: Event) -> None:  # on the scheduler's thread
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, ev)
        except RuntimeError:  # the loop is closed: nobody is listening
            pass

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.engine.scheduler.cancel(self.job)

    async def pieces(self) -> AsyncIterator[Piece]:
        engine = self.engine
        detok = StreamingDetokenizer(engine.tokenizer, shown=self.shown_tokens)
        matcher = StopMatcher(self.stop)
        try:
            while True:
                ev: Event = await self.events.get()
                if ev.error is not None:
                    raise ev.error
                if ev.finish_reason is not None:
                    tail = matcher.feed(detok.flush())
                    yield Piece(text=tail + matcher.flush(), finish_reason=ev.finish_reason)
                    return
                lps = [] if self.top_logprobs is None else [engine._logprob(ev.token, ev.logits, self.top_logprobs)]
                text = matcher.feed(detok.add(ev.token))
                if matcher.stopped:
                    self.cancel()
                    yield Piece(text=text, n_tokens=1, logprobs=lps)
                    yield Piece(finish_reason="stop")
                    return
                yield Piece(text=text, n_tokens=1, logprobs=lps)
        finally:
            self.cancel()


def engine_error_message(e: BaseException) -> str:
    """The text of an error a job ended with, as the client sees it."""
    return str(e) if isinstance(e, (PyggmlError, ValueError)) else f"{type(e).__name__}: {e}"

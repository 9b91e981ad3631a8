"""Text generation over a pyggml.Model: prefill, then sample and evaluate one token at a time.

Generator keeps the list of tokens held in the model's KV cache, so a prompt that
shares a prefix with the previous call only evaluates what differs (the cache is cut
back to the common prefix with Model.truncate). Generator.stream() turns tokens into
text pieces that are always whole UTF-8 characters, holds back text that could be the
start of a stop string until it cannot match, and ends on an end-of-generation token,
a stop string, max_tokens, a full context, or cancel() from another thread.
"""

from __future__ import annotations

import codecs
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from .sampling import Sampler, SamplingParams

# finish_reason values: OpenAI's "stop" and "length", plus "cancelled" for cancel().
STOP, LENGTH, CANCELLED = "stop", "length", "cancelled"


@dataclass
class GenerationChunk:
    """One step of a stream: the text it adds (possibly "" while a stop string might be
    forming or a UTF-8 character is incomplete), the token sampled (None for the final
    flush), and finish_reason, set on the last chunk only."""

    text: str
    token: "int | None" = None
    finish_reason: "str | None" = None
    logits: "np.ndarray | None" = field(default=None, repr=False)  # (n_vocab,) the token was drawn from


@dataclass
class GenerationStats:
    """Counts and wall times of the last generation (what llama.cpp prints as timings)."""

    prompt_tokens: int = 0  # tokens in the prompt
    prompt_eval_tokens: int = 0  # of which evaluated (the rest came from the cache)
    prompt_seconds: float = 0.0
    generated_tokens: int = 0  # sampled tokens, an end-of-generation token excluded
    eval_tokens: int = 0  # single-token evals after the prompt
    generation_seconds: float = 0.0

    @property
    def prompt_tokens_per_second(self) -> float:
        return self.prompt_eval_tokens / self.prompt_seconds if self.prompt_seconds > 0 else 0.0

    @property
    def generation_tokens_per_second(self) -> float:
        return self.generated_tokens / self.generation_seconds if self.generation_seconds > 0 else 0.0


class StreamingDetokenizer:
    """Token ids to text, one token at a time, never splitting a UTF-8 character:
    bytes of an incomplete character wait for the next token; invalid bytes become U+FFFD.
    Control tokens give their text with special, or when they are among `shown` (a chat's
    tool-call markers)."""

    def __init__(self, tokenizer, special: bool = False, shown: Iterable[int] = ()):
        self.tokenizer = tokenizer
        self.special = special
        self.shown = frozenset(int(t) for t in shown)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def add(self, token: int) -> str:
        token = int(token)
        return self._decoder.decode(self.tokenizer.token_to_piece(token, self.special or token in self.shown))

    def flush(self) -> str:
        """Whatever is still buffered (an incomplete character becomes U+FFFD)."""
        return self._decoder.decode(b"", final=True)


class StopMatcher:
    """Finds stop strings in streamed text. feed() returns the text that is safe to show:
    a tail that could still grow into a stop string is held back until it cannot."""

    def __init__(self, stops: Iterable[str] = ()):
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if not self.stops:
            return text
        self.pending += text
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.pending, self.stopped = self.pending[: min(hits)], "", True
            return out
        hold = max(self._held(s) for s in self.stops)
        cut = len(self.pending) - hold
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    def _held(self, stop: str) -> int:
        """Length of the longest tail of pending that is a proper prefix of stop."""
        for k in range(min(len(stop) - 1, len(self.pending)), 0, -1):
            if self.pending.endswith(stop[:k]):
                return k
        return 0

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    x = np.asarray(a[:n], dtype=np.int64)
    y = np.asarray(b[:n], dtype=np.int64)
    diff = np.flatnonzero(x != y)
    return int(diff[0]) if diff.size else n


class Generator:
    """Generation over one Model and its Tokenizer; not for concurrent use (except cancel())."""

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.cache_tokens: list[int] = []  # the tokens whose keys/values the model holds, in order
        self.stats = GenerationStats()
        self._cancel = threading.Event()

    # -- cache ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the cached tokens."""
        self.model.reset()
        self.cache_tokens = []

    def eval(self, tokens: Sequence[int], all_logits: bool = False) -> np.ndarray:
        """Evaluate tokens after the cached ones and record them (following a context shift)."""
        tokens = [int(t) for t in tokens]
        before = len(self.cache_tokens)
        logits = self.model.eval(tokens, all_logits=all_logits)
        n_discard = before + len(tokens) - self.model.n_past
        if n_discard > 0:  # the model shifted its context: positions [n_keep, n_keep + n_discard) went
            keep = getattr(self.model, "n_keep", 0)
            del self.cache_tokens[keep : keep + n_discard]
        self.cache_tokens.extend(tokens)
        return logits

    def prefill(self, tokens: Sequence[int], all_logits: bool = False) -> np.ndarray:
        """Logits after `tokens`, evaluating only what is not already cached.

        The cache is cut back to the longest prefix it shares with `tokens` (at least the
        last token is always evaluated, to get its logits). With all_logits, the rows are
        those of the evaluated tokens only: (n_evaluated, n_vocab)."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            raise ValueError("the prompt is empty: need at least one token")
        if len(tokens) > self.model.n_ctx:
            raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {self.model.n_ctx}")
        if self.model.n_past != len(self.cache_tokens):  # the model was used directly: trust nothing
            self.reset()
        n = min(common_prefix_length(self.cache_tokens, tokens), len(tokens) - 1)
        if n < len(self.cache_tokens):
            self.model.truncate(n)
            del self.cache_tokens[n:]
        t0 = time.perf_counter()
        logits = self.eval(tokens[n:], all_logits=all_logits)
        self.stats = GenerationStats(
            prompt_tokens=len(tokens), prompt_eval_tokens=len(tokens) - n, prompt_seconds=time.perf_counter() - t0
        )
        return logits

    # -- generation -----------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the running generation to stop before its next token (safe from any thread).
        The request is cleared when the next generation starts."""
        self._cancel.set()

    def generate_tokens(self, prompt_tokens: Sequence[int], sampler: "Sampler | None" = None,
                        cancel: "threading.Event | None" = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yields (token, logits it was drawn from), one sampled token at a time, forever or
        until the context is full or a cancel is requested. A token is evaluated only when
        the next one is asked for, so the last token yielded is not in the cache."""
        sampler = sampler or Sampler(SamplingParams())
        self._cancel.clear()
        logits = self.prefill(prompt_tokens)
        sampler.accept(prompt_tokens)
        while not (self._cancel.is_set() or (cancel is not None and cancel.is_set())):
            t0 = time.perf_counter()
            token = sampler.sample(logits)
            self.stats.generation_seconds += time.perf_counter() - t0
            yield token, logits
            if self.model.n_past >= self.model.n_ctx and not getattr(self.model, "context_shift", False):
                return
            t0 = time.perf_counter()
            logits = self.eval([token])
            self.stats.eval_tokens += 1
            self.stats.generation_seconds += time.perf_counter() - t0

    def stream(self, prompt_tokens: Sequence[int], *, sampler: "Sampler | None" = None,
               max_tokens: "int | None" = None, stop: "str | Iterable[str] | None" = None,
               ignore_eos: bool = False, cancel: "threading.Event | None" = None,
               special: bool = False, shown_tokens: Iterable[int] = ()) -> Iterator[GenerationChunk]:
        """Generate after `prompt_tokens`, one GenerationChunk per sampled token and a final
        one carrying finish_reason: "stop" (end-of-generation token or stop string),
        "length" (max_tokens reached, or the context is full) or "cancelled".

        max_tokens None or <= 0: until the context is full. Text of a stop string and
        after it is never emitted; nor is the end-of-generation token's text. Control tokens
        give their text with special, or when among shown_tokens."""
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        detok = StreamingDetokenizer(self.tokenizer, special=special, shown=shown_tokens)
        matcher = StopMatcher(stops)
        limit = max_tokens if max_tokens is not None and max_tokens > 0 else None
        steps = self.generate_tokens(prompt_tokens, sampler, cancel)
        finish = LENGTH
        n = 0
        try:
            for token, logits in steps:
                if not ignore_eos and self.tokenizer.is_eog(token):
                    finish = STOP
                    break
                n += 1
                self.stats.generated_tokens = n
                text = matcher.feed(detok.add(token))
                if matcher.stopped:
                    yield GenerationChunk(text, token, None, logits)
                    finish = STOP
                    break
                yield GenerationChunk(text, token, None, logits)
                if limit is not None and n >= limit:
                    finish = LENGTH
                    break
            else:  # the token loop ended by itself: cancelled or the context is full
                cancelled = self._cancel.is_set() or (cancel is not None and cancel.is_set())
                finish = CANCELLED if cancelled else LENGTH
        finally:
            steps.close()
        tail = "" if matcher.stopped else matcher.feed(detok.flush())
        if not matcher.stopped:
            tail += matcher.flush()
        yield GenerationChunk(tail, None, finish)

    def generate(self, prompt_tokens: Sequence[int], **kwargs) -> tuple[str, str]:
        """The whole completion at once: (text, finish_reason). Same arguments as stream()."""
        parts, finish = [], LENGTH
        for chunk in self.stream(prompt_tokens, **kwargs):
            parts.append(chunk.text)
            finish = chunk.finish_reason or finish
        return "".join(parts), finish

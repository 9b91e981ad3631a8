"""Continuous batching over a multi-sequence Model: several generations share each forward pass.

A Scheduler owns a Model loaded with n_seq_max sequences (its slots) and runs one thread.
Each step evaluates, in one Model.eval_batch call, the last sampled token of every
generating job plus a slice of the prompts still being read (up to n_batch tokens in all),
so a long prompt delays the others by one slice per step instead of stalling them. A new
job with a short prompt gets one step to itself first, so that its first token comes as
soon as on an idle server plus the step in flight. Then
it samples the next token of each job whose logits came out and reports it through the
job's callback. A job that ends (end-of-generation token, max_tokens, a full context) or
is cancelled gives its slot back at once. Jobs beyond the slots wait in a bounded queue;
past it, submit() raises QueueFull.

A slot keeps the tokens its sequence holds after its job ends: a new job goes to the free
slot sharing the longest prefix with its prompt and only evaluates the rest (the next turn
of a chat, the same system prompt). When a busy slot shares a longer prefix, its keys and
values are copied into the new job's slot (Model.seq_copy) instead of computed again.
"""

from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from .generate import CANCELLED, LENGTH, STOP, common_prefix_length
from .sampling import Sampler


class QueueFull(Exception):
    """Every slot is busy and the waiting queue is full."""


@dataclass
class Event:
    """What a job's callback receives: a token (with the logits it was drawn from when the
    job asked for them), or the end (finish_reason "stop", "length", "cancelled"), or an
    error that ended the job."""

    token: Optional[int] = None
    logits: Optional[np.ndarray] = None
    finish_reason: Optional[str] = None
    error: Optional[BaseException] = None


@dataclass(eq=False)
class Job:
    """One generation: prompt token ids, its sampler and limits, and where its events go.
    on_event is called on the scheduler's thread (no lock held) and should return quickly:
    the other jobs wait meanwhile."""

    prompt: Sequence[int]
    sampler: Sampler
    on_event: Callable[[Event], None]
    max_tokens: Optional[int] = None  # None: until the context is full
    ignore_eos: bool = False
    want_logits: bool = False
    # filled in by the scheduler
    seq: Optional[int] = None
    n_done: int = 0          # prompt tokens in the cache
    n_cached: int = 0        # of which taken from the slot's cache (not evaluated)
    generated: int = 0
    last_token: Optional[int] = None
    cancelled: bool = False
    finished: bool = False

    @property
    def prefilling(self) -> bool:
        return self.n_done < len(self.prompt)


@dataclass(eq=False)
class _Embedding:
    """An embedding request: hidden states of tokens, run alone in a free slot."""

    tokens: Sequence[int]
    done: Callable[[Optional[np.ndarray], Optional[BaseException]], None]


@dataclass
class _Slot:
    tokens: list = field(default_factory=list)  # the tokens its sequence holds
    job: Optional[Job] = None
    last_used: int = 0


class Scheduler:
    """Runs jobs on `model` (a Model with n_seq_max slots) from one background thread.

    max_queue: jobs that may wait for a slot; more is QueueFull. prefill_chunk: prompt tokens
    evaluated per step, at most (default n_batch). short_prompt: a new job with at most this
    many prompt tokens left to evaluate gets a step of its own before the generating jobs'
    next one, so its first token does not wait for theirs (0: never). is_eog(token): whether
    a token ends a generation (the tokenizer's)."""

    def __init__(self, model, is_eog: Callable[[int], bool], max_queue: int = 16,
                 prefill_chunk: Optional[int] = None, short_prompt: int = 64):
        self.model = model
        self.is_eog = is_eog
        self.max_queue = max_queue
        self.n_batch = model.n_batch
        self.prefill_chunk = min(prefill_chunk or self.n_batch, self.n_batch)
        self.short_prompt = min(short_prompt, self.prefill_chunk)
        self.slots = [_Slot() for _ in range(model.n_seq_max)]
        self._waiting: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self._clock = itertools.count(1)
        self._outbox: list = []  # (job, Event) decided under the lock, delivered after it
        self.steps = 0               # forward passes run
        self.tokens_evaluated = 0    # tokens they evaluated
        self.finished = collections.Counter()  # jobs ended, by finish_reason ("error" for errors)
        self._thread = threading.Thread(target=self._run, name="pyggml-scheduler", daemon=True)
        self._thread.start()

    # -- from any thread ------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Queue a job (QueueFull when every slot is busy and max_queue jobs wait)."""
        if not job.prompt:
            raise ValueError("the prompt is empty: need at least one token")
        if len(job.prompt) >= self.model.n_ctx:
            raise ValueError(f"the prompt has {len(job.prompt)} tokens: the context holds {self.model.n_ctx} "
                             "per sequence, with room for at least one generated token")
        with self._cond:
            if self._stop:
                raise RuntimeError("the scheduler is stopped")
            if len(self._waiting) >= self.max_queue + self._n_free():  # the free slots take the first
                raise QueueFull(f"all {len(self.slots)} slots are busy and {len(self._waiting)} requests wait")
            self._waiting.append(job)
            self._cond.notify()
        return job

    def embed(self, tokens: Sequence[int], done: Callable[[Optional[np.ndarray], Optional[BaseException]], None]) -> None:
        """Hidden states after the final norm of `tokens`, (len, n_embd), passed to done(array,
        None) on the scheduler's thread (or done(None, error)). Waits in the same queue."""
        if not tokens or len(tokens) > self.model.n_ctx:
            raise ValueError(f"an embedding input needs 1 to {self.model.n_ctx} tokens, got {len(tokens)}")
        with self._cond:
            if len(self._waiting) >= self.max_queue + self._n_free():  # the free slots take the first
                raise QueueFull(f"all {len(self.slots)} slots are busy and {len(self._waiting)} requests wait")
            self._waiting.append(_Embedding(tokens, done))
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """End a job before its next token (finish_reason "cancelled"); its slot is freed."""
        with self._cond:
            job.cancelled = True
            self._cond.notify()

    def stats(self) -> dict:
        with self._cond:
            busy = sum(s.job is not None for s in self.slots)
            return {"slots_idle": len(self.slots) - busy, "slots_processing": busy,
                    "requests_waiting": len(self._waiting), "steps": self.steps,
                    "tokens_evaluated": self.tokens_evaluated, "finished": dict(self.finished)}

    def close(self) -> None:
        """Stop the thread; running and waiting jobs end as cancelled."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join()

    # -- the scheduler's thread -----------------------------------------------------

    def _n_free(self) -> int:
        return sum(s.job is None for s in self.slots)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._has_work():
                    self._cond.wait()
                if self._stop:
                    self._shutdown()
                    break
                self._drop_cancelled()
                embedding = self._admit()
            self._deliver()
            if embedding is not None:
                self._run_embedding(*embedding)
                continue
            self._step()
        self._deliver()

    def _has_work(self) -> bool:
        return bool(self._waiting) and self._n_free() > 0 or any(s.job is not None for s in self.slots)

    def _drop_cancelled(self) -> None:
        for job in [j for j in self._waiting if isinstance(j, Job) and j.cancelled]:
            self._waiting.remove(job)
            self._finish(job, CANCELLED)
        for slot in self.slots:
            if slot.job is not None and slot.job.cancelled:
                self._finish(slot.job, CANCELLED)

    def _admit(self):
        """Give free slots to waiting jobs, in order. An embedding request is returned to run
        now, alone, in its slot: (request, seq)."""
        while self._waiting and self._n_free() > 0:
            item = self._waiting.popleft()
            free = [i for i, s in enumerate(self.slots) if s.job is None]
            if isinstance(item, _Embedding):
                seq = min(free, key=lambda i: (len(self.slots[i].tokens), self.slots[i].last_used))
                return item, seq
            # the free slot whose cached tokens share the longest prefix with the prompt
            shared = [common_prefix_length(s.tokens, item.prompt) for s in self.slots]
            seq = max(free, key=lambda i: (shared[i], -self.slots[i].last_used))
            n = min(shared[seq], len(item.prompt) - 1)  # the last prompt token is evaluated for its logits
            slot = self.slots[seq]
            # a busy slot holding a longer prefix (a system prompt another request is using):
            # its keys and values are copied instead of computed again
            src = max(range(len(self.slots)), key=lambda i: shared[i])
            n_src = min(shared[src], len(item.prompt) - 1)
            if src != seq and n_src > n:
                self.model.seq_copy(src, seq, n_src)
                slot.tokens = list(self.slots[src].tokens[:n_src])
                n = n_src
            else:
                self.model.seq_rm(seq, n)
                del slot.tokens[n:]
            slot.job, slot.last_used = item, next(self._clock)
            item.seq, item.n_done, item.n_cached = seq, n, n
            item.sampler.accept(item.prompt)
        return None

    def _batch(self):
        """The step's entries: [(job, tokens)], every generating job's last token first, then
        prompt slices in admission order while the batch has room."""
        jobs = sorted((s.job for s in self.slots if s.job is not None), key=lambda j: self.slots[j.seq].last_used)
        # New jobs with short prompts first, alone: their first token then costs their prompt
        # only, not the prompt plus a token of every generating job (which wait one such step).
        fresh = [j for j in jobs if j.n_done == j.n_cached and 0 < len(j.prompt) - j.n_done <= self.short_prompt]
        if fresh and len(fresh) < len(jobs):
            room, entries = self.prefill_chunk, []
            for j in fresh:
                if len(j.prompt) - j.n_done <= room:
                    entries.append((j, list(j.prompt[j.n_done:])))
                    room -= len(j.prompt) - j.n_done
            if entries:
                return entries
        entries = [(j, [j.last_token]) for j in jobs if not j.prefilling]
        room = self.n_batch - len(entries)
        chunk = self.prefill_chunk
        for j in jobs:
            if j.prefilling and room > 0:
                k = min(room, chunk, len(j.prompt) - j.n_done)
                entries.append((j, list(j.prompt[j.n_done:j.n_done + k])))
                room -= k
                chunk -= k
                if chunk <= 0:
                    break
        return entries

    def _step(self) -> None:
        entries = self._batch()
        if not entries:
            return
        try:
            rows = self.model.eval_batch([(j.seq, toks) for j, toks in entries])
        except Exception as e:  # noqa: BLE001 - the jobs of this batch end with the error, the others go on
            with self._cond:
                for job, _ in entries:
                    self.model.seq_rm(job.seq)
                    self.slots[job.seq].tokens = []
                    self._finish(job, None, e)
            self._deliver()
            return
        self.steps += 1
        self.tokens_evaluated += sum(len(t) for _, t in entries)
        with self._cond:
            for (job, toks), logits in zip(entries, rows):
                self.slots[job.seq].tokens.extend(toks)
                if job.prefilling:
                    job.n_done += len(toks)
                    if job.prefilling:
                        continue
                if job.cancelled:
                    self._finish(job, CANCELLED)
                    continue
                try:
                    self._next_token(job, logits)
                except Exception as e:  # noqa: BLE001 - a sampler error (a bad logit_bias) ends its job only
                    self._finish(job, None, e)
        self._deliver()

    def _next_token(self, job: Job, logits: np.ndarray) -> None:
        token = job.sampler.sample(logits)
        if not job.ignore_eos and self.is_eog(token):
            self._finish(job, STOP)
            return
        job.generated += 1
        job.last_token = token
        self._outbox.append((job, Event(token=token, logits=logits if job.want_logits else None)))
        if job.max_tokens is not None and job.generated >= job.max_tokens:
            self._finish(job, LENGTH)
        elif self.model.seq_pos(job.seq) >= self.model.n_ctx:  # no room to evaluate the token
            self._finish(job, LENGTH)

    def _finish(self, job: Job, reason: Optional[str], error: Optional[BaseException] = None) -> None:
        """End a job (with the lock held): its slot is free at once."""
        if job.finished:
            return
        job.finished = True
        self.finished[reason or "error"] += 1
        if job.seq is not None and self.slots[job.seq].job is job:
            self.slots[job.seq].job = None
        self._outbox.append((job, Event(finish_reason=reason, error=error)))

    def _deliver(self) -> None:
        """Send the events decided so far (on the scheduler's thread, without the lock)."""
        out, self._outbox = self._outbox, []
        for job, ev in out:
            job.on_event(ev)

    def _run_embedding(self, req: _Embedding, seq: int) -> None:
        slot = self.slots[seq]
        slot.job = Job(prompt=req.tokens, sampler=Sampler(), on_event=lambda e: None)  # holds the slot
        try:
            self.model.seq_rm(seq)
            slot.tokens = []
            hidden = self.model.embed(req.tokens, seq=seq)
            error = None
        except Exception as e:  # noqa: BLE001 - reported to the request
            hidden, error = None, e
        finally:
            self.model.seq_rm(seq)
            with self._cond:
                slot.job = None
        req.done(hidden, error)

    def _shutdown(self) -> None:
        for item in list(self._waiting):
            if isinstance(item, Job):
                self._finish(item, CANCELLED)
            else:
                item.done(None, RuntimeError("the scheduler is stopped"))
        self._waiting.clear()
        for slot in self.slots:
            if slot.job is not None:
                self._finish(slot.job, CANCELLED)

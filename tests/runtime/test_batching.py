"""pyggml.runtime.batching.Scheduler: continuous batching of jobs over a multi-sequence Model.

Greedy jobs run together must produce what each produces alone (Generator); a queued job
waits for a slot; a full queue is QueueFull; cancel frees the slot; a long prompt is read in
slices while the other jobs keep getting a token per step; a slot's cached prefix is reused.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pyggml import Model, Tokenizer
from pyggml.runtime.batching import Job, QueueFull, Scheduler
from pyggml.runtime.generate import Generator
from pyggml.runtime.sampling import Sampler, SamplingParams

from support.synthetic_models import make_model

TIMEOUT = 60


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("batching") / "qwen2.gguf")
    make_model("qwen2", path, tie_output=False)
    return path


class Collector:
    """A job's events, and a way to wait for its end."""

    def __init__(self, hold: "threading.Event | None" = None, on_first=None):
        self.tokens: list[int] = []
        self.on_first = on_first
        self.finish = None
        self.error = None
        self.done = threading.Event()
        self.hold = hold  # while set up, the first token blocks the scheduler's thread
        self.first = threading.Event()

    def __call__(self, ev) -> None:
        if ev.token is not None:
            if not self.tokens and self.on_first is not None:
                self.on_first()
            self.tokens.append(ev.token)
            self.first.set()
            if self.hold is not None:
                self.hold.wait(TIMEOUT)
        else:
            self.finish, self.error = ev.finish_reason, ev.error
            self.done.set()

    def wait(self):
        assert self.done.wait(TIMEOUT), "the job did not end"
        return self


def greedy_alone(path, prompt, n):
    model = Model.load(path, n_ctx=128, n_threads=1)
    gen = Generator(model, Tokenizer.from_gguf(path))
    out = []
    for token, _ in gen.generate_tokens(prompt, Sampler(SamplingParams.greedy())):
        out.append(token)
        if len(out) == n:
            return out


def job(prompt, on_event, max_tokens=8, **kw):
    return Job(prompt=list(prompt), sampler=Sampler(SamplingParams.greedy()), on_event=on_event,
               max_tokens=max_tokens, ignore_eos=True, **kw)


@pytest.fixture
def make_scheduler(tiny):
    made = []

    def make(n_seq=2, n_ctx=128, **kw):
        model = Model.load(tiny, n_ctx=n_ctx, n_threads=1, n_seq_max=n_seq)
        s = Scheduler(model, lambda t: False, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_jobs_together_match_each_alone(tiny, make_scheduler):
    rng = np.random.default_rng(0)
    prompts = [list(rng.integers(0, 200, size=n)) for n in (5, 17, 9)]
    sched = make_scheduler(n_seq=2)  # three jobs, two slots: one waits
    outs = [Collector() for _ in prompts]
    for p, c in zip(prompts, outs):
        sched.submit(job(p, c, max_tokens=10))
    for p, c in zip(prompts, outs):
        c.wait()
        assert c.finish == "length" and c.error is None
        assert c.tokens == greedy_alone(tiny, p, 10)
    assert sched.stats()["slots_processing"] == 0
    assert sched.stats()["finished"] == {"length": 3}


def test_cancel_frees_the_slot(make_scheduler):
    sched = make_scheduler(n_seq=1)
    c = Collector()
    j = sched.submit(job([1, 2, 3], c, max_tokens=None))
    assert c.first.wait(TIMEOUT)
    sched.cancel(j)
    c.wait()
    assert c.finish == "cancelled"
    d = Collector()
    sched.submit(job([4, 5], d, max_tokens=3))  # the slot serves the next job
    assert d.wait().finish == "length" and len(d.tokens) == 3


def test_full_queue_is_refused(make_scheduler):
    sched = make_scheduler(n_seq=1, max_queue=1)
    gate = threading.Event()
    first = Collector(hold=gate)
    sched.submit(job([1, 2], first, max_tokens=2))
    assert first.first.wait(TIMEOUT)  # the scheduler's thread is held inside the first token's event
    second = Collector()
    sched.submit(job([3], second, max_tokens=2))  # waits for the slot
    with pytest.raises(QueueFull):
        sched.submit(job([4], Collector()))
    gate.set()
    assert first.wait().finish == "length" and second.wait().finish == "length"


def test_queue_bound_counts_free_slots(make_scheduler):
    """A burst arriving while the scheduler is busy: the free slots take the first waiting
    jobs, and at most max_queue more may wait."""
    sched = make_scheduler(n_seq=2, max_queue=1)
    gate = threading.Event()
    first = Collector(hold=gate)
    sched.submit(job([1, 2], first, max_tokens=2))
    assert first.first.wait(TIMEOUT)  # slot 0 busy, slot 1 free, the thread held
    more = [Collector(), Collector()]
    for c in more:
        sched.submit(job([3], c, max_tokens=2))
    with pytest.raises(QueueFull):
        sched.submit(job([4], Collector()))
    gate.set()
    assert all(c.wait().finish == "length" for c in [first] + more)


def test_long_prompt_is_read_in_slices_while_others_generate(make_scheduler):
    sched = make_scheduler(n_seq=2, prefill_chunk=4)
    gate = threading.Event()
    a = Collector(hold=gate)
    sched.submit(job([1, 2, 3], a, max_tokens=30))
    assert a.first.wait(TIMEOUT)
    seen = {}
    b = Collector(on_first=lambda: seen.setdefault("a", len(a.tokens)))
    sched.submit(job(list(range(10, 34)), b, max_tokens=2))  # 24 prompt tokens: 6 slices of 4
    gate.set()
    assert b.wait().finish == "length"
    assert a.wait().finish == "length"
    # a got a token in each of the 6 steps that read a slice of b's prompt
    assert seen["a"] >= 1 + 6


def test_short_new_prompt_gets_a_step_of_its_own(make_scheduler):
    """A short prompt arriving while others generate is evaluated alone first, so its first
    token comes before the generating job's next one; a long prompt shares steps instead."""
    sched = make_scheduler(n_seq=3, prefill_chunk=16, short_prompt=8)
    order = []
    gate = threading.Event()
    a = Collector(hold=gate, on_first=lambda: order.append("a"))
    sched.submit(job([1, 2, 3], a, max_tokens=6))
    assert a.first.wait(TIMEOUT)
    b = Collector(on_first=lambda: order.append(("b", len(a.tokens))))
    c = Collector(on_first=lambda: order.append(("c", len(a.tokens))))
    sched.submit(job([4, 5, 6, 7], b, max_tokens=2))       # short: a step of its own
    sched.submit(job(list(range(10, 40)), c, max_tokens=2))  # 30 tokens: two slices beside a's tokens
    gate.set()
    for x in (a, b, c):
        assert x.wait().finish == "length"
    assert order[1] == ("b", 1)  # before a's second token
    assert order[2][0] == "c" and order[2][1] >= 3  # a got a token with each of c's slices


def test_slot_reuses_a_cached_prefix(tiny, make_scheduler):
    sched = make_scheduler(n_seq=2)
    prefix = list(range(20, 40))
    first = Collector()
    sched.submit(job(prefix + [1, 2], first, max_tokens=4))
    first.wait()
    second = Collector()
    j = sched.submit(job(prefix + [7, 8, 9], second, max_tokens=6))
    second.wait()
    assert j.n_cached == len(prefix)
    assert second.tokens == greedy_alone(tiny, prefix + [7, 8, 9], 6)


def test_prefix_of_a_busy_slot_is_copied(tiny, make_scheduler):
    sched = make_scheduler(n_seq=2)
    prefix = list(range(50, 80))
    gate = threading.Event()
    first = Collector(hold=gate)
    sched.submit(job(prefix + [1, 2], first, max_tokens=4))
    assert first.first.wait(TIMEOUT)  # slot 0 holds the prefix and is busy
    second = Collector()
    j = sched.submit(job(prefix + [7, 8, 9], second, max_tokens=6))
    gate.set()
    assert second.wait().finish == "length" and first.wait().finish == "length"
    assert j.seq == 1 and j.n_cached == len(prefix)
    assert second.tokens == greedy_alone(tiny, prefix + [7, 8, 9], 6)
    assert first.tokens == greedy_alone(tiny, prefix + [1, 2], 4)


def test_end_of_generation_and_context_end(tiny):
    model = Model.load(tiny, n_ctx=16, n_threads=1, n_seq_max=1)
    eog = greedy_alone(tiny, [1, 2, 3], 3)[2]
    sched = Scheduler(model, lambda t: t == eog)
    try:
        c = Collector()
        sched.submit(Job(prompt=[1, 2, 3], sampler=Sampler(SamplingParams.greedy()), on_event=c, max_tokens=50))
        assert c.wait().finish == "stop" and len(c.tokens) == 2  # the end token itself is not reported
        d = Collector()
        sched.submit(job(list(range(40, 52)), d, max_tokens=None))
        assert d.wait().finish == "length" and len(d.tokens) == 16 - 12 + 1
        with pytest.raises(ValueError, match="context"):
            sched.submit(job(list(range(16)), Collector()))
    finally:
        sched.close()


def test_embedding_in_a_free_slot(tiny, make_scheduler):
    sched = make_scheduler(n_seq=2)
    toks = [5, 6, 7, 8]
    got, done = {}, threading.Event()

    def finished(hidden, error):
        got["h"], got["e"] = hidden, error
        done.set()

    sched.embed(toks, finished)
    assert done.wait(TIMEOUT) and got["e"] is None
    ref = Model.load(tiny, n_ctx=32, n_threads=1).embed(toks)
    np.testing.assert_allclose(got["h"], ref, rtol=0, atol=1e-5 * float(np.abs(ref).max()))
    t0 = time.time()
    while sched.stats()["slots_processing"] and time.time() - t0 < TIMEOUT:
        time.sleep(0.01)
    assert sched.stats()["slots_processing"] == 0

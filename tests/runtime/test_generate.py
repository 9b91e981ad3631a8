"""Generation: stop strings, UTF-8-safe streaming, greedy decoding against the numpy
reference, KV-cache prefix reuse, EOS / max_tokens / full-context endings, cancellation.

Most tests run on tiny synthetic models; a scripted sampler (a fixed token sequence)
makes the endings deterministic regardless of the random weights.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.synthetic_models import make_model

from pyggml.runtime.generate import CANCELLED, LENGTH, STOP, Generator, StopMatcher, StreamingDetokenizer, common_prefix_length
from pyggml.runtime.model import Model
from pyggml.runtime.sampling import Sampler, SamplingParams
from pyggml.text.tokenizer import Tokenizer

ARCH_OVERRIDES = {"llama": {}, "qwen2": {}, "gemma3": {}}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """arch -> path of a tiny random model (gemma3 with an 8-token sliding window)."""
    root = tmp_path_factory.mktemp("gen_models")
    paths = {}
    for arch, over in ARCH_OVERRIDES.items():
        paths[arch] = str(root / f"{arch}.gguf")
        make_model(arch, paths[arch], **over)
    return paths


@pytest.fixture(scope="module")
def untied(tmp_path_factory):
    """arch -> a model with its own output matrix: tied random embeddings make the
    last token its own favourite successor, and greedy output a single repeated token."""
    root = tmp_path_factory.mktemp("gen_untied")
    paths = {}
    for arch, over in ARCH_OVERRIDES.items():
        paths[arch] = str(root / f"{arch}.gguf")
        make_model(arch, paths[arch], **{**over, "tie_output": False})
    return paths


def load(path, n_ctx=64, **kw):
    return Generator(Model.load(path, n_ctx=n_ctx, n_threads=1, **kw), Tokenizer.from_gguf(path))


class ScriptedSampler:
    """Samples a fixed sequence of tokens, then repeats the last one."""

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.i = 0

    def accept(self, tokens):
        pass

    def sample(self, logits):
        t = self.tokens[min(self.i, len(self.tokens) - 1)]
        self.i += 1
        return t


def greedy():
    return Sampler(SamplingParams.greedy())


# -- stop strings ------------------------------------------------------------------


def test_stop_matcher_holds_back_a_possible_stop_and_releases_it():
    m = StopMatcher(["</end>"])
    assert m.feed("Hello </") == "Hello "
    assert m.feed("en") == ""
    assert m.feed("x") == "</enx"
    assert not m.stopped
    assert m.feed(" more </e") == " more "
    assert m.feed("nd> tail") == ""
    assert m.stopped


def test_stop_matcher_cuts_at_the_earliest_of_several_stops():
    m = StopMatcher(["bb", "abc"])
    assert m.feed("xxabcbb") == "xx"
    assert m.stopped


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab<>/ ", max_size=30), stop=st.text(alphabet="ab<>/", min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 30), max_size=8))
def test_stop_matcher_streamed_equals_cut_text(text, stop, cuts):
    pieces, last = [], 0
    for c in sorted(set(min(c, len(text)) for c in cuts)) + [len(text)]:
        pieces.append(text[last:c])
        last = c
    m = StopMatcher([stop])
    out = "".join(m.feed(p) for p in pieces if not m.stopped)
    if not m.stopped:
        out += m.flush()
    i = text.find(stop)
    assert out == (text if i < 0 else text[:i])
    assert m.stopped == (i >= 0)


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([7], [8]) == 0


# -- UTF-8 ---------------------------------------------------------------------------


def test_streaming_detokenizer_never_splits_a_character(synthetic):
    tok = Tokenizer.from_gguf(synthetic["llama"])  # sentencepiece vocab with byte fallback
    text = "héllo 😀 wörld ünïcode €"
    ids = tok.encode(text, add_special=False)
    pieces = [tok.token_to_piece(t) for t in ids]
    assert any(_incomplete(p) for p in pieces), "the test needs tokens holding part of a character"
    detok = StreamingDetokenizer(tok)
    out = [detok.add(t) for t in ids] + [detok.flush()]
    assert all("\ufffd" not in s for s in out)
    assert "".join(out) == b"".join(pieces).decode("utf-8")


def _incomplete(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def test_stream_of_byte_tokens_yields_whole_characters(synthetic):
    gen = load(synthetic["gemma3"])
    tok = gen.tokenizer
    target = tok.encode("😀€", add_special=False)
    assert len(target) >= 4  # byte tokens
    chunks = list(gen.stream(tok.encode("Once"), sampler=ScriptedSampler(target), max_tokens=len(target)))
    texts = [c.text for c in chunks]
    assert "".join(texts) == b"".join(tok.token_to_piece(t) for t in target).decode("utf-8")  # " 😀€"
    assert all("\ufffd" not in t for t in texts)
    assert chunks[-1].finish_reason == LENGTH


# -- greedy decoding against the numpy reference --------------------------------------


@pytest.mark.parametrize("arch", list(ARCH_OVERRIDES))
def test_greedy_continuation_matches_reference(untied, arch):
    from support.reference_forward import ReferenceModel

    path = untied[arch]
    gen = load(path)
    prompt = gen.tokenizer.encode("The quick brown fox jumps over")
    n_new = 12  # past gemma3's 8-token window
    out = [c.token for c in gen.stream(prompt, sampler=greedy(), max_tokens=n_new, ignore_eos=True)
           if c.token is not None]
    assert len(out) == n_new and len(set(out)) >= 4
    ref = ReferenceModel(path).logits(prompt + out[:-1])[len(prompt) - 1:]  # (n_new, n_vocab)
    _assert_greedy_choices(ref, out)


def _assert_greedy_choices(ref_logits, tokens, tol=1e-3):
    """Each token is the reference argmax, unless the reference has a near-tie there."""
    for i, (row, t) in enumerate(zip(ref_logits, tokens)):
        best = int(np.argmax(row))
        if t != best:
            assert row[best] - row[t] < tol * max(1.0, abs(row[best])), f"step {i}: {t} vs reference {best}"
            return  # after a tie the continuations legitimately differ


# -- prefix reuse ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["qwen2", "gemma3"])
def test_prefix_reuse_evaluates_only_the_new_tokens_and_matches_a_fresh_run(synthetic, arch):
    path = synthetic[arch]
    gen = load(path)
    fresh = Model.load(path, n_ctx=64, n_threads=1)
    tok = gen.tokenizer
    a = tok.encode("Once upon a time there was a tiny transformer")
    b = a + tok.encode(" that lived inside a test file", add_special=False)
    c = a[:5] + tok.encode(" counted one, two, three", add_special=False)

    gen.prefill(a)
    logits = gen.prefill(b)
    assert gen.stats.prompt_eval_tokens == len(b) - len(a)
    np.testing.assert_allclose(logits, fresh.eval(b), rtol=1e-4, atol=1e-4)

    logits_c = gen.prefill(c)  # diverges after 5 tokens: the cache is cut back to them
    assert gen.stats.prompt_eval_tokens == len(c) - 5
    fresh.reset()
    np.testing.assert_allclose(logits_c, fresh.eval(c), rtol=1e-4, atol=1e-4)
    assert gen.cache_tokens == c and gen.model.n_past == len(c)

    logits = gen.prefill(c)  # the same prompt again: only its last token is evaluated
    assert gen.stats.prompt_eval_tokens == 1
    np.testing.assert_allclose(logits, logits_c, rtol=1e-5, atol=1e-5)


def test_generated_tokens_stay_cached_for_the_next_prompt(synthetic):
    gen = load(synthetic["qwen2"])
    prompt = gen.tokenizer.encode("def add(a, b):")
    out = [c.token for c in gen.stream(prompt, sampler=greedy(), max_tokens=6, ignore_eos=True) if c.token is not None]
    follow = prompt + out + gen.tokenizer.encode(" more", add_special=False)
    gen.prefill(follow)
    # every generated token but the last was evaluated during generation
    assert gen.stats.prompt_eval_tokens == len(follow) - (len(prompt) + len(out) - 1)


def test_model_used_directly_invalidates_the_cache(synthetic):
    gen = load(synthetic["qwen2"])
    p = gen.tokenizer.encode("The quick brown fox")
    gen.prefill(p)
    gen.model.eval([5, 6])  # behind the generator's back
    gen.prefill(p)
    assert gen.stats.prompt_eval_tokens == len(p)


# -- endings -------------------------------------------------------------------------


def test_max_tokens_ends_with_length(synthetic):
    gen = load(synthetic["qwen2"])
    chunks = list(gen.stream(gen.tokenizer.encode("Once"), sampler=greedy(), max_tokens=5, ignore_eos=True))
    assert [c.finish_reason for c in chunks] == [None] * 5 + [LENGTH]
    assert gen.stats.generated_tokens == 5


def test_end_of_generation_token_stops_without_text(synthetic):
    gen = load(synthetic["qwen2"])
    tok = gen.tokenizer
    word = tok.encode(" fox", add_special=False)
    eos = tok.eos_id
    assert tok.is_eog(eos)
    chunks = list(gen.stream(tok.encode("The"), sampler=ScriptedSampler(word + [eos, *word]), max_tokens=20))
    assert "".join(c.text for c in chunks) == " fox"
    assert chunks[-1].finish_reason == STOP
    assert gen.stats.generated_tokens == len(word)

    chunks = list(gen.stream(tok.encode("The"), sampler=ScriptedSampler(word + [eos, *word]), max_tokens=len(word) + 2,
                             ignore_eos=True))
    assert chunks[-1].finish_reason == LENGTH
    assert "".join(c.text for c in chunks).startswith(" fox")


def test_stop_string_across_tokens_is_cut_and_never_emitted(synthetic):
    gen = load(synthetic["qwen2"])
    tok = gen.tokenizer
    script = tok.encode(" one, two, three, four, five", add_special=False)
    full = tok.decode(script)
    chunks = list(gen.stream(tok.encode("Count:"), sampler=ScriptedSampler(script), max_tokens=len(script),
                             stop=["three,", "never"]))
    assert "".join(c.text for c in chunks) == full[: full.index("three,")]
    assert chunks[-1].finish_reason == STOP
    assert all("thr" not in c.text for c in chunks)


def test_unmatched_stop_prefix_is_released_at_the_end(synthetic):
    gen = load(synthetic["qwen2"])
    tok = gen.tokenizer
    script = tok.encode(" one, two", add_special=False)
    text, finish = gen.generate(tok.encode("Count:"), sampler=ScriptedSampler(script), max_tokens=len(script),
                                stop=["two, three"])
    assert text == tok.decode(script) and finish == LENGTH


def test_full_context_ends_with_length(synthetic):
    gen = load(synthetic["qwen2"], n_ctx=16)
    prompt = gen.tokenizer.encode("The quick brown fox")
    chunks = list(gen.stream(prompt, sampler=greedy(), max_tokens=None, ignore_eos=True))
    assert chunks[-1].finish_reason == LENGTH
    assert gen.stats.generated_tokens == 16 - len(prompt) + 1  # the last token needs no eval
    with pytest.raises(ValueError, match="exceed context window"):
        gen.prefill(list(range(3, 20)))


def test_context_shift_keeps_the_token_list_in_step(synthetic):
    gen = load(synthetic["qwen2"], n_ctx=16, context_shift=True, n_keep=2)
    prompt = gen.tokenizer.encode("The quick brown fox")
    chunks = list(gen.stream(prompt, sampler=greedy(), max_tokens=40, ignore_eos=True))
    assert chunks[-1].finish_reason == LENGTH and gen.stats.generated_tokens == 40
    assert len(gen.cache_tokens) == gen.model.n_past <= 16
    assert gen.cache_tokens[:2] == prompt[:2]


# -- cancellation ----------------------------------------------------------------------


def test_cancel_from_another_thread_stops_before_the_next_token(synthetic):
    gen = load(synthetic["qwen2"])
    seen = []
    stream = gen.stream(gen.tokenizer.encode("Once"), sampler=greedy(), max_tokens=50, ignore_eos=True)
    for chunk in stream:
        seen.append(chunk)
        if len(seen) == 3:
            t = threading.Thread(target=gen.cancel)
            t.start()
            t.join()
    assert len(seen) == 4 and seen[-1].finish_reason == CANCELLED
    # the next generation starts afresh
    again = list(gen.stream(gen.tokenizer.encode("Once"), sampler=greedy(), max_tokens=2, ignore_eos=True))
    assert again[-1].finish_reason == LENGTH


def test_cancel_event_passed_in(synthetic):
    gen = load(synthetic["gemma3"])
    ev = threading.Event()
    out = []
    for chunk in gen.stream(gen.tokenizer.encode("Once"), sampler=greedy(), max_tokens=50, ignore_eos=True, cancel=ev):
        out.append(chunk)
        if len(out) == 2:
            threading.Thread(target=ev.set).start()
            ev.wait()
    assert out[-1].finish_reason == CANCELLED and len(out) == 3


# -- real models --------------------------------------------------------------------------


@pytest.mark.real_model
@pytest.mark.slow
@pytest.mark.parametrize("which", ["gemma", "qwen"])
def test_real_model_greedy_continuation_matches_reference(which, request):
    """Gemma continues raw text, Qwen answers through its chat template; each greedy token
    must be the numpy reference's argmax given the tokens before it."""
    from support.reference_forward import ReferenceModel

    from pyggml.text.chat_template import ChatTemplate
    from pyggml.text.tokenizer import read_tokenizer_metadata

    path = request.getfixturevalue(f"{which}_path")
    gen = load(path, n_ctx=128)
    if which == "gemma":
        prompt = gen.tokenizer.encode("The capital of France is")
    else:
        meta = read_tokenizer_metadata(path)
        tmpl = ChatTemplate.from_tokenizer(gen.tokenizer, template=meta["tokenizer.chat_template"])
        text = tmpl.render([{"role": "user", "content": "What is 2 + 2?"}])
        prompt = gen.tokenizer.encode(text, add_special=False, parse_special=True)
    out = [c.token for c in gen.stream(prompt, sampler=greedy(), max_tokens=4, ignore_eos=True)
           if c.token is not None]
    ref = ReferenceModel(path, cache_weights=False).logits(prompt + out[:-1])[len(prompt) - 1:]
    _assert_greedy_choices(ref, out, tol=2e-2)


# -- the two Model methods generation relies on ----------------------------------------------


def test_model_truncate_bounds(synthetic):
    m = Model.load(synthetic["qwen2"], n_ctx=16, n_threads=1)
    m.eval([3, 4, 5])
    with pytest.raises(ValueError):
        m.truncate(4)
    with pytest.raises(ValueError):
        m.truncate(-1)
    m.truncate(1)
    assert m.n_past == 1


def test_model_embed_is_the_normed_state_the_output_matrix_reads(untied):
    import gguf

    path = untied["qwen2"]
    m = Model.load(path, n_ctx=16, n_threads=1)
    toks = [5, 17, 42, 7]
    hidden = m.embed(toks)
    assert hidden.shape == (4, m.hparams["n_embd"]) and m.n_past == 4
    m.reset()
    logits = m.eval(toks, all_logits=True)
    out = next(t for t in gguf.GGUFReader(path).tensors if t.name == "output.weight")
    w = np.asarray(out.data, dtype=np.float32).reshape(m.n_vocab, -1)
    np.testing.assert_allclose(hidden @ w.T, logits, rtol=1e-3, atol=1e-3)

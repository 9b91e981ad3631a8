"""pyggml.Llama: llama-cpp-python's signatures and OpenAI-shaped results, streaming,
chat templates, tokenize/detokenize, embeddings; cross-checked with llama_cpp when
it is installed."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest
from support.synthetic_models import make_model

import pyggml
from pyggml import Llama
from pyggml.text.chat_template import ChatTemplate


@pytest.fixture(scope="module")
def qwen_tiny(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("api") / "qwen2.gguf")
    make_model("qwen2", path, tie_output=False)
    return path


@pytest.fixture(scope="module")
def llm(qwen_tiny):
    return Llama(qwen_tiny, n_ctx=96, n_threads=1, chat_format="chatml", embedding=True, verbose=False)


def forcing(tokens, n_prompt):
    """A llama-cpp-python logits processor that makes generation follow `tokens`."""

    def proc(input_ids, scores):
        i = min(len(input_ids) - n_prompt, len(tokens) - 1)
        out = np.full_like(scores, -np.inf)
        out[tokens[i]] = 0.0
        return out

    return [proc]


def test_import_switch_keeps_the_name():
    assert pyggml.Llama is Llama
    from pyggml import Llama as L2

    assert L2 is Llama


def test_completion_dict_shape_and_usage(llm):
    out = llm("The quick brown", max_tokens=6, temperature=0)
    assert set(out) == {"id", "object", "created", "model", "choices", "usage"}
    assert out["object"] == "text_completion" and out["id"].startswith("cmpl-")
    (choice,) = out["choices"]
    assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    n_prompt = len(llm.tokenize(b"The quick brown", add_bos=True, special=True))
    assert out["usage"] == {"prompt_tokens": n_prompt, "completion_tokens": 6, "total_tokens": n_prompt + 6}
    assert choice["finish_reason"] == "length"


def test_stream_concatenates_to_the_same_text(llm):
    whole = llm("Once upon a time", max_tokens=10, temperature=0)["choices"][0]["text"]
    chunks = list(llm("Once upon a time", max_tokens=10, temperature=0, stream=True))
    assert all(c["object"] == "text_completion" and "usage" not in c for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_stop_and_echo(llm):
    toks = llm.tokenize(b" one, two, three", add_bos=False)
    n_prompt = len(llm.tokenize(b"Count:"))
    out = llm("Count:", max_tokens=20, stop=[", thr"], echo=True, logits_processor=forcing(toks, n_prompt))
    assert out["choices"][0]["text"] == "Count: one, two"
    assert out["choices"][0]["finish_reason"] == "stop"


def test_seed_makes_sampling_reproducible(llm):
    a = llm("The", max_tokens=8, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, seed=7)["choices"][0]["text"]
    b = llm("The", max_tokens=8, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, seed=7)["choices"][0]["text"]
    assert a == b


def test_logprobs_of_generated_tokens(llm):
    out = llm("The quick", max_tokens=3, temperature=0, logprobs=2)
    lp = out["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == 3
    assert all(v <= 0 for v in lp["token_logprobs"])
    # greedy: the chosen token is the most probable one
    assert all(abs(max(t.values()) - v) < 1e-6 for t, v in zip(lp["top_logprobs"], lp["token_logprobs"]))


def test_chat_logprobs(llm):
    out = llm.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0,
                                     logprobs=True, top_logprobs=3)
    content = out["choices"][0]["logprobs"]["content"]
    assert len(content) == out["usage"]["completion_tokens"]
    assert all(1 <= len(c["top_logprobs"]) <= 4 and c["logprob"] <= 0 for c in content)


def test_chat_completion_shapes(llm):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    out = llm.create_chat_completion(msgs, max_tokens=4, temperature=0)
    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    msg = out["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str)
    n = out["usage"]["completion_tokens"]
    assert n == 4 if out["choices"][0]["finish_reason"] == "length" else n < 4

    chunks = list(llm.create_chat_completion(msgs, max_tokens=4, temperature=0, stream=True))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    last = chunks[-1]["choices"][0]
    assert last["delta"] == {} and last["finish_reason"] == out["choices"][0]["finish_reason"]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == msg["content"]


def test_chat_stops_at_end_of_turn_token(llm):
    im_end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    assert len(im_end) == 1 and llm.tokenizer_.is_eog(im_end[0])
    words = llm.tokenize(b" hi there", add_bos=False)
    prompt = llm.apply_chat_template([{"role": "user", "content": "Hello"}])
    n_prompt = len(llm.tokenize(prompt.encode(), add_bos=False, special=True))
    out = llm.create_chat_completion([{"role": "user", "content": "Hello"}], max_tokens=20,
                                     logits_processor=forcing(words + im_end, n_prompt))
    assert out["choices"][0]["message"]["content"] == " hi there"
    assert out["choices"][0]["finish_reason"] == "stop"


def test_chat_prompt_is_the_rendered_template(llm):
    prompt = llm.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_multi_turn_chat_reuses_the_cache(llm):
    msgs = [{"role": "user", "content": "Hello"}]
    first = llm.create_chat_completion(msgs, max_tokens=3, temperature=0)
    msgs += [first["choices"][0]["message"], {"role": "user", "content": "More"}]
    llm.create_chat_completion(msgs, max_tokens=3, temperature=0)
    stats = llm.timings
    # the first turn's prompt comes from the cache
    assert stats.prompt_eval_tokens <= stats.prompt_tokens - first["usage"]["prompt_tokens"]


def test_tokenize_detokenize(llm):
    toks = llm.tokenize(b"Hello world")
    assert llm.detokenize(toks) == b"Hello world"
    assert llm.tokenize("<|im_start|>".encode(), add_bos=False, special=True) != \
        llm.tokenize("<|im_start|>".encode(), add_bos=False, special=False)
    assert llm.detokenize(llm.tokenize(b"<|im_end|>", add_bos=False, special=True), special=True) == b"<|im_end|>"
    assert llm.detokenize(llm.tokenize(b"<|im_end|>", add_bos=False, special=True)) == b""


def test_detokenize_drops_the_space_after_bos(tmp_path):
    path = str(tmp_path / "llama.gguf")
    make_model("llama", path)
    llm = Llama(path, n_ctx=32, verbose=False)
    toks = llm.tokenize(b"Hello world")
    assert toks[0] == llm.token_bos()
    assert llm.detokenize(toks) == b"Hello world"
    assert llm.detokenize(toks[1:]) == b" Hello world"


def test_embed_is_causal_per_token_hidden_state(llm):
    short = llm.embed("The quick")
    long = llm.embed("The quick brown fox")
    assert len(short) == len(llm.tokenize(b"The quick")) and len(short[0]) == llm.n_embd()
    np.testing.assert_allclose(long[: len(short)], short, rtol=1e-4, atol=1e-5)
    many, count = llm.embed(["The quick", "brown"], return_count=True)
    assert len(many) == 2 and count == len(short) + len(llm.tokenize(b"brown"))
    resp = llm.create_embedding("The quick")
    assert resp["object"] == "list" and resp["data"][0]["embedding"] == short


def test_embed_mean_pooling_normalized(qwen_tiny):
    llm = Llama(qwen_tiny, n_ctx=32, embedding=True, pooling_type=1, verbose=False)
    v = np.asarray(llm.embed("The quick brown", normalize=True))
    assert v.shape == (llm.n_embd(),) and abs(np.linalg.norm(v) - 1) < 1e-5


def test_embed_needs_embedding_flag(qwen_tiny):
    with pytest.raises(RuntimeError, match="embedding=True"):
        Llama(qwen_tiny, n_ctx=32, verbose=False).embed("hi")


def test_cancel_from_another_thread(llm):
    chunks = []
    for c in llm("Once", max_tokens=40, temperature=0, stream=True):
        chunks.append(c)
        if len(chunks) == 2:
            t = threading.Thread(target=llm.cancel)
            t.start()
            t.join()
    assert chunks[-1]["choices"][0]["finish_reason"] == "cancelled"
    assert len(chunks) <= 4


def test_abandoned_stream_fails_clearly(llm):
    it = llm("Once", max_tokens=10, temperature=0, stream=True)
    next(it)
    llm("Other", max_tokens=2, temperature=0)
    with pytest.raises(RuntimeError, match="abandoned"):
        list(it)


def test_prompt_longer_than_context(llm):
    with pytest.raises(ValueError, match="exceed context window"):
        llm(list(range(3, 200)), max_tokens=2)


def test_unsupported_options_raise(llm):
    with pytest.raises(NotImplementedError):
        llm("x", grammar=object())
    with pytest.raises(NotImplementedError):
        llm("x", mirostat_mode=2)
    with pytest.raises(NotImplementedError):
        llm("x", suffix="y")


def test_gpu_layers_run_on_a_gpu_or_are_a_clear_error(qwen_tiny, capsys):
    from pyggml import GPUError
    from pyggml.runtime import gpu

    if gpu.available():
        llm = Llama(qwen_tiny, n_ctx=16, n_gpu_layers=99)
        assert "pyggml: GPU " in capsys.readouterr().err and llm._model.gpu_bytes["total"] > 0
    else:
        with pytest.raises(GPUError, match="needs a CUDA GPU"):
            Llama(qwen_tiny, n_ctx=16, n_gpu_layers=99)
    assert Llama(qwen_tiny, n_ctx=16, n_gpu_layers=0, verbose=False)._model.gpu_bytes is None


# -- llama-cpp-python as the reference for signatures and results ----------------------


def _llama_cpp():
    return pytest.importorskip("llama_cpp")


@pytest.mark.llama_cpp
@pytest.mark.parametrize("method", ["__init__", "create_completion", "__call__", "create_chat_completion",
                                    "tokenize", "detokenize", "embed", "create_embedding"])
def test_signatures_match_llama_cpp(method):
    ref = inspect.signature(getattr(_llama_cpp().Llama, method)).parameters
    ours = inspect.signature(getattr(Llama, method)).parameters
    positional = [n for n, p in ref.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert [n for n, p in ours.items() if p.kind == p.POSITIONAL_OR_KEYWORD] == positional
    if method == "__init__":
        assert any(p.kind == p.VAR_KEYWORD for p in ours.values())  # every other option is accepted
        for name in ("n_gpu_layers", "seed", "n_ctx", "n_batch", "n_threads", "embedding", "chat_format", "verbose"):
            assert name in ours
    else:
        for name, p in ref.items():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                assert name in ours, f"{method} lacks {name}"
                if p.default is not p.empty and name not in ("model",):
                    assert ours[name].default == p.default, f"{method}({name}) default differs"


@pytest.mark.llama_cpp
@pytest.mark.real_model
@pytest.mark.slow
def test_greedy_chat_matches_llama_cpp_on_qwen(qwen_path):
    llama_cpp = _llama_cpp()
    msgs = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    ref = llama_cpp.Llama(qwen_path, n_ctx=256, verbose=False)
    ours = Llama(qwen_path, n_ctx=256, verbose=False)
    ref_prompt = ref.tokenize(ours.apply_chat_template(msgs).encode(), add_bos=False, special=True)
    our_prompt = ours.tokenize(ours.apply_chat_template(msgs).encode(), add_bos=False, special=True)
    assert our_prompt == ref_prompt
    a = ref.create_chat_completion(msgs, max_tokens=6, temperature=0)
    b = ours.create_chat_completion(msgs, max_tokens=6, temperature=0)
    assert b["usage"]["prompt_tokens"] == a["usage"]["prompt_tokens"]
    assert b["choices"][0]["message"]["content"] == a["choices"][0]["message"]["content"]


# -- real models ---------------------------------------------------------------------------------


@pytest.mark.real_model
def test_qwen_chat_template_renders_chatml_with_default_system(qwen_path):
    from pyggml.text.tokenizer import Tokenizer, read_tokenizer_metadata

    meta = read_tokenizer_metadata(qwen_path)
    tok = Tokenizer(meta, name=qwen_path)
    tmpl = ChatTemplate.from_tokenizer(tok, template=meta["tokenizer.chat_template"], architecture="qwen2")
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Sum 2+2"}]
    text = tmpl.render(msgs)
    assert text == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                    "<|im_start|>user\nSum 2+2<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(text, add_special=False, parse_special=True)
    assert ids[0] == tok.token_to_id["<|im_start|>"] and tok.is_eog(tok.token_to_id["<|im_end|>"])


@pytest.mark.real_model
@pytest.mark.slow
def test_qwen_chat_reply_streams(qwen_path):
    llm = Llama(qwen_path, n_ctx=256, verbose=False)
    chunks = list(llm.create_chat_completion([{"role": "user", "content": "Say hi."}], max_tokens=3, temperature=0,
                                             stream=True))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.strip() and chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.real_model
@pytest.mark.slow
def test_readme_python_examples_run_as_written(gemma_path, capsys):
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 8
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(doc), "exec"), namespace)
    out = capsys.readouterr().out
    assert "prompt_tokens" in out and namespace["out"]["choices"][0]["finish_reason"] in ("cancelled", "stop", "length")
    assert len(namespace["vector"]) == namespace["emb"].n_embd()

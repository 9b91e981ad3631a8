"""`pyggml serve` over HTTP, with the real `openai` client and with httpx: response shapes,
streaming, agreement with pyggml.Llama, OpenAI-style errors, the API key, the bounded queue
(503 with Retry-After) and cancellation when a client disconnects."""

from __future__ import annotations

import json
import math
import threading
import time

import httpx
import numpy as np
import openai
import pytest

from pyggml import Llama

from support.serving import running_server


@pytest.fixture(scope="module")
def client(server):
    url, _ = server
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def model_id(server):
    return server[1].model_id


@pytest.fixture(scope="module")
def llm(tiny_model):
    return Llama(tiny_model, n_ctx=256, n_threads=1, verbose=False)


def wait_idle(engine, timeout=30):
    t0 = time.time()
    while engine.scheduler.stats()["slots_processing"] and time.time() - t0 < timeout:
        time.sleep(0.01)
    return engine.scheduler.stats()


def test_models_and_health(client, server, model_id):
    models = client.models.list()
    assert [m.id for m in models.data] == [model_id] and model_id == "tiny-qwen2.gguf"
    health = httpx.get(server[0] + "/health").json()
    assert health["status"] == "ok" and health["slots_idle"] + health["slots_processing"] == 2


def test_completion_matches_llama(client, model_id, llm):
    out = client.completions.create(model=model_id, prompt="The quick brown fox", max_tokens=8, temperature=0)
    ref = llm("The quick brown fox", max_tokens=8, temperature=0)
    assert out.object == "text_completion" and out.id.startswith("cmpl-")
    assert out.choices[0].text == ref["choices"][0]["text"]
    assert out.choices[0].finish_reason == ref["choices"][0]["finish_reason"]
    assert out.usage.prompt_tokens == ref["usage"]["prompt_tokens"]
    assert out.usage.completion_tokens == ref["usage"]["completion_tokens"]


def test_completion_stream_equals_whole(client, model_id):
    kw = dict(model=model_id, prompt=[1, 2, 3, 4], max_tokens=12, temperature=0, extra_body={"ignore_eos": True})
    whole = client.completions.create(**kw)
    chunks = list(client.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"] and whole.choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 12 == whole.usage.completion_tokens


def test_chat_whole_and_streamed(client, model_id, llm):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
    whole = client.chat.completions.create(model=model_id, messages=messages, max_tokens=10, temperature=0)
    ref = llm.create_chat_completion(messages=messages, max_tokens=10, temperature=0)
    assert whole.object == "chat.completion"
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content == ref["choices"][0]["message"]["content"]
    stream = client.chat.completions.create(model=model_id, messages=messages, max_tokens=10, temperature=0,
                                            stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_several_streams_at_once(client, model_id):
    """More concurrent requests than slots: all finish, each as it would alone."""
    prompts = [[5 + i, 6, 7] for i in range(5)]
    alone = [client.completions.create(model=model_id, prompt=p, max_tokens=10, temperature=0,
                                       extra_body={"ignore_eos": True}).choices[0].text for p in prompts]
    results = [None] * len(prompts)

    def run(i):
        chunks = client.completions.create(model=model_id, prompt=prompts[i], max_tokens=10, temperature=0,
                                           stream=True, extra_body={"ignore_eos": True})
        results[i] = "".join(c.choices[0].text for c in chunks)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == alone


def test_stop_max_tokens_and_seed(client, model_id):
    base = client.completions.create(model=model_id, prompt=[9, 8, 7], max_tokens=16, temperature=0,
                                     extra_body={"ignore_eos": True}).choices[0].text
    assert len(base) > 4
    stop = base[3:5]
    cut = client.completions.create(model=model_id, prompt=[9, 8, 7], max_tokens=16, temperature=0, stop=[stop],
                                    extra_body={"ignore_eos": True}).choices[0]
    assert cut.finish_reason == "stop" and cut.text == base[: base.index(stop)]
    a = client.completions.create(model=model_id, prompt="Once", max_tokens=12, temperature=1.0, seed=42)
    b = client.completions.create(model=model_id, prompt="Once", max_tokens=12, temperature=1.0, seed=42)
    assert a.choices[0].text == b.choices[0].text


def test_logprobs(client, model_id):
    chat = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "Hi"}], max_tokens=4,
                                          temperature=0, logprobs=True, top_logprobs=3,
                                          extra_body={"ignore_eos": True})
    content = chat.choices[0].logprobs.content
    assert len(content) == 4
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-5)  # greedy: the top one
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob
    comp = client.completions.create(model=model_id, prompt=[1, 2], max_tokens=3, temperature=0, logprobs=2,
                                     extra_body={"ignore_eos": True})
    lp = comp.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 3
    assert all(v <= 0 for v in lp.token_logprobs) and all(len(t) <= 2 for t in lp.top_logprobs)


def test_embeddings(client, model_id, server):
    out = client.embeddings.create(model=model_id, input=["hello world", "another text"])
    assert len(out.data) == 2 and out.usage.prompt_tokens > 0
    n_embd = server[1].model.hparams["n_embd"]
    for item in out.data:
        assert len(item.embedding) == n_embd
        assert math.isclose(float(np.linalg.norm(item.embedding)), 1.0, rel_tol=1e-4)


def test_tokenize_detokenize(server):
    url = server[0]
    toks = httpx.post(url + "/tokenize", json={"content": "hello world"}).json()["tokens"]
    assert toks and all(isinstance(t, int) for t in toks)
    assert httpx.post(url + "/detokenize", json={"tokens": toks}).json()["content"] == "hello world"


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


def test_bad_requests(client, server, model_id):
    url = server[0]
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model_id, prompt="x", max_tokens=-3)
    assert e.value.body["param"] == "max_tokens"
    r = httpx.post(url + "/v1/completions", content=b'{"prompt": "x", "max_tokens": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in error_of(r)["message"]
    for prompt in (5, [1.5, 2.0], {"text": "x"}, None):
        r = httpx.post(url + "/v1/completions", json={"prompt": prompt, "max_tokens": 2})
        assert r.status_code == 400 and error_of(r)["param"] == "prompt", prompt
    r = httpx.post(url + "/v1/completions", json={"prompt": [10**9], "max_tokens": 2})
    assert r.status_code == 400 and "vocabulary" in error_of(r)["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model_id, prompt=list(range(1, 300)), max_tokens=2)
    assert e.value.body["code"] == "context_length_exceeded"
    r = httpx.post(url + "/v1/chat/completions", json={"messages": [], "max_tokens": 2})
    assert r.status_code == 400 and error_of(r)["param"] == "messages"
    r = httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert r.status_code == 400 and error_of(r)["param"] == "n"
    r = httpx.get(url + "/v1/nothing")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    # the server still answers
    assert client.completions.create(model=model_id, prompt="x", max_tokens=2).choices[0].finish_reason


def test_api_key(tiny_model):
    with running_server(tiny_model, api_key="sekrit", n_slots=1) as (url, _):
        bad = openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        r = httpx.post(url + "/v1/completions", json={"prompt": "x"})
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key"
        good = openai.OpenAI(base_url=url + "/v1", api_key="sekrit", max_retries=0)
        assert good.completions.create(model=good.models.list().data[0].id, prompt="x", max_tokens=2).choices
        assert httpx.get(url + "/health").status_code == 200


def test_full_queue_is_503_with_retry_after(tiny_model):
    with running_server(tiny_model, n_slots=1, n_ctx_slot=4096, max_queue=0) as (url, engine):
        body = {"prompt": [1, 2, 3], "max_tokens": 4000, "ignore_eos": True, "stream": True}
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as first:
            lines = first.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            r = httpx.post(url + "/v1/completions", json={"prompt": "x", "max_tokens": 2})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert error_of(r)["type"] == "server_error"
            client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
            with pytest.raises(openai.InternalServerError) as e:
                client.completions.create(model=engine.model_id, prompt="x", max_tokens=2)
            assert e.value.status_code == 503


def test_disconnect_cancels_the_job(tiny_model):
    # a generation far longer than the test takes, so only a cancel can end it early
    with running_server(tiny_model, n_slots=1, n_ctx_slot=16384) as (url, engine):
        body = {"prompt": [1, 2, 3], "max_tokens": 16000, "ignore_eos": True, "stream": True}
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as r:
            n = 0
            for line in r.iter_lines():
                if line.startswith("data:"):
                    n += 1
                    if n == 3:
                        break
        stats = wait_idle(engine)
        assert stats["slots_processing"] == 0 and stats["finished"].get("cancelled") == 1
        # a non-streamed request whose client gives up is cancelled too
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/completions", json={**body, "stream": False}, timeout=0.5)
        stats = wait_idle(engine)
        assert stats["finished"].get("cancelled") == 2
        ok = httpx.post(url + "/v1/completions", json={"prompt": "x", "max_tokens": 2}).json()
        assert ok["choices"][0]["finish_reason"] in ("stop", "length")


def test_sse_wire_format(server):
    url = server[0]
    with httpx.stream("POST", url + "/v1/chat/completions",
                      json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 3, "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert all(json.loads(d)["object"] == "chat.completion.chunk" for d in data[:-1])


def test_cli_refuses_too_small_slots(tiny_model, capsys):
    from pyggml.cli import main

    assert main(["serve", "-m", tiny_model, "-c", "64", "-np", "8"]) == 1
    assert "-c 64 over -np 8 slots leaves 8 positions each" in capsys.readouterr().err

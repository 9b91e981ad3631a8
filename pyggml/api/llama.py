"""pyggml.Llama: llama-cpp-python's Llama API over pyggml, so apps switch by changing an import.

Same constructor keywords, same methods (__call__ / create_completion,
create_chat_completion, tokenize, detokenize, embed, create_embedding) and the same
OpenAI-shaped dicts, streamed as chunks with stream=True. n_gpu_layers runs blocks on an
NVIDIA GPU (a CUDA build of pyggml; pyggml.runtime.gpu); the other options that only make sense for
llama.cpp's GPU back ends (main_gpu, tensor_split, ...) are accepted and ignored;
features pyggml does not have (grammars, mirostat, infill) raise NotImplementedError
instead of being silently ignored. Function calling: tools reach the chat template, and the
calls the model writes come back as OpenAI tool_calls (pyggml.text.tool_calls reads the
template's format); tool_choice "required" or a named function makes the model start a call.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from ..formats.gguf_file import GGUFFile
from ..runtime.generate import GenerationChunk, Generator
from ..runtime.hparams import context_length
from ..runtime.model import KV_TYPES, Model
from ..runtime.sampling import Sampler, SamplingParams, log_softmax
from ..text import harmony, tool_calls
from ..text.chat_template import CHATML_TEMPLATE, GEMMA_TEMPLATE, ChatTemplate
from ..text.tokenizer import Tokenizer, read_tokenizer_metadata

LLAMA_DEFAULT_SEED = 0xFFFFFFFF  # llama.cpp's "pick a random seed"
LLAMA_POOLING_TYPE_UNSPECIFIED, LLAMA_POOLING_TYPE_NONE, LLAMA_POOLING_TYPE_MEAN = -1, 0, 1
LLAMA_POOLING_TYPE_CLS, LLAMA_POOLING_TYPE_LAST = 2, 3

_CHAT_FORMATS = {"chatml": CHATML_TEMPLATE, "gemma": GEMMA_TEMPLATE, "harmony": harmony.HARMONY_TEMPLATE}


class _ProcessedSampler:
    """A Sampler that first runs llama-cpp-python style logits processors
    (callables (input_ids, scores) -> scores) over the prompt and generated ids."""

    def __init__(self, sampler: Sampler, processors: Sequence[Callable]):
        self.sampler = sampler
        self.processors = list(processors)
        self.ids: list[int] = []

    def accept(self, tokens) -> None:
        self.sampler.accept(tokens)
        self.ids.extend([int(tokens)] if isinstance(tokens, (int, np.integer)) else [int(t) for t in tokens])

    def sample(self, logits: np.ndarray) -> int:
        scores = np.array(logits, dtype=np.float32)
        input_ids = np.asarray(self.ids, dtype=np.intc)
        for proc in self.processors:
            scores = np.asarray(proc(input_ids, scores), dtype=np.float32)
        token = self.sampler.sample(scores)
        self.ids.append(token)
        return token


class Llama:
    """A GGUF model ready to complete text and chat (llama_cpp.Llama's interface)."""

    def __init__(
        self,
        model_path: str,
        *,
        n_gpu_layers: int = 0,
        gpu_layers=None,
        seed: int = LLAMA_DEFAULT_SEED,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_threads: Optional[int] = None,
        n_threads_batch: Optional[int] = None,
        pooling_type: int = LLAMA_POOLING_TYPE_UNSPECIFIED,
        logits_all: bool = False,
        embedding: bool = False,
        last_n_tokens_size: int = 64,
        chat_format: Optional[str] = None,
        chat_handler: Any = None,
        type_k: Optional[int] = None,
        type_v: Optional[int] = None,
        verbose: bool = True,
        check_tensors: bool = False,
        weight_format: Optional[str] = None,
        int8_threshold: float = 6.0,
        **kwargs: Any,
    ):
        """Load `model_path` (memory-mapped). n_ctx=0 uses the model's training context.

        n_gpu_layers: the last N blocks run on the GPU, and the output head when N exceeds
        the block count (-1: everything), as in llama.cpp; without a usable GPU (or a CUDA
        build) that is an error (pyggml.GPUError). With verbose, where everything runs is
        printed. gpu_layers (pyggml's own) names the blocks instead: "12-27,output", a list
        or a placement file (pyggml.runtime.gpu.placement). Other llama.cpp back-end options are
        accepted and ignored. chat_format: None uses the GGUF's tokenizer.chat_template, or
        "chatml" / "gemma" / "harmony". check_tensors: scan the weights for NaN and infinity before
        loading (Model.load(check_tensors=True)). weight_format / int8_threshold (pyggml's own):
        quantize the blocks' matrices at load ("nf4", "llm.int8", ...; Model.load's)."""
        import os

        t0 = time.perf_counter()
        self.model_path = os.fspath(model_path)
        self.verbose = verbose
        if chat_handler is not None:
            raise NotImplementedError("chat_handler is not supported by pyggml; use chat_format or the GGUF template")
        if chat_format is not None and chat_format not in _CHAT_FORMATS:
            raise ValueError(f"chat_format must be None or one of {', '.join(_CHAT_FORMATS)}")
        if type_k != type_v or not (type_k is None or type_k in KV_TYPES):  # ggml type ids, as llama.cpp's
            raise ValueError("type_k and type_v must be equal: None, 0 (F32), 1 (F16) or 8 (Q8_0)")

        with GGUFFile(self.model_path) as f:  # read once, for the tokenizer and the model
            self.metadata: Dict[str, Any] = read_tokenizer_metadata(f)
            self.tokenizer_ = Tokenizer(self.metadata, name=self.model_path)
            if n_ctx == 0:
                n_ctx = context_length(f) or 4096
            self._model = Model.load(f, n_ctx=n_ctx, n_threads=n_threads or n_threads_batch, n_batch=n_batch,
                                     kv_type="f16" if type_k is None else type_k, check_tensors=check_tensors,
                                     n_gpu_layers=n_gpu_layers, gpu_layers=gpu_layers,
                                     weight_format=weight_format, int8_threshold=int8_threshold)
        if verbose and self._model.gpu_placement.any:
            print(f"pyggml: {self._model.placement_summary()}", file=sys.stderr)
        self.generator = Generator(self._model, self.tokenizer_)
        self.n_batch = n_batch
        self.last_n_tokens_size = last_n_tokens_size
        self.embedding = embedding
        self.logits_all = logits_all
        self._pooling_type = LLAMA_POOLING_TYPE_NONE if pooling_type < 0 else pooling_type
        self._rng = np.random.default_rng(None if seed == LLAMA_DEFAULT_SEED else seed)
        self._epoch = 0  # bumped by each completion; an older, unfinished stream then ends

        arch = self.metadata.get("general.architecture")
        template = _CHAT_FORMATS.get(chat_format) or self.metadata.get("tokenizer.chat_template")
        self.chat_format = chat_format
        self._chat_template = ChatTemplate.from_tokenizer(self.tokenizer_, template=template, architecture=arch)
        # gpt-oss: replies come in channels; a chat completion's content is the final one's
        self._harmony = harmony.is_harmony(self._chat_template.source, arch)
        # the tool-call syntax the template teaches (None: tools reach the prompt, calls are not read)
        self._tool_format = tool_calls.detect(self._chat_template.source, arch)
        self.load_seconds = time.perf_counter() - t0

    # -- model facts --------------------------------------------------------------

    def n_ctx(self) -> int:
        return self._model.n_ctx

    def n_embd(self) -> int:
        return self._model.hparams["n_embd"]

    def n_vocab(self) -> int:
        return self._model.n_vocab

    def token_bos(self) -> int:
        return self.tokenizer_.bos_id

    def token_eos(self) -> int:
        return self.tokenizer_.eos_id

    def pooling_type(self) -> int:
        return self._pooling_type

    @property
    def n_tokens(self) -> int:
        """Tokens held in the KV cache."""
        return len(self.generator.cache_tokens)

    @property
    def timings(self):
        """GenerationStats of the last completion (prompt and generation tokens/s)."""
        return self.generator.stats

    # -- tokens -------------------------------------------------------------------

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> List[int]:
        """Token ids of UTF-8 `text`; add_bos adds the model's BOS (and EOS) as it asks;
        special parses control-token texts such as "<start_of_turn>"."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        return self.tokenizer_.encode(text, add_special=add_bos, parse_special=special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None,
                   special: bool = False) -> bytes:
        """The bytes of `tokens` (a leading BOS drops the space after it, as llama-cpp-python does)."""
        out = b"".join(self.tokenizer_.token_to_piece(int(t), special) for t in tokens)
        if tokens and int(tokens[0]) == self.tokenizer_.bos_id and out[:1] == b" ":
            out = out[1:]
        return out

    def reset(self) -> None:
        """Forget the KV cache (the next prompt is evaluated from scratch)."""
        self.generator.reset()

    def cancel(self) -> None:
        """Stop the running completion before its next token (callable from any thread);
        it ends with finish_reason "cancelled"."""
        self.generator.cancel()

    # -- completion ---------------------------------------------------------------

    def _prompt_tokens(self, prompt: Union[str, List[int]]) -> List[int]:
        if isinstance(prompt, str):
            bos = [self.tokenizer_.bos_id] if self.tokenizer_.add_bos and self.tokenizer_.bos_id >= 0 else []
            toks = self.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) if prompt else []
            toks = bos + toks
        else:
            toks = [int(t) for t in prompt]
        if not toks:
            toks = [self.tokenizer_.bos_id if self.tokenizer_.bos_id >= 0 else self.tokenizer_.eos_id]
        if len(toks) >= self.n_ctx():
            raise ValueError(f"Requested tokens ({len(toks)}) exceed context window of {self.n_ctx()}")
        return toks

    def _sampler(self, temperature, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                 presence_penalty, seed, logit_bias, logits_processor):
        params = SamplingParams(
            temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, typical_p=typical_p,
            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
            penalty_last_n=self.last_n_tokens_size, logit_bias={int(k): float(v) for k, v in (logit_bias or {}).items()},
            seed=seed,
        )
        sampler = Sampler(params)
        if seed is None:
            sampler.rng = self._rng  # successive calls continue one seeded sequence
        if logits_processor:
            return _ProcessedSampler(sampler, logits_processor)
        return sampler

    @staticmethod
    def _unsupported(suffix=None, tfs_z=1.0, mirostat_mode=0, grammar=None, **_):
        if suffix is not None:
            raise NotImplementedError("suffix (infill) is not supported by pyggml")
        if grammar is not None:
            raise NotImplementedError("grammar-constrained sampling is not supported by pyggml")
        if mirostat_mode:
            raise NotImplementedError("mirostat sampling is not supported by pyggml")
        if tfs_z != 1.0:
            raise NotImplementedError("tail-free sampling (tfs_z) is not supported by pyggml")

    def create_completion(
        self,
        prompt: Union[str, List[int]],
        suffix: Optional[str] = None,
        max_tokens: Optional[int] = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: Optional[int] = None,
        echo: bool = False,
        stop: Optional[Union[str, List[str]]] = [],
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: Optional[int] = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        stopping_criteria: Optional[Sequence[Callable]] = None,
        logits_processor: Optional[Sequence[Callable]] = None,
        grammar: Any = None,
        logit_bias: Optional[Dict[int, float]] = None,
        *,
        ignore_eos: bool = False,
        shown_tokens: Sequence[int] = (),
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """Complete `prompt` (text or token ids). Returns an OpenAI text_completion dict,
        or with stream=True an iterator of chunk dicts whose last one has finish_reason.
        ignore_eos (pyggml's, not llama-cpp-python's): keep generating past end-of-generation
        tokens, as llama.cpp's --ignore-eos. shown_tokens (pyggml's): control tokens whose text
        the completion shows (a chat's tool-call markers)."""
        self._unsupported(suffix=suffix, tfs_z=tfs_z, mirostat_mode=mirostat_mode, grammar=grammar)
        prompt_tokens = self._prompt_tokens(prompt)
        sampler = self._sampler(temperature, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                                presence_penalty, seed, logit_bias, logits_processor)
        if echo and logprobs is not None:
            raise NotImplementedError("logprobs together with echo is not supported by pyggml")
        job = _Completion(self, prompt, prompt_tokens, sampler, max_tokens, stop, echo, logprobs,
                          stopping_criteria, model or self.model_path, ignore_eos, shown_tokens)
        if stream:
            return job.chunks()
        return job.result()

    __call__ = create_completion

    # -- chat -----------------------------------------------------------------------

    def apply_chat_template(self, messages: List[Dict[str, Any]], add_generation_prompt: bool = True,
                            **extra: Any) -> str:
        """The prompt text the model's chat template makes of `messages`."""
        return self._chat_template.render(messages, add_generation_prompt=add_generation_prompt, **extra)

    def create_chat_completion(
        self,
        messages: List[Dict[str, Any]],
        functions: Optional[List[Dict[str, Any]]] = None,
        function_call: Any = None,
        tools: Optional[List[Dict[str, Any]]] = None,
        tool_choice: Any = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        stream: bool = False,
        stop: Optional[Union[str, List[str]]] = [],
        seed: Optional[int] = None,
        response_format: Optional[Dict[str, Any]] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        logits_processor: Optional[Sequence[Callable]] = None,
        grammar: Any = None,
        logit_bias: Optional[Dict[int, float]] = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """Reply to `messages` ([{"role": "user", "content": "..."}, ...]) with the model's
        chat template. Returns an OpenAI chat.completion dict, or with stream=True an
        iterator of chat.completion.chunk dicts (first a role delta, then content deltas,
        then an empty delta with finish_reason). A harmony model (gpt-oss) answers in channels:
        the content is its final channel's text, and message["reasoning_content"] (deltas of
        it when streaming) its analysis channel's.

        tools (or the legacy functions): given to the template; the calls in the reply come
        back as message["tool_calls"] ([{"id", "type": "function", "function": {"name",
        "arguments": JSON text}}]) with finish_reason "tool_calls", and content the text outside
        them (None when there is none); streamed, each call is one delta once it is complete.
        tool_choice: "auto" (the default), "none" (no tools in the prompt), "required" or
        {"type": "function", "function": {"name": X}}, which start the reply with a call (of X).
        A tool_choice that names no given tool, or that forces a call on a template whose
        format pyggml cannot read, is a ValueError."""
        if response_format and response_format.get("type", "text") != "text":
            raise NotImplementedError("response_format other than text needs grammars, which pyggml lacks")
        req = tool_calls.resolve_tool_choice(self._tool_format, tools, tool_choice, functions, function_call)
        extra = {"tools": req.tools} if req.tools else {}
        prompt = self.apply_chat_template(messages, add_generation_prompt=True, **extra) + req.prefill
        prompt_tokens = self.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        result = self.create_completion(
            prompt_tokens, max_tokens=max_tokens, temperature=temperature, top_p=top_p, min_p=min_p,
            typical_p=typical_p, logprobs=(top_logprobs or 0) if logprobs else None, stop=stop,
            frequency_penalty=frequency_penalty, presence_penalty=presence_penalty, repeat_penalty=repeat_penalty,
            top_k=top_k, stream=stream, seed=seed, tfs_z=tfs_z, mirostat_mode=mirostat_mode, model=model,
            logits_processor=logits_processor, grammar=grammar, logit_bias=logit_bias,
            shown_tokens=req.marker_tokens(self.tokenizer_),
        )
        if req.format is not None:
            if stream:
                return _tool_chunks(_chat_chunks(result), req)
            return _tool_result(_chat_result(result), req, legacy=bool(functions))
        if self._harmony:
            return _harmony_chunks(_chat_chunks(result)) if stream else _harmony_result(_chat_result(result))
        return _chat_chunks(result) if stream else _chat_result(result)

    # -- embeddings -------------------------------------------------------------------

    def embed(self, input: Union[str, List[str]], normalize: bool = False, truncate: bool = True,
              return_count: bool = False):
        """Hidden states after the final norm: for each text a list of per-token vectors
        (pooling none, the default for decoder models), or one vector with
        pooling_type mean / cls / last. A str gives one result, a list a list of them."""
        if not self.embedding:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        texts = [input] if isinstance(input, str) else list(input)
        out, total = [], 0
        self._epoch += 1
        for text in texts:
            tokens = self.tokenize(text.encode("utf-8"))
            if truncate:
                tokens = tokens[: min(self.n_batch, self.n_ctx())]
            if len(tokens) > self.n_ctx():
                raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {self.n_ctx()}")
            total += len(tokens)
            self.generator.reset()
            hidden = self._model.embed(tokens) if tokens else np.zeros((0, self.n_embd()), np.float32)
            self.generator.reset()
            out.append(self._pool(hidden, normalize))
        result = out[0] if isinstance(input, str) else out
        return (result, total) if return_count else result

    def _pool(self, hidden: np.ndarray, normalize: bool):
        pt = self._pooling_type
        if pt == LLAMA_POOLING_TYPE_NONE:
            vecs = hidden
        elif pt == LLAMA_POOLING_TYPE_MEAN:
            vecs = hidden.mean(axis=0, keepdims=True)
        elif pt == LLAMA_POOLING_TYPE_CLS:
            vecs = hidden[:1]
        elif pt == LLAMA_POOLING_TYPE_LAST:
            vecs = hidden[-1:]
        else:
            raise NotImplementedError(f"pooling_type {pt} is not supported")
        if normalize:
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            vecs = vecs / np.where(norms > 0, norms, 1.0)
        rows = vecs.astype(np.float32).tolist()
        return rows if pt == LLAMA_POOLING_TYPE_NONE else rows[0]

    def create_embedding(self, input: Union[str, List[str]], model: Optional[str] = None) -> Dict[str, Any]:
        """OpenAI-shaped embedding response (see embed)."""
        texts = input if isinstance(input, list) else [input]
        embeds, total = self.embed(texts, return_count=True)
        return {
            "object": "list",
            "data": [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(embeds)],
            "model": model or self.model_path,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }

    def __repr__(self) -> str:
        return f"Llama({self.model_path!r}, n_ctx={self.n_ctx()})"


class _Completion:
    """One create_completion call: runs the generator and shapes its output as dicts."""

    def __init__(self, llama: Llama, prompt, prompt_tokens, sampler, max_tokens, stop, echo, logprobs,
                 stopping_criteria, model_name, ignore_eos=False, shown_tokens=()):
        self.llama = llama
        self.prompt = prompt
        self.prompt_tokens = prompt_tokens
        self.sampler = sampler
        self.max_tokens = max_tokens
        self.stop = stop
        self.echo = echo
        self.logprobs = logprobs
        self.stopping_criteria = stopping_criteria
        self.ignore_eos = ignore_eos
        self.shown_tokens = shown_tokens
        self.id = f"cmpl-{uuid.uuid4()}"
        self.created = int(time.time())
        self.model_name = model_name
        self.tokens: list[int] = []
        self.finish_reason = "length"
        self.text_len = 0  # characters of completion text so far (for logprobs text_offset)

    def _steps(self) -> Iterator[GenerationChunk]:
        llama, gen = self.llama, self.llama.generator
        llama._epoch += 1
        epoch = llama._epoch
        stream = gen.stream(self.prompt_tokens, sampler=self.sampler, max_tokens=self.max_tokens, stop=self.stop,
                            ignore_eos=self.ignore_eos, shown_tokens=self.shown_tokens)
        try:
            for chunk in stream:
                if llama._epoch != epoch:
                    raise RuntimeError("this completion stream was abandoned: another call used the model since")
                if chunk.token is not None:
                    self.tokens.append(chunk.token)
                if chunk.finish_reason is not None:
                    self.finish_reason = chunk.finish_reason
                elif self.stopping_criteria and self._criteria_met(chunk):
                    self.finish_reason = "stop"
                    yield dataclasses.replace(chunk, finish_reason=None)
                    yield GenerationChunk("", None, "stop")
                    return
                yield chunk
        finally:
            stream.close()

    def _criteria_met(self, chunk: GenerationChunk) -> bool:
        ids = np.asarray(self.prompt_tokens + self.tokens, dtype=np.intc)
        scores = np.asarray(chunk.logits, dtype=np.float32)
        return any(bool(c(ids, scores)) for c in self.stopping_criteria)

    def _chunk_logprobs(self, chunk: GenerationChunk) -> Optional[Dict[str, Any]]:
        if self.logprobs is None or chunk.token is None or chunk.logits is None:
            return None
        lp = log_softmax(chunk.logits)
        tok = self.llama.tokenizer_
        piece = tok.token_to_piece(chunk.token).decode("utf-8", "ignore")
        top = np.argsort(-lp, kind="stable")[: max(int(self.logprobs), 0)]
        tops = {tok.token_to_piece(int(i)).decode("utf-8", "ignore"): float(lp[i]) for i in top}
        tops[piece] = float(lp[chunk.token])
        offset = (0 if self.echo else len(self.prompt) if isinstance(self.prompt, str) else 0) + self.text_len
        return {"tokens": [piece], "text_offset": [offset], "token_logprobs": [float(lp[chunk.token])],
                "top_logprobs": [tops]}

    def _head(self) -> Dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model_name}

    def chunks(self) -> Iterator[Dict[str, Any]]:
        if self.echo and isinstance(self.prompt, str) and self.prompt:
            yield {**self._head(), "choices": [{"text": self.prompt, "index": 0, "logprobs": None,
                                                "finish_reason": None}]}
        pending_lp: list[Dict[str, Any]] = []
        for chunk in self._steps():
            lp = self._chunk_logprobs(chunk)
            if lp is not None:
                pending_lp.append(lp)
            if chunk.text:
                merged = _merge_logprobs(pending_lp) if self.logprobs is not None else None
                pending_lp = []
                yield {**self._head(), "choices": [{"text": chunk.text, "index": 0, "logprobs": merged,
                                                    "finish_reason": None}]}
                self.text_len += len(chunk.text)
            if chunk.finish_reason is not None:
                yield {**self._head(), "choices": [{"text": "", "index": 0, "logprobs": None,
                                                    "finish_reason": chunk.finish_reason}]}

    def result(self) -> Dict[str, Any]:
        parts: list[str] = []
        lps: list[Dict[str, Any]] = []
        for chunk in self._steps():
            lp = self._chunk_logprobs(chunk)
            if lp is not None:
                lps.append(lp)
            parts.append(chunk.text)
            self.text_len += len(chunk.text)
        text = "".join(parts)
        if self.echo and isinstance(self.prompt, str):
            text = self.prompt + text
        n_prompt, n_gen = len(self.prompt_tokens), self.llama.generator.stats.generated_tokens
        return {
            **self._head(),
            "choices": [{"text": text, "index": 0,
                         "logprobs": _merge_logprobs(lps) if self.logprobs is not None else None,
                         "finish_reason": self.finish_reason}],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_gen, "total_tokens": n_prompt + n_gen},
        }


def _merge_logprobs(items: List[Dict[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
    for it in items:
        for k in out:
            out[k].extend(it[k])
    return out


def _chat_logprobs(lp: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if lp is None:
        return None
    content = []
    for token, logprob, tops in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        content.append({"token": token, "bytes": None, "logprob": logprob,
                        "top_logprobs": [{"token": t, "bytes": None, "logprob": v} for t, v in (tops or {}).items()]})
    return {"content": content, "refusal": None}


def _chat_result(completion: Dict[str, Any]) -> Dict[str, Any]:
    choice = completion["choices"][0]
    return {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": completion["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": choice["text"]},
                     "logprobs": _chat_logprobs(choice["logprobs"]), "finish_reason": choice["finish_reason"]}],
        "usage": completion["usage"],
    }


def _harmony_result(result: Dict[str, Any]) -> Dict[str, Any]:
    message = result["choices"][0]["message"]
    content, reasoning = harmony.split_reply(message["content"])
    message["content"] = content
    if reasoning:
        message["reasoning_content"] = reasoning
    return result


def _harmony_chunks(chunks: Iterator[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
    """Chat chunks whose content deltas are the final channel's text (and reasoning_content
    deltas the analysis channel's) of the reply so far."""
    split = harmony.ReplySplitter()
    for chunk in chunks:
        delta = chunk["choices"][0]["delta"]
        if chunk["choices"][0]["finish_reason"] is not None:  # a held-back tail that was no marker
            content, reasoning = split.finish()
            fields = {**({"content": content} if content else {}),
                      **({"reasoning_content": reasoning} if reasoning else {})}
            if fields:
                yield {**chunk, "choices": [{"index": 0, "delta": fields, "logprobs": None, "finish_reason": None}]}
        if "content" not in delta:
            yield chunk
            continue
        content, reasoning = split.feed(delta.pop("content"))
        if content:
            delta["content"] = content
        if reasoning:
            delta["reasoning_content"] = reasoning
        if delta:
            yield chunk


def _tool_result(result: Dict[str, Any], req: tool_calls.ToolRequest, legacy: bool) -> Dict[str, Any]:
    """A chat.completion whose reply (after the forced start of a call, if any) is read for
    tool calls; legacy (functions given): also the first call as message["function_call"]."""
    choice = result["choices"][0]
    message = choice["message"]
    content, reasoning, calls = req.parse(message["content"])
    message["content"] = content
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [c.to_openai() for c in calls]
        if legacy:
            message["function_call"] = dict(message["tool_calls"][0]["function"])
        choice["finish_reason"] = "tool_calls"
    return result


def _tool_chunks(chunks: Iterator[Dict[str, Any]], req: tool_calls.ToolRequest) -> Iterator[Dict[str, Any]]:
    """Chat chunks whose content deltas are read for tool calls: text outside calls streams as
    content, each call is one tool_calls delta once complete; the last chunk's finish_reason is
    "tool_calls" when there were calls."""
    reader = req.stream()
    n_calls = 0
    for chunk in chunks:
        choice = chunk["choices"][0]
        delta = choice["delta"]
        if choice["finish_reason"] is not None:
            fields = tool_calls.openai_delta(reader.finish(), n_calls)
            n_calls += len(fields.get("tool_calls", ()))
            if fields:
                yield {**chunk, "choices": [{"index": 0, "delta": fields, "logprobs": None, "finish_reason": None}]}
            if n_calls:
                choice["finish_reason"] = "tool_calls"
            yield chunk
            continue
        if "content" not in delta:
            yield chunk
            continue
        step = reader.feed(delta.pop("content"))
        delta.update(tool_calls.openai_delta(step, n_calls))
        n_calls += len(step.calls)
        if delta or choice["logprobs"]:
            yield chunk


def _chat_chunks(chunks: Iterator[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
    for i, chunk in enumerate(chunks):
        head = {"id": "chat" + chunk["id"], "model": chunk["model"], "created": chunk["created"],
                "object": "chat.completion.chunk"}
        if i == 0:
            yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None,
                                        "finish_reason": None}]}
        choice = chunk["choices"][0]
        delta = {"content": choice["text"]} if choice["finish_reason"] is None else {}
        yield {**head, "choices": [{"index": 0, "delta": delta, "logprobs": _chat_logprobs(choice["logprobs"]),
                                    "finish_reason": choice["finish_reason"]}]}

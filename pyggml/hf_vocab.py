"""Turn a Hugging Face tokenizer into GGUF tokenizer metadata (the keys llama.cpp reads).

Two kinds are handled: SentencePiece models (tokenizer.model, read with the sentencepiece
package; GGUF tokenizer model "llama") and byte-level BPE (tokenizer.json, read directly;
GGUF tokenizer model "gpt2" with its merges). Special-token ids, add_bos/add_eos and the chat
template come from tokenizer_config.json / config.json through gguf.SpecialVocab; the vocabulary
is padded with unused "[PAD<id>]" tokens up to the embedding table's row count, as llama.cpp's
converter does.
"""

from __future__ import annotations

import dataclasses

import gguf

from .hf_checkpoint import Checkpoint, CheckpointError

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = (
    int(gguf.TokenType.NORMAL), int(gguf.TokenType.UNKNOWN), int(gguf.TokenType.CONTROL),
    int(gguf.TokenType.USER_DEFINED), int(gguf.TokenType.UNUSED), int(gguf.TokenType.BYTE))


@dataclasses.dataclass
class Vocab:
    model: str  # "llama" (SentencePiece) or "gpt2" (byte-level BPE)
    pre: str  # pre-tokenizer name llama.cpp knows ("default", "qwen2", "llama-bpe")
    tokens: list
    scores: list
    types: list
    special: gguf.SpecialVocab
    add_space_prefix: bool | None = None

    def add_to(self, w: gguf.GGUFWriter) -> None:
        w.add_tokenizer_model(self.model)
        w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        if self.model == "llama":
            w.add_token_scores(self.scores)
        w.add_token_types(self.types)
        if self.add_space_prefix is not None:
            w.add_add_space_prefix(self.add_space_prefix)
        self.special.add_to_gguf(w, quiet=True)


def _added_tokens_decoder(ckpt: Checkpoint) -> dict:
    cfg = ckpt.read_json("tokenizer_config.json") or {}
    out = {}
    for k, v in (cfg.get("added_tokens_decoder") or {}).items():
        try:
            out[int(k)] = (v["content"], bool(v.get("special", False)))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _pad(tokens, scores, types, n_vocab: int):
    for i in range(len(tokens), n_vocab):
        tokens.append(f"[PAD{i}]")
        scores.append(-1000.0)
        types.append(UNUSED)


def sentencepiece_vocab(ckpt: Checkpoint, n_vocab: int, add_space_prefix: bool | None = None) -> Vocab:
    try:
        from sentencepiece import SentencePieceProcessor
    except ImportError:
        raise CheckpointError(ckpt.path("tokenizer.model"), "reading it needs the 'sentencepiece' package") from None
    path = ckpt.path("tokenizer.model")
    sp = SentencePieceProcessor()
    try:
        sp.LoadFromFile(path)
    except (OSError, RuntimeError) as e:
        raise CheckpointError(path, f"not a SentencePiece model: {e}") from None
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.IdToPiece(i))
        scores.append(float(sp.GetScore(i)))
        t = NORMAL
        if sp.IsUnknown(i):
            t = UNKNOWN
        if sp.IsControl(i):
            t = CONTROL
        if sp.IsUnused(i):
            t = UNUSED
        if sp.IsByte(i):
            t = BYTE
        types.append(t)
    added = ckpt.read_json("added_tokens.json") or {}
    for text, idx in sorted(added.items(), key=lambda kv: kv[1]):
        if idx == len(tokens):
            tokens.append(text)
            scores.append(-1000.0)
            types.append(USER_DEFINED)
    for idx, (text, special) in sorted(_added_tokens_decoder(ckpt).items()):
        if idx < len(tokens):
            tokens[idx] = text
            types[idx] = CONTROL if special else USER_DEFINED
    if len(tokens) > n_vocab:
        raise CheckpointError(path, f"has {len(tokens)} tokens but the embedding table only {n_vocab} rows")
    _pad(tokens, scores, types, n_vocab)
    special = gguf.SpecialVocab(ckpt.dir, load_merges=False, n_vocab=n_vocab)
    return Vocab("llama", "default", tokens, scores, types, special, add_space_prefix)


def bpe_vocab(ckpt: Checkpoint, n_vocab: int, pre: str) -> Vocab:
    path = ckpt.path("tokenizer.json")
    tj = ckpt.read_json("tokenizer.json", required=True)
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise CheckpointError(path, f"tokenizer model type {model.get('type')!r} is not byte-level BPE "
                                    "and there is no tokenizer.model")
    by_id: dict = {}
    for text, idx in model["vocab"].items():
        by_id[int(idx)] = (text, NORMAL)
    decoder = _added_tokens_decoder(ckpt)
    for a in tj.get("added_tokens") or []:
        special = bool(a.get("special")) or decoder.get(a["id"], ("", False))[1]
        by_id[int(a["id"])] = (a["content"], CONTROL if special else USER_DEFINED)
    size = max(n_vocab, max(by_id) + 1)
    if size > n_vocab:
        raise CheckpointError(path, f"has token ids up to {max(by_id)} but the embedding table only {n_vocab} rows")
    tokens, types = [], []
    for i in range(size):
        text, t = by_id.get(i, (f"[PAD{i}]", UNUSED))
        tokens.append(text)
        types.append(t)
    special = gguf.SpecialVocab(ckpt.dir, load_merges=True, n_vocab=n_vocab)
    if not special.merges:
        raise CheckpointError(path, "has no BPE merges")
    return Vocab("gpt2", pre, tokens, [0.0] * size, types, special)


def load_vocab(ckpt: Checkpoint, n_vocab: int, bpe_pre: str = "default",
               add_space_prefix: bool | None = None) -> Vocab:
    """The checkpoint's tokenizer: tokenizer.model if present, else tokenizer.json."""
    if ckpt.has("tokenizer.model"):
        v = sentencepiece_vocab(ckpt, n_vocab, add_space_prefix)
    elif ckpt.has("tokenizer.json"):
        v = bpe_vocab(ckpt, n_vocab, bpe_pre)
    else:
        raise CheckpointError(ckpt.dir, "no tokenizer: expected tokenizer.model (SentencePiece) or tokenizer.json")
    _add_generation_config(ckpt, v)
    return v


def _add_generation_config(ckpt: Checkpoint, v: Vocab) -> None:
    """Fill special ids that only generation_config.json gives (its eos may be a list)."""
    gen = ckpt.read_json("generation_config.json") or {}
    for typ in ("bos", "eos", "pad"):
        val = gen.get(f"{typ}_token_id")
        if isinstance(val, list) and val:
            val = val[0]
        if isinstance(val, int) and typ not in v.special.special_token_ids and 0 <= val < len(v.tokens):
            v.special.special_token_ids[typ] = val


def sampling_defaults(ckpt: Checkpoint) -> dict:
    """general.sampling.* values from generation_config.json (name -> (writer method, value))."""
    gen = ckpt.read_json("generation_config.json") or {}
    out = {}
    for key, method, kind in (("temperature", "add_sampling_temp", float), ("top_k", "add_sampling_top_k", int),
                              ("top_p", "add_sampling_top_p", float), ("min_p", "add_sampling_min_p", float),
                              ("repetition_penalty", "add_sampling_penalty_repeat", float)):
        val = gen.get(key)
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            out[key] = (method, kind(val))
    return out

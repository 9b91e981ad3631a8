"""Turn a Hugging Face tokenizer into GGUF tokenizer metadata (the keys llama.cpp reads).

Two kinds are handled: SentencePiece models (tokenizer.model, read with the sentencepiece
package; GGUF tokenizer model "llama") and byte-level BPE (tokenizer.json, read directly;
GGUF tokenizer model "gpt2" with its merges). A BPE tokenizer's pre-tokenizer is found as
llama.cpp's converter finds it: by the hash of the ids the tokenizer (run by the `tokenizers`
package) gives for llama.cpp's reference text (pre_hashes.py); an unknown hash is an error
unless the caller names the pre-tokenizer. Special-token ids, add_bos/add_eos and the chat
template come from tokenizer_config.json / config.json through gguf.SpecialVocab; the vocabulary
is padded with unused "[PAD<id>]" tokens up to the embedding table's row count, as llama.cpp's
converter does.
"""

from __future__ import annotations

import dataclasses
import hashlib

import gguf

from ..text.pretokenizer import PRE_TOKENIZERS
from .hf_checkpoint import Checkpoint, CheckpointError
from .pre_hashes import CHKTXT, HASHES

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


def _varint(buf: bytes, pos: int):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _piece_types(proto: bytes, path: str) -> list:
    """The type of every piece in a serialized SentencePiece ModelProto (field 1, its field 3).

    The sentencepiece Python API has no IsUserDefined; the types match GGUF's token types
    (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6). Pieces are laid out
    as string (tag 0x0a), score (0x15, 4 bytes), type (0x18, omitted when NORMAL); that
    layout is read inline and anything else goes through the general decoder.
    """
    types, pos, end = [], 0, len(proto)
    append = types.append
    try:
        while pos < end:
            if proto[pos] == 0x0A and proto[pos + 1] < 0x80:  # field 1 (a piece), one-byte length
                start, pos = pos + 2, pos + 2 + proto[pos + 1]
                if proto[start] == 0x0A and proto[start + 1] < 0x80:
                    q = start + 2 + proto[start + 1]
                    if q < pos and proto[q] == 0x15:
                        q += 5
                    if q == pos:
                        append(NORMAL)
                        continue
                    if q + 2 == pos and proto[q] == 0x18:
                        append(proto[q + 1])
                        continue
                append(_piece_type_general(proto[start:pos]))
                continue
            key, pos = _varint(proto, pos)
            field, wire = key >> 3, key & 7
            if wire == 0:
                _, pos = _varint(proto, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                n, pos = _varint(proto, pos)
                if field == 1:
                    append(_piece_type_general(proto[pos:pos + n]))
                pos += n
            else:
                raise ValueError(f"unexpected wire type {wire}")
    except (ValueError, IndexError) as e:
        raise CheckpointError(path, f"malformed SentencePiece model: {e}") from None
    return types


def _piece_type_general(piece: bytes) -> int:
    t, pos = NORMAL, 0
    while pos < len(piece):
        key, pos = _varint(piece, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _varint(piece, pos)
            if field == 3:
                t = int(v)
        elif wire == 2:
            n, pos = _varint(piece, pos)
            pos += n
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return t


def sentencepiece_vocab(ckpt: Checkpoint, n_vocab: int, add_space_prefix: bool | None = None) -> Vocab:
    try:
        from sentencepiece import SentencePieceProcessor
    except ImportError:
        raise CheckpointError(ckpt.path("tokenizer.model"), "reading it needs the 'sentencepiece' package, a dependency of pyggml "
                              "that is missing here; install it with: pip install sentencepiece") from None
    path = ckpt.path("tokenizer.model")
    sp = SentencePieceProcessor()
    try:
        sp.LoadFromFile(path)
    except (OSError, RuntimeError) as e:
        raise CheckpointError(path, f"not a SentencePiece model: {e}") from None
    tokens = [sp.IdToPiece(i) for i in range(sp.vocab_size())]
    scores = [float(sp.GetScore(i)) for i in range(sp.vocab_size())]
    types = _piece_types(sp.serialized_model_proto(), path)
    if len(types) != len(tokens):
        raise CheckpointError(path, f"has {len(tokens)} pieces but {len(types)} piece records")
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
    by_text = {t: i for i, t in enumerate(tokens)}
    tok_cfg = ckpt.read_json("tokenizer_config.json") or {}
    for typ, sid in (("unk", sp.unk_id()), ("bos", sp.bos_id()), ("eos", sp.eos_id()), ("pad", sp.pad_id())):
        entry = tok_cfg.get(f"{typ}_token")
        text = entry.get("content") if isinstance(entry, dict) else entry
        if not 0 <= sid < len(tokens) and isinstance(text, str):
            sid = by_text.get(text, -1)  # special pieces may be CONTROL rather than UNKNOWN etc.
        if 0 <= sid < len(tokens):
            special.special_token_ids.setdefault(typ, sid)
    return Vocab("llama", "default", tokens, scores, types, special, add_space_prefix)


def bpe_vocab(ckpt: Checkpoint, n_vocab: int, tokenizer_pre: str | None = None) -> Vocab:
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
    pre = tokenizer_pre if tokenizer_pre is not None else detect_pre_tokenizer(path)
    if pre not in PRE_TOKENIZERS:
        raise CheckpointError(path, f"unknown pre-tokenizer {pre!r}; the names llama.cpp knows: "
                                    f"{', '.join(sorted(PRE_TOKENIZERS))}")
    return Vocab("gpt2", pre, tokens, [0.0] * size, types, special)


def reference_hash(tokenizer_json: str) -> str:
    """sha256 of the ids the tokenizer in tokenizer_json gives for llama.cpp's reference text
    (special tokens added as the tokenizer adds them), as llama.cpp's converter computes it."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise CheckpointError(tokenizer_json, "choosing the pre-tokenizer needs the 'tokenizers' package, a "
                                              "dependency of pyggml that is missing here; install it with: "
                                              "pip install tokenizers") from None
    try:
        ids = Tokenizer.from_file(tokenizer_json).encode(CHKTXT).ids
    except Exception as e:  # the tokenizers package raises plain Exceptions for files it cannot read
        raise CheckpointError(tokenizer_json, f"the tokenizers package cannot run it: {e}") from None
    return hashlib.sha256(str(list(ids)).encode()).hexdigest()


def detect_pre_tokenizer(tokenizer_json: str) -> str:
    """The tokenizer.ggml.pre of a BPE tokenizer.json, chosen as llama.cpp's converter does."""
    chkhsh = reference_hash(tokenizer_json)
    hit = HASHES.get(chkhsh)
    if hit is None:
        raise CheckpointError(
            tokenizer_json,
            f"its BPE pre-tokenizer is not recognized: its ids for llama.cpp's reference text hash to {chkhsh}, "
            f"which is none of the {len(HASHES)} hashes llama.cpp's converter knows. If you know which of "
            f"llama.cpp's pre-tokenizers the model splits text like (the tokenizer.json's pre_tokenizer), "
            f"name it: pyggml convert --tokenizer-pre NAME (NAME one of {', '.join(sorted(PRE_TOKENIZERS))}); "
            f"otherwise the model must first be added to llama.cpp's convert_hf_to_gguf_update.py")
    name, ref = hit
    if name not in PRE_TOKENIZERS:
        raise CheckpointError(tokenizer_json, f"its ids for llama.cpp's reference text hash to {chkhsh}, which "
                                              f"llama.cpp's converter names {name!r} (as for {ref}), but that is "
                                              f"not a BPE pre-tokenizer llama.cpp can run")
    return name





def load_vocab(ckpt: Checkpoint, n_vocab: int, add_space_prefix: bool | None = None,
               tokenizer_pre: str | None = None) -> Vocab:
    """The checkpoint's tokenizer: tokenizer.model if present, else tokenizer.json (whose
    pre-tokenizer is `tokenizer_pre` if given, else found by its hash)."""
    if ckpt.has("tokenizer.model"):
        v = sentencepiece_vocab(ckpt, n_vocab, add_space_prefix)
    elif ckpt.has("tokenizer.json"):
        v = bpe_vocab(ckpt, n_vocab, tokenizer_pre)
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

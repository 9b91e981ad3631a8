"""The pre-tokenizer of a BPE tokenizer.json, chosen as llama.cpp's converter chooses it: by the
hash of the tokenizer's ids for llama.cpp's reference text."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
from support.hf_checkpoints import build_checkpoint

from pyggml.convert import convert
from pyggml.convert.hf_checkpoint import CheckpointError
from pyggml.convert.hf_vocab import detect_pre_tokenizer, reference_hash
from pyggml.convert.pre_hashes import CHKTXT, HASHES
from pyggml.formats.gguf_file import GGUFFile
from pyggml.text.pretokenizer import PRE_TOKENIZERS
from pyggml.text.tokenizer import Tokenizer, read_tokenizer_metadata

SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "scripts")


def test_hash_table_names_pre_tokenizers_llama_cpp_runs():
    assert len(HASHES) >= 90 and len(CHKTXT) == 350
    assert all(len(h) == 64 for h in HASHES)
    names = {name for name, _ in HASHES.values()}
    # two names are WordPiece models' (BERT), which have no BPE pre-tokenizer
    assert names - set(PRE_TOKENIZERS) == {"bert-bge-large", "jina-v2-en"}


@pytest.fixture(scope="module")
def bpe_checkpoint(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("bpe"))
    build_checkpoint(d, "qwen2")
    return d


def test_unknown_hash_is_an_error_naming_it_and_what_to_do(bpe_checkpoint, tmp_path):
    chkhsh = reference_hash(os.path.join(bpe_checkpoint, "tokenizer.json"))
    assert chkhsh not in HASHES
    with pytest.raises(CheckpointError, match=rf"tokenizer.json: .*not recognized.*hash to {chkhsh}.*"
                                              r"--tokenizer-pre NAME.*qwen35.*convert_hf_to_gguf_update.py"):
        convert(bpe_checkpoint, str(tmp_path / "x.gguf"), progress=False)
    assert not os.path.exists(tmp_path / "x.gguf")
    with pytest.raises(CheckpointError, match="unknown pre-tokenizer 'qwen-2'.*qwen2"):
        convert(bpe_checkpoint, str(tmp_path / "x.gguf"), progress=False, tokenizer_pre="qwen-2")


def test_named_pre_tokenizer_is_written(bpe_checkpoint, tmp_path):
    path = str(tmp_path / "x.gguf")
    convert(bpe_checkpoint, path, "F32", progress=False, tokenizer_pre="qwen35")
    with GGUFFile(path) as g:
        assert g.metadata["tokenizer.ggml.pre"] == "qwen35"


@pytest.mark.real_model
def test_qwen_tokenizer_json_hashes_to_qwen2(qwen_path, tmp_path):
    """Qwen2.5's vocabulary as a tokenizer.json (scripts/gguf_to_hf.py) gives the ids Qwen's
    own tokenizer gives: its hash is the one llama.cpp's converter knows as qwen2."""
    sys.path.insert(0, SCRIPTS)
    from gguf_to_hf import bpe_tokenizer_json

    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(bpe_tokenizer_json(read_tokenizer_metadata(qwen_path), "qwen2"), ensure_ascii=False),
                    encoding="utf-8")
    assert detect_pre_tokenizer(str(path)) == "qwen2"
    # pyggml's tokenizer gives the same ids for the reference text as the tokenizers package
    ids = Tokenizer.from_gguf(qwen_path).encode(CHKTXT)
    assert hashlib.sha256(str(ids).encode()).hexdigest() == reference_hash(str(path))


# llama.cpp's vocabulary files whose ids for the reference text, from pyggml's tokenizer, are
# the ones their Hugging Face tokenizer gives: the hash names a pre-tokenizer that splits and
# flags as theirs does (mpt's vocabulary is OLMo's too; Qwen3.5's split differs from Qwen2's
# only on combining marks, which the text lacks; Gemma 4's type is shared by granite-embed).
SAME_HASH = ["command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4", "gpt-2", "llama-bpe", "mpt",
             "qwen2", "qwen35", "refact", "starcoder"]


@pytest.mark.parametrize("name", SAME_HASH)
def test_llama_vocab_reference_ids_hash_to_its_pre_tokenizer(name):
    from support.llama_vocab_data import VocabDataMissing, vocab_dir

    try:
        path = vocab_dir() / f"ggml-vocab-{name}.gguf"
    except VocabDataMissing as e:
        pytest.skip(str(e))
    tok = Tokenizer.from_gguf(path)
    chkhsh = hashlib.sha256(str(tok.encode(CHKTXT)).encode()).hexdigest()
    assert chkhsh in HASHES
    spec = PRE_TOKENIZERS[HASHES[chkhsh][0]]
    if name == "qwen35":
        assert HASHES[chkhsh][0] == "qwen2"
    else:
        assert spec == tok.pre_spec

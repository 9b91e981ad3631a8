"""Text: tokenizers built from GGUF metadata (tokenizer.py; the tokenizer models beyond
SentencePiece and BPE in vocab_models.py, the pre-tokenizers in pretokenizer.py, llama.cpp's
code point classes in unicode.py), chat templates, corpora (read, tokenize and chunk a text)."""

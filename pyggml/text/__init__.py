"""Text: tokenizers and pre-tokenizers built from GGUF metadata, chat templates, corpora
(read, tokenize and chunk a text)."""

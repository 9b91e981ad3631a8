"""Text: tokenizers and pre-tokenizers built from GGUF metadata, chat templates."""

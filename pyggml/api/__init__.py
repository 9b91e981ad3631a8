"""The llama-cpp-python compatible API (pyggml.Llama)."""

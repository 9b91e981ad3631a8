"""Quantizing models: layer policies, bits-per-weight targets, re-quantization, calibrated methods
(importance matrix, GPTQ, AWQ). Named `quantization`, not `quantize`: `pyggml.quantize` is the function."""

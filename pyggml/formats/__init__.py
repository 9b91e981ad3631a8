"""File and tensor formats: tensor types, quantize / dequantize, the GGUF reader and writer, imatrix files."""

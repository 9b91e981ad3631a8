"""What the tests share: synthetic models, the numpy reference forward pass, Hugging Face
checkpoints, small GGUF files, scripts of the project loaded as modules."""

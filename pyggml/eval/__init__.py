"""Evaluating a model on a text: perplexity, and KL divergence against a base model."""

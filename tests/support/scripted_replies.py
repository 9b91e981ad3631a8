"""Replies made to order: generation that follows a given token script whatever the (random) model
thinks, for tests of what is done with the generated text (tool calls, channels).

scripted_processor is a llama-cpp-python logits processor for pyggml.Llama; ScriptedSampler
stands in for a runtime Sampler (the server's engine makes one per request)."""

from __future__ import annotations

import numpy as np


def scripted_processor(tokens):
    """A logits processor making generation follow `tokens` (the last one repeated after the end)."""
    start = []

    def processor(input_ids, scores):
        if not start:
            start.append(len(input_ids))
        i = min(len(input_ids) - start[0], len(tokens) - 1)
        out = np.full_like(scores, -np.inf)
        out[tokens[i]] = 0.0
        return out

    return processor


class ScriptedSampler:
    """A Sampler whose tokens are `tokens`, in order (the last one repeated after the end)."""

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.i = 0

    def accept(self, tokens) -> None:
        pass

    def sample(self, logits) -> int:
        token = self.tokens[min(self.i, len(self.tokens) - 1)]
        self.i += 1
        return token

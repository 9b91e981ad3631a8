"""Mixtral: llama's attention, and in every layer a mixture of num_local_experts SiLU-gated
experts of intermediate_size rows, num_experts_per_tok of them per token, weighted by the
softmax of the router's logits over the chosen ones. llama.cpp converts Mixtral checkpoints
into "llama" files with expert_count set and the experts stacked in 3-D tensors; the llama
architecture runs them (no ARCH here)."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import LayerTensor

LAYER_TENSORS = llama.LAYER_TENSORS[:-3] + (
    LayerTensor("block_sparse_moe.gate.weight", "ffn_gate_inp.weight", lambda h: (h.n_expert, h.n_embd)),
    LayerTensor("block_sparse_moe.experts.{e}.w1.weight", "ffn_gate_exps.weight", lambda h: (h.n_ff_exp, h.n_embd),
                experts=True),
    LayerTensor("block_sparse_moe.experts.{e}.w3.weight", "ffn_up_exps.weight", lambda h: (h.n_ff_exp, h.n_embd),
                experts=True),
    LayerTensor("block_sparse_moe.experts.{e}.w2.weight", "ffn_down_exps.weight", lambda h: (h.n_embd, h.n_ff_exp),
                experts=True),
)


def write_metadata(w, cfg: dict, hp) -> None:
    llama.write_metadata(w, cfg, hp)
    w.add_expert_count(hp.n_expert)
    w.add_expert_used_count(hp.n_expert_used)


CONVERSION = dataclasses.replace(llama.CONVERSION, hf_classes=("MixtralForCausalLM",), hf_model_types=("mixtral",),
                                 layer_tensors=LAYER_TENSORS, write_metadata=write_metadata, extra_tensors=None,
                                 defaults=dict(rms_eps=1e-5, rope_theta=1000000.0))

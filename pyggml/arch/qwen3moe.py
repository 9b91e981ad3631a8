"""Qwen3-MoE: qwen3's attention, and in every layer a mixture of experts instead of the
feed-forward: a router (ffn_gate_inp) picks num_experts_per_tok of num_experts SiLU-gated
experts of moe_intermediate_size rows per token, weighted by their softmax probabilities,
renormalised over the chosen ones when norm_topk_prob is set (llama.cpp always
renormalises; its converter stores the experts stacked in 3-D ffn_{gate,up,down}_exps)."""

from __future__ import annotations

from . import qwen3
from .base import Architecture, Conversion, LayerTensor, RuntimeSpec, write_head_dims
from ..errors import PyggmlError

LAYER_TENSORS = qwen3.LAYER_TENSORS[:-3] + (
    LayerTensor("mlp.gate.weight", "ffn_gate_inp.weight", lambda h: (h.n_expert, h.n_embd)),
    LayerTensor("mlp.experts.{e}.gate_proj.weight", "ffn_gate_exps.weight", lambda h: (h.n_ff_exp, h.n_embd),
                experts=True),
    LayerTensor("mlp.experts.{e}.up_proj.weight", "ffn_up_exps.weight", lambda h: (h.n_ff_exp, h.n_embd),
                experts=True),
    LayerTensor("mlp.experts.{e}.down_proj.weight", "ffn_down_exps.weight", lambda h: (h.n_embd, h.n_ff_exp),
                experts=True),
)


def write_metadata(w, cfg: dict, hp) -> None:
    if cfg.get("mlp_only_layers") or int(cfg.get("decoder_sparse_step", 1) or 1) != 1:
        raise PyggmlError("qwen3moe: dense layers among the expert layers (mlp_only_layers, decoder_sparse_step) "
                          "cannot be stored in a qwen3moe GGUF file")
    write_head_dims(w, cfg, hp)
    w.add_expert_count(hp.n_expert)
    w.add_expert_used_count(hp.n_expert_used)
    w.add_expert_feed_forward_length(hp.n_ff_exp)
    w.add_bool("qwen3moe.expert_weights_norm", bool(cfg.get("norm_topk_prob", False)))


CONVERSION = Conversion(
    gguf_arch="qwen3moe", hf_classes=("Qwen3MoeForCausalLM",), hf_model_types=("qwen3_moe",),
    layer_tensors=LAYER_TENSORS, defaults=dict(rms_eps=1e-6, rope_theta=1000000.0),
    write_metadata=write_metadata,
)

ARCH = Architecture("qwen3moe", RuntimeSpec(rope_neox=True), CONVERSION, tensors=qwen3.tensors)

"""What the commands share: model and sampling flags, loading a model for them, timing lines.

Progress bars are pyggml.progress's (the library's long-running steps draw them too).
"""

from __future__ import annotations

import argparse
import sys

from .. import models
from ..formats.types import GGMLType
from ..runtime.model import KV_TYPES

KV_TYPE_NAMES = [t.name.lower() for t in KV_TYPES]  # the -ctk / --kv-type choices


def int_at_least(lo: int):
    """An argparse type: an integer >= lo (argparse reports anything else as a usage error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is out of range (the smallest allowed is {lo})")
        return value

    parse.__name__ = "integer"
    return parse


def add_model_arguments(p: argparse.ArgumentParser, ctx_default: int = 4096,
                        ctx_help: str = "context size (default 4096; 0: the model's)") -> None:
    p.add_argument("-m", "--model", default=None,
                   help=f"a .gguf file or a model name ({', '.join(models.available_models())}); "
                   "default: the default model")
    p.add_argument("-t", "--threads", type=int_at_least(0), default=0, help="threads (default: physical cores)")
    p.add_argument("-c", "--ctx-size", type=int_at_least(0), default=ctx_default, help=ctx_help)
    p.add_argument("-b", "--batch-size", type=int_at_least(1), default=512,
                   help="prompt tokens per native call (default 512)")
    add_gpu_arguments(p)
    p.add_argument("-ctk", "--cache-type-k", default="f16", choices=KV_TYPE_NAMES, help="KV cache type")
    p.add_argument("--check-tensors", action="store_true",
                   help="scan the model's tensors for NaN and infinity before running (as llama.cpp's flag)")
    add_weight_format_arguments(p)


def add_weight_format_arguments(p: argparse.ArgumentParser) -> None:
    from ..runtime.weight_format import DEFAULT_INT8_THRESHOLD, valid_names

    p.add_argument("-wf", "--weight-format", default=None, metavar="FORMAT",
                   help="quantize the blocks' matrices at load from an F16/BF16/F32 model: " + valid_names())
    p.add_argument("--int8-threshold", type=float, default=DEFAULT_INT8_THRESHOLD, metavar="T",
                   help=f"llm.int8's outlier threshold (default {DEFAULT_INT8_THRESHOLD})")


def weight_format_kwargs(args) -> dict:
    """Model.load / Llama keywords from -wf and --int8-threshold."""
    return dict(weight_format=getattr(args, "weight_format", None),
                int8_threshold=getattr(args, "int8_threshold", 6.0))


def describe_weight_format(report) -> str:
    """One line about a model's load-time weight format (Model.weight_format_report())."""
    if not report:
        return ""
    extra = f", outlier threshold {report['int8_threshold']:g}" if "int8_threshold" in report else ""
    return (f"pyggml: weight format {report['weight_format']}: {report['tensors']} matrices, "
            f"{report['parameters'] / 1e6:.1f} M weights, {report['bits_per_weight']:.3f} bits per weight "
            f"(scales included){extra}")


def add_gpu_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-ngl", "--n-gpu-layers", "--gpu-layers", type=int, default=0, dest="n_gpu_layers", metavar="N",
                   help="run the last N blocks on the GPU (a CUDA build), and the output head when N exceeds the "
                   "block count (-1 or 99: everything); default 0")
    p.add_argument("--gpu-place", default=None, metavar="SPEC",
                   help="name the blocks to run on the GPU instead of -ngl: '12-27,output', or a TOML file with "
                   "layers = \"12-27\" and output = true")


def gpu_kwargs(args) -> dict:
    """Model.load / Llama keywords from the GPU flags."""
    return dict(n_gpu_layers=args.n_gpu_layers, gpu_layers=args.gpu_place)


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--seed", type=int, default=-1, help="random seed (default -1: random)")
    p.add_argument("--temp", type=float, default=0.8, help="temperature (default 0.8; 0: greedy)")
    p.add_argument("--top-k", type=int_at_least(0), default=40, help="top-k (default 40; 0: off)")
    p.add_argument("--top-p", type=float, default=0.95, help="top-p (default 0.95; 1.0: off)")
    p.add_argument("--min-p", type=float, default=0.05, help="min-p (default 0.05; 0.0: off)")
    p.add_argument("--typical", type=float, default=1.0, help="locally typical sampling p (default 1.0: off)")
    p.add_argument("--repeat-penalty", type=float, default=1.0, help="repetition penalty (default 1.0: off)")
    p.add_argument("--repeat-last-n", type=int_at_least(0), default=64, help="tokens the penalties look back on (default 64)")
    p.add_argument("--presence-penalty", type=float, default=0.0, help="presence penalty (default 0.0)")
    p.add_argument("--frequency-penalty", type=float, default=0.0, help="frequency penalty (default 0.0)")


def load_llama(args):
    """Resolve the model argument, load (saying where it runs when a GPU takes part); returns
    a pyggml.Llama."""
    from ..api.llama import LLAMA_DEFAULT_SEED, Llama

    path = models.resolve(args.model)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    kv = int(GGMLType.parse(args.cache_type_k))  # a ggml type id, as llama-cpp-python's type_k
    llm = Llama(str(path), n_ctx=args.ctx_size, n_threads=args.threads or None, n_batch=args.batch_size,
                seed=args.seed if args.seed >= 0 else LLAMA_DEFAULT_SEED, last_n_tokens_size=args.repeat_last_n,
                type_k=kv, type_v=kv, verbose=False, check_tensors=args.check_tensors, **gpu_kwargs(args),
                **weight_format_kwargs(args))
    if llm._model.gpu_placement.any:
        print(f"pyggml: {llm._model.placement_summary()}", file=sys.stderr)
    if llm._model.weight_format:
        print(describe_weight_format(llm._model.weight_format_report()), file=sys.stderr)
    return llm


def sampling_kwargs(args) -> dict:
    """create_completion / create_chat_completion keywords from the sampling flags."""
    return dict(temperature=args.temp, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                typical_p=args.typical, repeat_penalty=args.repeat_penalty,
                presence_penalty=args.presence_penalty, frequency_penalty=args.frequency_penalty)


def format_timings(stats, load_seconds: "float | None" = None) -> str:
    """llama.cpp-style timing lines: load, prompt eval and eval times with tokens/s."""
    lines = []
    if load_seconds is not None:
        lines.append(f"pyggml: load time        = {load_seconds * 1e3:10.2f} ms")
    for label, secs, n, unit in (
        ("prompt eval time", stats.prompt_seconds, stats.prompt_eval_tokens, "tokens"),
        ("eval time       ", stats.generation_seconds, stats.generated_tokens, "tokens"),
    ):
        per_tok = secs * 1e3 / n if n else 0.0
        tps = n / secs if secs > 0 and n else 0.0
        lines.append(f"pyggml: {label} = {secs * 1e3:10.2f} ms / {n:5d} {unit} "
                     f"({per_tok:8.2f} ms per token, {tps:8.2f} tokens per second)")
    return "\n".join(lines)

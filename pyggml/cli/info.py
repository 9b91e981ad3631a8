"""`pyggml info`: describe a GGUF model (hyper-parameters, tensor types, tokenizer), as text or JSON,
and the GPU: which one this pyggml can use (or why none), and what -ngl would place on it and
how much GPU memory that takes."""

from __future__ import annotations

import argparse
import json
import os

from gguf.constants import LlamaFileType

from .. import models
from ..errors import GGUFError, PyggmlError, show_value
from ..formats.gguf_file import GGUFFile
from ..runtime.cpu_tier import cpu_tier, describe_cpu_tier

_HYPER = [  # (label, key under "<arch>.")
    ("context length", "context_length"),
    ("embedding length", "embedding_length"),
    ("layers", "block_count"),
    ("heads", "attention.head_count"),
    ("kv heads", "attention.head_count_kv"),
    ("key head dim", "attention.key_length"),
    ("value head dim", "attention.value_length"),
    ("FFN size", "feed_forward_length"),
    ("rope base", "rope.freq_base"),
    ("rope scaling", "rope.scaling.type"),
    ("rope scaling factor", "rope.scaling.factor"),
    ("rope original context", "rope.scaling.original_context_length"),
    ("norm eps", "attention.layer_norm_rms_epsilon"),
    ("sliding window", "attention.sliding_window"),
    ("attention temperature", "attention.temperature_scale"),
    ("experts", "expert_count"),
    ("experts per token", "expert_used_count"),
    ("expert FFN size", "expert_feed_forward_length"),
]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="describe a GGUF model",
        description="Show a GGUF model's architecture, hyper-parameters, tensor types and tokenizer.",
    )
    p.add_argument(
        "model", nargs="?", default=None,
        help=f"a .gguf file or a model name ({', '.join(models.available_models())}); "
        f"default: {models.DEFAULT_MODEL}",
    )
    p.add_argument("-m", "--model", dest="model_option", metavar="MODEL", help="same as the positional MODEL")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--check-tensors", action="store_true",
                   help="also scan every tensor's data for NaN and infinity (values and block scales)")
    p.add_argument("-ngl", "--n-gpu-layers", type=int, default=-1, dest="n_gpu_layers", metavar="N",
                   help="show what -ngl N would place on the GPU (default -1: everything)")
    from .common import int_at_least

    p.add_argument("-c", "--ctx-size", type=int_at_least(1), default=4096,
                   help="context size of that placement (default 4096)")
    p.add_argument("-b", "--batch-size", type=int_at_least(1), default=512,
                   help="batch size of that placement (default 512)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.model and args.model_option:
        raise PyggmlError("info: give the model either as an argument or with -m, not both")
    path = models.resolve(args.model or args.model_option)
    with GGUFFile(path) as f:
        info = model_info(f)
        if args.check_tensors:
            f.check_tensors(progress=None)
            info["tensors_checked"] = True
    info["gpu"] = gpu_info(path, args.n_gpu_layers, args.ctx_size, args.batch_size)
    text = json.dumps(info, indent=2) if args.json else format_info(info)
    # strings that were not valid UTF-8 in the file (kept as surrogate escapes) print as \udcXX
    print(text.encode("utf-8", "backslashreplace").decode("utf-8"))
    return 0


def model_info(f: GGUFFile) -> dict:
    """Everything `pyggml info` shows, as plain JSON-ready values."""
    arch = f.architecture
    return {
        "path": f.path,
        "file_bytes": os.path.getsize(f.path),
        "gguf_version": f.version,
        "architecture": arch,
        "name": f.get("general.name"),
        "file_type": _file_type(f.get("general.file_type")),
        "hyperparameters": _hyperparameters(f, arch),
        "tensors": _tensor_summary(f, arch),
        "tokenizer": _tokenizer(f),
        "cpu_tier": cpu_tier(),
    }


def gpu_info(path, n_gpu_layers: int = -1, n_ctx: int = 4096, n_batch: int = 512) -> dict:
    """The GPU (pyggml.runtime.gpu.device_info) and what -ngl n_gpu_layers would place on it:
    {"device", "placement": {n_gpu_layers, n_ctx, n_batch, layers, output, description,
    bytes, fits, largest_fit} or None, "placement_error" when the model cannot be planned}."""
    from ..runtime import gpu
    from ..runtime.hparams import read_hparams
    from ..runtime.model import _native_tensors, _open_gguf

    dev = gpu.device_info()
    out = {"device": dev, "placement": None}
    try:
        _, meta, tensors = _open_gguf(path)
        hp = read_hparams(path, meta, tensors)
        from .. import arch as architectures

        known = architectures.get(hp["arch"])
        native = _native_tensors(path, tensors, known.native_names if known else None)
        where = gpu.placement(hp["n_layer"], n_gpu_layers)
        n_batch = min(n_batch, n_ctx)
        plan = gpu.plan(hp, native, where, n_ctx, n_batch)
    except Exception as e:  # noqa: BLE001 - the report on the file stands whatever the plan makes of it
        out["placement_error"] = str(e) or type(e).__name__
        return out
    place = {
        "n_gpu_layers": n_gpu_layers, "n_ctx": n_ctx, "n_batch": n_batch, "layers": list(where.layers),
        "output": where.output, "description": where.describe(hp["n_layer"]), "bytes": plan,
        "fits": None, "largest_fit": None,
    }
    if dev["available"]:
        place["fits"] = plan["total"] + gpu.RESERVE_BYTES <= dev["free_bytes"]
        place["largest_fit"] = gpu.largest_fit(hp, native, n_ctx, n_batch, dev["free_bytes"])
    out["placement"] = place
    return out


def _hyperparameters(f: GGUFFile, arch: str | None) -> dict:
    if arch is None:
        return {}
    out = {key: f.get(f"{arch}.{key}") for _, key in _HYPER}
    if out["attention.layer_norm_rms_epsilon"] is None:
        out["attention.layer_norm_rms_epsilon"] = f.get(f"{arch}.attention.layer_norm_epsilon")
    heads, embd = out["attention.head_count"], out["embedding_length"]
    if out["attention.head_count_kv"] is None:  # llama.cpp's defaults when the keys are absent
        out["attention.head_count_kv"] = heads
    if isinstance(heads, int) and heads and isinstance(embd, int):
        for key in ("attention.key_length", "attention.value_length"):
            if out[key] is None:
                out[key] = embd // heads
    return {k: v for k, v in out.items() if v is not None}


def _tensor_summary(f: GGUFFile, arch: str | None = None) -> dict:
    """Counts, bytes and parameters by type; with experts, also the parameters one token
    reads (active_parameters: each expert tensor counted for expert_used_count of expert_count)."""
    by_type: dict = {}
    n_expert, n_used = (f.get(f"{arch}.expert_count"), f.get(f"{arch}.expert_used_count")) if arch else (None, None)
    moe = isinstance(n_expert, int) and isinstance(n_used, int) and 0 < n_used <= n_expert
    active = 0
    for t in f.tensors:
        active += t.n_elements * n_used // n_expert if moe and t.name.endswith("_exps.weight") else t.n_elements
        row = by_type.setdefault(t.type.name, {"count": 0, "bytes": 0, "parameters": 0})
        row["count"] += 1
        row["bytes"] += t.n_bytes
        row["parameters"] += t.n_elements
    n_bytes = sum(r["bytes"] for r in by_type.values())
    params = sum(r["parameters"] for r in by_type.values())
    return {
        "count": len(f.tensors),
        "bytes": n_bytes,
        "parameters": params,
        **({"active_parameters": active} if moe else {}),
        "bits_per_weight": n_bytes * 8 / params if params else 0.0,
        "by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1]["bytes"])),
    }


def _tokenizer(f: GGUFFile) -> dict:
    from ..text.tokenizer import describe

    tokens = f.get("tokenizer.ggml.tokens")
    if tokens is None:
        tokens = []
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise GGUFError(f.path, f"tokenizer.ggml.tokens = {show_value(tokens)}: expected an array of strings")
    model, pre = f.get("tokenizer.ggml.model"), f.get("tokenizer.ggml.pre")
    out = {
        "model": model,
        "pre": pre,
        **describe(model, pre),
        "vocab_size": len(tokens),
        "has_chat_template": isinstance(f.get("tokenizer.chat_template"), str),
    }
    if not isinstance(out["model"], (str, type(None))) or not isinstance(out["pre"], (str, type(None))):
        key = "tokenizer.ggml.model" if not isinstance(out["model"], (str, type(None))) else "tokenizer.ggml.pre"
        raise GGUFError(f.path, f"{key} = {show_value(f.get(key))}: expected a string")
    for which in ("bos", "eos"):
        tid = f.get(f"tokenizer.ggml.{which}_token_id")
        out[f"{which}_token_id"] = tid
        out[f"{which}_token"] = tokens[tid] if isinstance(tid, int) and 0 <= tid < len(tokens) else None
    return out


def _file_type(value) -> str | None:
    if value is None:
        return None
    try:
        name = LlamaFileType(value).name
    except (ValueError, TypeError):
        return f"unknown ({show_value(value)})"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _count(n: int) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def _value(v) -> str:
    if isinstance(v, list):
        return show_value(v)
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() and abs(v) < 1e15 else f"{v:g}"
    return str(v)


def _block(rows, indent: str = "") -> list:
    """Aligned `label  value` lines."""
    width = max((len(label) for label, _ in rows), default=0)
    return [f"{indent}{label:<{width}}  {value}" for label, value in rows]


def format_info(info: dict) -> str:
    """The human-readable report."""
    t, tok, hp = info["tensors"], info["tokenizer"], info["hyperparameters"]
    lines = _block([
        ("file", f"{info['path']} ({_size(info['file_bytes'])}, GGUF v{info['gguf_version']})"),
        ("architecture", info["architecture"] or "-"),
        ("name", info["name"] or "-"),
        ("file type", info["file_type"] or "-"),
        ("parameters", f"{_count(t['parameters'])} ({t['parameters']})"),
    ] + ([("active per token", f"{_count(t['active_parameters'])} ({t['active_parameters']})")]
         if "active_parameters" in t else []) + [
        ("bits per weight", f"{t['bits_per_weight']:.2f}"),
        ("CPU kernels", describe_cpu_tier()),
    ])
    if hp:
        lines += ["", "hyper-parameters"]
        lines += _block([(label, _value(hp[key])) for label, key in _HYPER if key in hp], "  ")
    lines += ["", f"tensors  {t['count']}, {_size(t['bytes'])}"]
    header = ("type", "count", "bytes", "parameters", "bpw")
    table = [header] + [
        (name, str(r["count"]), _size(r["bytes"]), _count(r["parameters"]), f"{r['bytes'] * 8 / r['parameters']:.2f}")
        for name, r in t["by_type"].items()
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  " + "  ".join(cells))
    if info.get("tensors_checked"):
        lines.append("  data checked: no NaN or infinity in any value or block scale")
    if tok["model"] is not None or tok["vocab_size"]:
        lines += ["", "tokenizer"]
        lines += _block([
            ("model", _tokenizer_model(tok)),
            ("pre-tokenizer", _pre_tokenizer(tok)),
            ("vocab size", str(tok["vocab_size"])),
            ("BOS", _token(tok["bos_token_id"], tok["bos_token"])),
            ("EOS", _token(tok["eos_token_id"], tok["eos_token"])),
            ("chat template", "yes" if tok["has_chat_template"] else "no"),
        ], "  ")
    if "gpu" in info:
        lines += ["", "GPU"] + _gpu_lines(info["gpu"])
    return "\n".join(lines)


def _tokenizer_model(tok: dict) -> str:
    if tok["model"] is None:
        return "- (tokenizer.ggml.model missing)"
    if tok["model_description"] is None:
        return f"{tok['model']} (unknown to pyggml and llama.cpp)"
    return f"{tok['model']}: {tok['model_description']}"


def _pre_tokenizer(tok: dict) -> str:
    name = tok["pre_tokenizer"]
    if name is None:
        return "- (not a BPE model: tokenizer.ggml.pre is not used)" if tok["model_description"] else "-"
    if not tok["supported"]:
        return f"{name} (unknown to pyggml and llama.cpp)"
    if tok["pre_tokenizer_from"] == "tokenizer.ggml.model":
        return f"{name} (always, for this model)"
    if tok["pre_tokenizer_from"] == "default":
        return f"{name} (tokenizer.ggml.pre missing)"
    return name


def _gpu_lines(g: dict) -> list:
    from ..runtime import gpu

    rows = [("device", gpu.describe_device(g["device"]))]
    p = g["placement"]
    if p is None:
        rows.append(("placement", f"n/a: {g.get('placement_error', '-')}"))
    else:
        flags = f"-ngl {p['n_gpu_layers']} -c {p['n_ctx']} -b {p['n_batch']}"
        verdict = "" if p["fits"] is None else ("; fits" if p["fits"] else "; does not fit")
        rows.append((flags, f"{p['description']} on the GPU: {gpu.describe_plan(p['bytes'])}{verdict}"))
        if p["largest_fit"] is not None and not p["fits"]:
            rows.append(("fits at most", f"-ngl {p['largest_fit']}"))
    return _block(rows, "  ")


def _token(tid, text) -> str:
    if tid is None:
        return "-"
    return f"{tid} {text!r}" if text is not None else str(tid)

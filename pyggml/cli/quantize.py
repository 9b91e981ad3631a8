"""`pyggml quantize`: re-quantize a GGUF file under a preset, a policy, or a bits-per-weight target."""

from __future__ import annotations

import argparse
import sys
import warnings


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "quantize", help="re-quantize a GGUF file (presets, TOML policies, --target-bpw)",
        description="Dequantize every tensor of a GGUF file and quantize it again. TYPE is a llama.cpp preset "
                    "(Q4_K_M, ...) or a tensor type; or choose types with --policy or --target-bpw.")
    p.add_argument("input", help="GGUF file to read")
    p.add_argument("output", help="GGUF file to write")
    p.add_argument("type", nargs="?", help="preset or tensor type (e.g. Q4_K_M)")
    p.add_argument("--policy", help="TOML layer policy")
    p.add_argument("--target-bpw", type=float, help="choose per-tensor types for this average bits per weight")
    p.add_argument("--pure", action="store_true", help="give every quantizable tensor TYPE; without it, names of llama.cpp file types "
                        "(Q4_0, Q8_0, Q6_K, IQ4_XS, ...) follow llama.cpp's per-tensor rules")
    p.add_argument("--imatrix", help="importance matrix from llama-imatrix (.dat or .gguf)")
    m = p.add_argument_group("measured bit allocation (with --target-bpw)")
    m.add_argument("--measure", action="store_true",
                   help="choose the types by measuring each tensor's effect on the model's outputs (calibration "
                        "text, see --calib/--chunks/-c; each tensor's KL divergence measured in the forward pass) "
                        "instead of by its own weight error; needs an F16/BF16/F32 source")
    m.add_argument("--measure-tokens", type=int, default=256, metavar="N",
                   help="tokens over which each tensor's KL divergence is measured (default 256)")
    m.add_argument("--measurement", metavar="FILE",
                   help="with --measure: read the measurement from FILE if it exists, else measure and save it "
                        "there (measure once, quantize to several sizes)")
    c = p.add_argument_group("calibrated methods")
    c.add_argument("--method", default="rtn", choices=["rtn", "imatrix", "gptq", "gptq+imatrix", "awq", "awq+imatrix"],
                   help="rtn: round to nearest (default); imatrix: importance matrix from calibration text; gptq: "
                        "GPTQ onto each type's grid; awq: activation-aware scales folded into the norms, then "
                        "round to nearest; +imatrix: also weight the rounding by the importance matrix")
    c.add_argument("--calib", metavar="TEXT", help="calibration text file (default: the text shipped with pyggml, "
                   "The Devil's Dictionary G-Z)")
    c.add_argument("--chunks", type=int, default=16, help="calibration sequences (default 16)")
    c.add_argument("-c", "--ctx-size", type=int, default=512, help="tokens per calibration sequence (default 512)")
    c.add_argument("-b", "--batch-size", type=int, default=None,
                   help="tokens per forward pass, a multiple of -c: -b 2048 -c 512 runs 4 calibration sequences in "
                        "each pass, as llama-imatrix does (same results; default -c, one sequence a pass)")
    c.add_argument("--imatrix-out", metavar="FILE", help="with --method imatrix or --measure: also save the importance matrix "
                   "(llama.cpp's GGUF format, or legacy .dat when FILE ends in .dat)")
    c.add_argument("--act-order", action="store_true", help="GPTQ: quantize columns in decreasing Hessian order")
    c.add_argument("--damp", type=float, default=0.01, help="GPTQ: damping as a fraction of the mean Hessian "
                   "diagonal (default 0.01)")
    c.add_argument("--hessian-memory", type=float, metavar="GIB", help="GPTQ: memory for the Hessians gathered in "
                   "one calibration pass (default: half of the available memory); less memory, more passes")
    c.add_argument("--awq-clip", action="store_true", help="AWQ: also search a clipping range per weight block")
    c.add_argument("--awq-rows", type=int, default=512, help="AWQ: calibration rows sampled per layer input (default 512)")
    p.add_argument("-t", "--threads", type=int, default=0, help="worker threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-table", action="store_true", help="print the per-tensor type table (always with --target-bpw)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..errors import PyggmlError
    from ..quantization.requantize import RequantizeWarning, print_table, requantize

    chosen = [x for x in (args.type, args.policy, args.target_bpw) if x is not None]
    if len(chosen) != 1:
        raise PyggmlError("give exactly one of TYPE, --policy or --target-bpw")
    calibrated = args.method != "rtn"
    if args.measure or args.measurement:
        return _run_measured(args)
    if calibrated and args.target_bpw is not None:
        raise PyggmlError("--target-bpw works with --method rtn only")
    if calibrated and args.imatrix:
        raise PyggmlError(f"--imatrix reads a finished importance matrix for --method rtn; --method {args.method} "
                          "computes its own from --calib (use --method gptq+imatrix / awq+imatrix to combine)")
    if args.imatrix_out and args.method != "imatrix":
        raise PyggmlError("--imatrix-out needs --method imatrix or --measure")
    batch = args.ctx_size if args.batch_size is None else args.batch_size
    if args.ctx_size < 2 or batch < args.ctx_size or batch % args.ctx_size:
        raise PyggmlError(f"-b/--batch-size ({batch}) must be a multiple of -c/--ctx-size ({args.ctx_size}): "
                          "the calibration sequences a pass runs")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RequantizeWarning)
        if calibrated:
            from ..quantization.methods import quantize_calibrated

            rep = quantize_calibrated(
                args.input, args.output, args.type or "Q4_K_M", args.method, text=args.calib, n_seq=args.chunks,
                seq_len=args.ctx_size, n_parallel=batch // args.ctx_size, policy=args.policy, pure=args.pure, n_threads=args.threads,
                progress=not args.no_progress, imatrix_out=args.imatrix_out, damp=args.damp,
                act_order=args.act_order, awq_rows=args.awq_rows, awq_clip=args.awq_clip,
                memory=int(args.hessian_memory * 2**30) if args.hessian_memory else None)
            table = rep.table
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in rep.seconds.items())
            print(f"{args.method}: {rep.n_tokens} calibration tokens; {stages}", file=sys.stderr)
        else:
            table = requantize(args.input, args.output, args.type or "Q4_K_M", policy=args.policy, pure=args.pure,
                               imatrix=args.imatrix, target_bpw=args.target_bpw, n_threads=args.threads,
                               progress=not args.no_progress)
    for w in caught:
        print(f"pyggml: warning: {w.message}", file=sys.stderr)
    if args.print_table or args.target_bpw is not None:
        print_table(table)
    print(f"wrote {args.output} ({len(table)} tensors)", file=sys.stderr)
    return 0


def _run_measured(args) -> int:
    import os

    from ..errors import PyggmlError
    from ..quantization.measure import load_measurement, measure, quantize_measured, save_measurement
    from ..quantization.requantize import print_table

    if not args.measure:
        raise PyggmlError("--measurement goes with --measure")
    if args.target_bpw is None or args.type is not None or args.policy is not None:
        raise PyggmlError("--measure chooses the types for --target-bpw B: give --target-bpw and no TYPE or --policy")
    if args.method != "rtn":
        raise PyggmlError(f"--measure quantizes with the importance matrix of its own calibration; --method "
                          f"{args.method} does not combine with it")
    if args.measurement and os.path.exists(args.measurement):
        m = load_measurement(args.measurement)
        print(f"measurement read from {args.measurement}", file=sys.stderr)
    else:
        m = measure(args.input, imatrix=args.imatrix, text=args.calib, n_seq=args.chunks, seq_len=args.ctx_size,
                    measure_tokens=args.measure_tokens, n_threads=args.threads, progress=not args.no_progress)
        if args.measurement:
            save_measurement(m, args.measurement)
    if args.imatrix_out:
        from ..formats.imatrix import write_imatrix_gguf

        write_imatrix_gguf(args.imatrix_out, m.imatrix, count=m.n_tokens, chunk_size=args.ctx_size)
    table, _ = quantize_measured(args.input, args.output, args.target_bpw, measurement=m, n_threads=args.threads,
                                 progress=not args.no_progress)
    print_table(table)
    print(f"measured on {m.n_tokens} calibration tokens, each tensor's KL divergence over {m.measure_tokens}; "
          f"predicted KLD of this file {m.predicted_kld({r[0]: r[3] for r in table}):.5f} (the sum of the tensors' own)", file=sys.stderr)
    print(f"wrote {args.output} ({len(table)} tensors)", file=sys.stderr)
    return 0

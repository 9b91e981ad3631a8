"""Instructions the NEON element-wise kernels and activation conversions execute against the
scalar references', counted under qemu: a sanity check of the paths on an x86 machine, not a
speed.

tests/native/neon_ops_main.cpp (RMSNorm, the activations times up, the attention tile) and
neon_quantize_act_main.cpp (F16, Q8_0, Q8_1, Q8_K) are cross-compiled as
tests/native/test_neon_qemu.py does (-O3, the Release flags; the dotprod tier's compile, whose
code for these kernels is the neon tier's: they use no SDOT) and run on one row each under
`qemu-aarch64 -cpu max -singlestep -d nochain,exec`, which logs every instruction it executes
with the symbol it lies in. Each harness runs the reference and then the twin on the same row;
the log is split where the twin's first instruction runs, and each side counts the
instructions in the functions of the kernel files (the reference's: kernels/ops.cpp and
quant/*.cpp) and of the C library's maths (expf, tanhf and the routines they call). Row
lengths are Qwen2.5-1.5B's (1536 wide, 8960 in the FFN). An instruction count says nothing of
a real core's latencies, ports or memory; speed needs an ARM machine.

    PYTHONPATH=.:tests:tests/native python benchmarks/arm_ops_instructions.py

Needs aarch64-linux-gnu-g++ and qemu-aarch64 (.ci/install-cross-tools.sh).
"""

from __future__ import annotations

import collections
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "native"), str(ROOT / "benchmarks")]

from gguf import GGMLQuantizationType as QT  # noqa: E402
from qemu_trace import functions_defined, traced_functions  # noqa: E402
from test_neon_qemu import NEON_OPS_SOURCES, NEON_QUANTIZE_ACT_SOURCES, QEMU, build_neon_program  # noqa: E402
from test_neon_qemu import _kv_storage as kv_storage  # noqa: E402

# the C library's maths routines the references call (glibc's names)
LIBM = re.compile(r"^_*(expf|tanhf|expm1f|exp2f)(32)?(_\w+)?$|^_*math_\w+$")


def defined(obj: Path) -> set[str]:
    """The functions obj defines, but the tier's registration (it runs before any kernel)."""
    return {name for name in functions_defined(obj) if "register" not in name}


def count(exe: Path, args: list[str], reference: set[str], twin: set[str]) -> tuple[int, int]:
    """(reference, twin) instructions of one run: the log split at the twin's first instruction,
    each side counting the instructions in either file's functions and the maths library's (the
    twin's side includes the reference routines it calls: the attention tile's softmax, the
    activations' tails)."""
    sides = [collections.Counter(), collections.Counter()]
    side = 0
    for name in traced_functions(exe, args):
        if name in twin:
            side = 1
        sides[side][name] += 1

    def kernel(c):
        return sum(n for name, n in c.items() if name in reference or name in twin or LIBM.match(name))

    return kernel(sides[0]), kernel(sides[1])


def main() -> None:
    if not QEMU:
        sys.exit("qemu-aarch64 is missing: run .ci/install-cross-tools.sh")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ops = build_neon_program(d, "neon_ops", NEON_OPS_SOURCES)
        conv = build_neon_program(d, "neon_quantize_act", NEON_QUANTIZE_ACT_SOURCES)
        ops_ref, ops_twin = defined(d / "ops.o"), defined(d / "ops_neon.o")
        conv_ref = defined(d / "legacy.o") | defined(d / "k.o") | defined(d / "search.o")
        conv_ref |= {name for name in defined(d / "neon_quantize_act_main.o") if "reference" in name}
        conv_twin = defined(d / "quantize_act_neon.o")
        case = d / "in.bin"
        print(f"{'kernel':28s}{'reference':>12s}{'neon':>12s}{'ratio':>8s}")

        def report(what, exe, args, ref_syms, twin_syms):
            r, t = count(exe, args, ref_syms, twin_syms)
            print(f"{what:28s}{r:12d}{t:12d}{r / t:8.1f}", flush=True)

        # neon_ops_main.cpp's elementwise cases: int32 op, rows, n, a, b; float32 f; the data
        for what, op, n, a, f, arrays in [
            ("rms_norm 1536", 0, 1536, 1, 1e-6, 2),
            ("silu_mul 8960", 1, 8960, 0, 0.0, 2),
            ("gelu_tanh_mul 8960", 2, 8960, 0, 0.0, 2),
        ]:
            data = [rng.standard_normal(n).astype(np.float32) * 2 for _ in range(arrays)]
            case.write_bytes(np.array([op, 1, n, a, 0], np.int32).tobytes() + np.float32(f).tobytes()
                             + b"".join(x.tobytes() for x in data))
            report(what, ops, ["elementwise", str(case), str(d / "out.bin")], ops_ref, ops_twin)
        # the attention tile, decoding: one token, a group of six heads (Qwen2.5's), head dim 128,
        # 256 keys; neon_ops_main.cpp's attend cases (see there), per key and head
        n_keys, hd, nh = 256, 128, 6
        q = (rng.standard_normal((1, nh, hd)) / np.sqrt(hd)).astype(np.float32)
        k = rng.standard_normal((n_keys, 1, hd)).astype(np.float32)
        v = rng.standard_normal((n_keys, 1, hd)).astype(np.float32)
        for kind, name in ((0, "float32"), (1, "F16"), (2, "Q8_0")):
            hdr = [1, nh, 1, hd, hd, n_keys, 0, kind, 1, nh, 0, 0]
            case.write_bytes(np.array(hdr, np.int32).tobytes() + np.float32(0).tobytes() + q.tobytes()
                             + kv_storage(k, kind) + kv_storage(v, kind))
            r, t = count(ops, ["attend", str(case), str(d / "out.bin")], ops_ref, ops_twin)
            per = n_keys * nh
            print(f"{'attention, ' + name + ' cache':28s}{r / per:12.1f}{t / per:12.1f}{r / t:8.1f}"
                  "   (per key and head)", flush=True)
        # the reference's F16 conversion: the harness's loop over fp32_to_fp16 (its reference())
        for name, n in (("F16", 1536), ("Q8_0", 1536), ("Q8_1", 1536), ("Q8_K", 8960)):
            x = rng.standard_normal(n).astype(np.float32)
            case.write_bytes(np.array([int(QT[name]), 1, n], np.int32).tobytes() + x.tobytes())
            report(f"from_float {name} {n}", conv, [str(case), str(d / "out.bin")], conv_ref, conv_twin)


if __name__ == "__main__":
    main()

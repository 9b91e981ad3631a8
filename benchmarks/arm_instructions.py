"""Instructions the aarch64 tiers' kernels over repacked weights execute, counted under qemu:
a sanity check of the neon (ARMv8.0, SDOT's sums without SDOT), dotprod (SDOT) and i8mm (SMMLA)
paths on an x86 machine, not a speed.

tests/native/neon_repack_main.cpp is cross-compiled as tests/native/test_neon_qemu.py does, once
for each compile of the NEON files, and run under `qemu-aarch64 -cpu cortex-a72` (the neon
build) or `-cpu max` with `-singlestep -d nochain,exec`, which logs every instruction it
executes with the symbol it lies in; the instructions in cpp/arch/arm/repack_neon.cpp's and
repack_i8mm.cpp's functions are counted, per 8 rows x 32 columns x 1 token (256
multiply-adds), for one 64 x 1024 matrix of each type with 4 tokens, taken 1, 2 or 4 tokens a
call. An instruction count says nothing of a real core's latencies, ports or memory; speed
needs an ARM machine.

    PYTHONPATH=.:tests:tests/native python benchmarks/arm_instructions.py [--types Q4_K,Q8_0]

Needs aarch64-linux-gnu-g++ and qemu-aarch64 (.ci/install-cross-tools.sh).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "native"), str(ROOT / "benchmarks")]

from qemu_trace import functions_defined, traced_functions  # noqa: E402
from test_kernels import random_weights, type_id  # noqa: E402
from test_neon_qemu import ARM_BUILDS, QEMU, REPACKED, build_neon_repack  # noqa: E402

from pyggml import _core  # noqa: E402

N_ROWS, N_COLS, N_TOKENS = 64, 1024, 4
RUNS = (("neon", 1), ("neon", 4), ("dotprod", 1), ("dotprod", 4), ("i8mm", 2), ("i8mm", 4))


def tier_symbols(d: Path) -> set[str]:
    """The functions compiled from the tier files (their objects lie beside the binary)."""
    return set().union(*(functions_defined(d / obj) for obj in ("repack_neon.o", "repack_i8mm.o")
                         if (d / obj).exists()))


def count(exe: Path, d: Path, tier: str, nt: int, case: Path, symbols: set[str]) -> int:
    cpu = ARM_BUILDS["neon" if tier == "neon" else "dotprod"][1]
    return sum(name in symbols for name in traced_functions(exe, [tier, case, d / "out.bin", nt], cpu))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=",".join(REPACKED))
    args = ap.parse_args()
    if not QEMU:
        sys.exit("qemu-aarch64 is missing: run .ci/install-cross-tools.sh")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        builds = {}  # the build each tier's runs take: its program, its functions
        for build in ("neon", "dotprod"):
            (d / build).mkdir()
            builds[build] = build_neon_repack(d / build, tier=build), tier_symbols(d / build)
        blocks = N_ROWS // 8 * N_COLS // 32 * N_TOKENS  # (8 rows x 32 columns x 1 token) units
        print(f"instructions per 8 rows x 32 columns x 1 token, {N_ROWS} x {N_COLS} matrix, {N_TOKENS} tokens")
        print("type    " + "".join(f"{t} {n}/call".rjust(15) for t, n in RUNS) + "  neon/dotprod 4  i8mm/dotprod 4")
        for name in args.types.split(","):
            w = random_weights(rng, name, N_ROWS, N_COLS)
            x = rng.standard_normal((N_TOKENS, N_COLS)).astype(np.float32)
            packed = _core.testing.repack(w, type_id(name), N_COLS)
            act = _core.testing.repacked_activations(type_id(name), x)
            case = d / "in.bin"
            hdr = [REPACKED[name], N_COLS, packed.shape[0], act.shape[0], packed.shape[1], act.shape[1]]
            case.write_bytes(np.array(hdr, np.int32).tobytes() + packed.tobytes() + act.tobytes())
            counts = {}
            for tier, nt in RUNS:
                exe, symbols = builds["neon" if tier == "neon" else "dotprod"]
                counts[tier, nt] = count(exe, d, tier, nt, case, symbols) / blocks
            print(f"{name:8s}" + "".join(f"{counts[run]:15.1f}" for run in RUNS) +
                  f"{counts['neon', 4] / counts['dotprod', 4]:16.2f}{counts['i8mm', 4] / counts['dotprod', 4]:16.2f}",
                  flush=True)


if __name__ == "__main__":
    main()

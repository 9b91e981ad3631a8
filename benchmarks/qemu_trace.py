"""Instruction traces of aarch64 programs under qemu-user, for the instruction-count benchmarks
(arm_instructions.py, arm_ops_instructions.py): a sanity check of which code runs, never a speed.

`qemu-aarch64 -singlestep -d nochain,exec` logs every instruction it executes with the symbol it
lies in; traced_functions yields those symbols in execution order, functions_defined names the
functions an object file holds, so that a count can keep the instructions of chosen files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from test_neon_qemu import QEMU


def functions_defined(obj: Path) -> set[str]:
    """The functions (text symbols, weak ones included) the object file defines."""
    out = subprocess.run(["aarch64-linux-gnu-nm", "--defined-only", str(obj)], check=True, capture_output=True,
                         text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.split()[1] in "tTwW"}


def traced_functions(exe: Path, args: list[str], cpu: str = "max") -> Iterator[str]:
    """The function of each instruction exe executes with args on qemu's `cpu`, in order."""
    log = exe.parent / "trace.log"
    subprocess.run([QEMU, "-cpu", cpu, "-singlestep", "-d", "nochain,exec", "-D", str(log), str(exe), *map(str, args)],
                   check=True, timeout=600, capture_output=True)
    try:
        with open(log) as f:
            for line in f:
                yield line.rsplit(None, 1)[-1]
    finally:
        log.unlink()

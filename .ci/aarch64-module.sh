#!/usr/bin/env bash
# The aarch64 module itself, under qemu-user: cross-builds pyggml._core for aarch64 Linux with
# CMakeLists.txt (each tier's files with that tier's flags, the NEON files twice), puts it beside
# a copy of the Python sources, with Debian 12's arm64 CPython 3.11 and the aarch64 wheels of the
# compiled packages installed here, and runs tests in it on three emulated CPUs: a Cortex-A72
# (ARMv8.0, no dot product: the neon tier), a Cortex-A76 (dot product and FP16: dotprod) and
# qemu's `max` (I8MM too: i8mm). Each tier's kernels are checked there against the scalar ones by
# the same tests that check the x86 tiers (tests/native/test_repack.py, test_kernels.py, ...), and
# the forward pass of the synthetic models runs on them end to end.
#
# Not part of .ci/run: the cross build alone takes several minutes on two cores. Run it after a
# change to cpp/arch/arm/, the CPU probe (cpp/core/cpu.cpp) or the build. Needs a Debian 12 x86-64
# machine with the tools of .ci/install-cross-tools.sh, apt (it adds the arm64 architecture to
# dpkg and downloads, without installing, CPython's arm64 packages) and PyPI; run it in a
# Python 3.11 virtualenv that holds pyggml's test dependencies (`pip install ".[test]"`).
#
#   bash .ci/aarch64-module.sh [PYTEST ARGS]    (default: tests/native tests/runtime tests/test_models.py,
#                                                 but the AddressSanitizer test)
#   PYGGML_QEMU_CPUS=cortex-a72 bash .ci/aarch64-module.sh tests/native/test_repack.py
# PYGGML_AARCH64_WORK: where the build, the arm64 root and the wheels go (kept between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${PYGGML_AARCH64_WORK:-${TMPDIR:-/tmp}/pyggml-aarch64}
CPUS=${PYGGML_QEMU_CPUS:-"cortex-a72 cortex-a76 max"}
python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
  { echo "run this from a Python 3.11 virtualenv (the arm64 CPython is 3.11)" >&2; exit 2; }
for tool in aarch64-linux-gnu-g++ qemu-aarch64 apt-get dpkg-deb; do
  command -v $tool >/dev/null || { echo "$tool is missing: run .ci/install-cross-tools.sh" >&2; exit 2; }
done
mkdir -p "$WORK"/debs "$WORK"/root "$WORK"/wheels "$WORK"/site

# Debian's arm64 CPython and the libraries it and the module load: downloaded and unpacked into
# a root of their own that qemu takes its dynamic loader and libraries from.
if [ ! -x "$WORK/root/usr/bin/python3.11" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  packages="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libstdc++6 libgcc-s1 zlib1g
    libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1
    libcrypt1 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2
    libkeyutils1 libdb5.3 libgdbm6"
  (cd "$WORK/debs" && apt-get download -qq $(for p in $packages; do printf '%s:arm64 ' "$p"; done))
  for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$WORK/root"; done
fi

# The aarch64 wheel of every installed distribution that has compiled modules (numpy,
# sentencepiece, tokenizers, ...), at the installed version; the pure-Python ones are taken from
# this virtualenv as they are.
python - "$WORK" <<'EOF'
import importlib.metadata as md
import subprocess
import sys
import zipfile
from pathlib import Path

work = Path(sys.argv[1])
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name == "pyggml" or not any(str(f).endswith(".so") for f in dist.files or []):
        continue
    if (work / "site" / f".{name}-{dist.version}").exists():
        continue
    before = set((work / "wheels").glob("*.whl"))
    platforms = [a for p in ("manylinux2014", "manylinux_2_17", "manylinux_2_27", "manylinux_2_28")
                 for a in ("--platform", f"{p}_aarch64")]
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", *platforms, "-d", str(work / "wheels"), f"{name}=={dist.version}"])
    if r.returncode:
        print(f"no aarch64 wheel of {name} {dist.version}: tests that import it fail", file=sys.stderr)
        continue
    for wheel in set((work / "wheels").glob("*.whl")) - before:
        zipfile.ZipFile(wheel).extractall(work / "site")
    (work / "site" / f".{name}-{dist.version}").touch()
EOF

# The module: the project's CMake build with the aarch64 cross-compiler, written into a copy of
# the Python sources (with the model registry, as the wheel installs it).
rm -rf "$WORK/pkg"
git ls-files -z pyggml | while IFS= read -r -d '' f; do install -D -m 644 "$f" "$WORK/pkg/$f"; done
mkdir -p "$WORK/pkg/pyggml/model_registry" && cp models/*.toml "$WORK/pkg/pyggml/model_registry/"
cat > "$WORK/toolchain.cmake" <<'EOF'
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
EOF
cmake -S . -B "$WORK/build" -DCMAKE_TOOLCHAIN_FILE="$WORK/toolchain.cmake" -DPYGGML_CUDA=OFF \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python)" \
  -DPython_INCLUDE_DIR="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
  -DPYGGML_OUTPUT_DIR="$WORK/out" -DCMAKE_STRIP=/bin/true >/dev/null  # (symbols kept for the check below)
cmake --build "$WORK/build" -j"$(nproc)"

# No instruction of the dotprod and i8mm tiers outside their code: every function holding SDOT,
# SMMLA or FP16 arithmetic must be one of pyggml::dotprod's (neon_tier.h), or an instance of a
# template over one. An inline function of a shared header compiled into a dotprod file and
# kept by the linker for the whole module would break an ARMv8.0 core (SIGILL) wherever called.
aarch64-linux-gnu-objdump -d --no-show-raw-insn -C "$(ls "$WORK"/out/_core*.so | head -1)" | python -c '
import re, sys
head = re.compile(r"^[0-9a-f]+ <(.*)>:$")
needs = re.compile(r"\t((s|u|us|su)dot|(s|u|us)mmla|f(?!cvt)[a-z0-9]*\s+.*(\bh[0-9]+\b|\.[48]h\b))")
func, inside, outside = None, set(), set()
for line in sys.stdin:
    m = head.match(line)
    if m:
        func = m.group(1)
    elif func and needs.search(line):
        (inside if "dotprod::" in func else outside).add(func)
print(f"SDOT, SMMLA and FP16 arithmetic in {len(inside)} functions, all in pyggml::dotprod" if not outside else
      "functions with SDOT, SMMLA or FP16 arithmetic outside pyggml::dotprod:\n" + "\n".join(sorted(outside)))
sys.exit(1 if outside or not inside else 0)'
# (named for this host's Python by the build; the arm64 CPython looks for its own suffix)
cp "$(ls "$WORK"/out/_core*.so | head -1)" "$WORK/pkg/pyggml/_core.cpython-311-aarch64-linux-gnu.so"

# The arm64 CPython through qemu. sys.executable is this script, so that a test's subprocess
# runs under qemu on the same CPU (QEMU_CPU) too; it lies beside python3.11, where CPython finds
# its standard library from it (no PYTHONHOME, which the host's own Python programs would inherit).
PY="$WORK/root/usr/bin/python3-qemu"
cat > "$PY" <<EOF
#!/bin/sh
export QEMU_LD_PREFIX="$WORK/root"
exec qemu-aarch64 -0 "\$0" "$WORK/root/usr/bin/python3.11" "\$@"
EOF
chmod +x "$PY"

SITE=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export PYTHONPATH="$WORK/site:$WORK/pkg:$ROOT/tests:$ROOT/tests/native:$SITE"
# Left out by default: the real models (minutes a test under emulation: name one to run it, as
# tests/runtime/test_model.py::test_real_gemma_matches_reference), the AddressSanitizer test (it
# rebuilds the module for this host) and the two that start 1000 threads under RLIMIT_AS
# (qemu-user takes the limit but does not apply it).
if [ $# -eq 0 ]; then
  set -- -m "not real_model and not sanitizer and not llama_cpp and not faiss and not fuzz_long" \
    --deselect tests/runtime/test_bad_models.py::test_too_many_threads_is_a_clear_error_not_a_hang \
    --deselect tests/runtime/test_bad_models.py::test_cli_with_too_many_threads \
    tests/native tests/runtime tests/test_models.py
fi
status=0
for cpu in $CPUS; do
  echo "== qemu-aarch64 -cpu $cpu: $(QEMU_CPU=$cpu "$PY" -P -c 'from pyggml.runtime.cpu_tier import describe_cpu_tier; print(describe_cpu_tier())')"
  # -P: the source tree (whose pyggml holds the x86-64 module) stays off sys.path
  QEMU_CPU=$cpu "$PY" -P -m pytest -q -p no:cacheprovider "$@" || status=1
done
exit $status

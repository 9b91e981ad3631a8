#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, a CUDA toolkit (nvcc) and no network,
# builds pyggml with its CUDA back end from this working tree, runs the GPU tests, and
# prints pp512 / tg128 of synthetic models shaped like the two real models (Qwen2.5-Coder
# 1.5B Q4_K_M and Gemma 3 270M Q4_K_M, random weights of the same types) at -ngl 0, half
# the blocks and everything.
#
#   bash scripts/gpu_check.sh            # from the repository root
#
# Needs python3 with pip, numpy, scikit-build-core, pybind11, cmake, ninja, pytest, tqdm,
# pyyaml, sentencepiece and tokenizers (the test helpers) installed; `gguf` may instead come
# as a wheel in .whl/ at the repository root (see the README: "NVIDIA GPUs (CUDA)").
# QWEN_GGUF and GEMMA_GGUF may name the real model files (else the model cache is looked in;
# without them the synthetic models' figures stand in).
# Installs into a private folder (PYGGML_SITE, default /tmp/pyggml-gpu-site), never into
# the system. PYGGML_CUDA_ARCHS (default 90) picks the GPU architectures to compile.
# GPU_CHECK_QUICK=1 stops after the speed figures and decoding comparisons (no CPU model
# tests, no compute-sanitizer run).
# Order: the build, the kernel table, the GPU tests, the speed figures, the decoding
# comparisons, then the CPU model's tests and the memory check (the longest, last). Each stage has a time limit; the
# whole check is meant to take under 8 minutes on 16 cores. When OUT is set, the log goes to
# $OUT/gpu_check.log as well.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
SITE=${PYGGML_SITE:-/tmp/pyggml-gpu-site}
ARCHS=${PYGGML_CUDA_ARCHS:-90}
JOBS=$(nproc 2>/dev/null || echo 4)
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    exec > >(tee -a "$OUT/gpu_check.log") 2>&1
fi
export PYTHONUNBUFFERED=1
# nvcc from the usual toolkit folder when it is not on the PATH
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
T0=$(date +%s)
stage() { echo; echo "=== $* (at $(( $(date +%s) - T0 )) s)"; }
STATUS=0

stage "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 || echo "nvidia-smi: not found"
nvcc --version 2>&1 | tail -1 || echo "nvcc: not found"
python3 -c "import sys, numpy, pybind11; print('python', sys.version.split()[0], '| numpy', numpy.__version__, '| pybind11', pybind11.__version__)"
python3 -c "import scikit_build_core; print('scikit-build-core', scikit_build_core.__version__)" 2>&1 | tail -1
cmake --version | head -1; echo "cores: $JOBS"

stage "install the carried wheels into $SITE"
rm -rf "$SITE"; mkdir -p "$SITE"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl || STATUS=1
else
    echo "no .whl/ folder: using the gguf package installed here"
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import gguf; print('gguf from', gguf.__file__)" || { echo "gguf is missing"; exit 1; }

stage "build pyggml with CUDA (architectures $ARCHS) into $SITE"
BUILD_LOG=/tmp/pyggml-gpu-build.log
export CMAKE_ARGS="-DPYGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$ARCHS"
export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
if timeout 420 python3 -m pip install -v --no-build-isolation --no-deps --no-index --no-cache-dir --target "$SITE" . \
        > "$BUILD_LOG" 2>&1; then
    grep -E "pyggml: CUDA|Built wheel|Successfully installed" "$BUILD_LOG"
else
    echo "pip install failed; the end of its log:"; tail -40 "$BUILD_LOG"
    # the same build without pip: CMake straight into the site folder
    stage "fallback: CMake build into $SITE"
    rm -rf "$SITE/pyggml"; cp -r pyggml "$SITE/pyggml"; rm -f "$SITE"/pyggml/_core*.so
    mkdir -p "$SITE/pyggml/model_registry"; cp models/*.toml "$SITE/pyggml/model_registry/"
    if ! timeout 420 bash -c "cmake -S . -B /tmp/pyggml-gpu-cmake -G Ninja -DPYGGML_CUDA=ON \
            -DCMAKE_CUDA_ARCHITECTURES=$ARCHS -Dpybind11_DIR=\$(python3 -m pybind11 --cmakedir) \
            -DPYGGML_OUTPUT_DIR=$SITE/pyggml && cmake --build /tmp/pyggml-gpu-cmake -j $JOBS" > "$BUILD_LOG" 2>&1; then
        tail -60 "$BUILD_LOG"; echo "BUILD FAILED"; exit 1
    fi
    grep -E "pyggml: CUDA" "$BUILD_LOG"
fi
[ -n "${OUT:-}" ] && cp "$BUILD_LOG" "$OUT/build.log"
cd "$SITE"  # import the installed pyggml, not the sources
python3 -c "
import pyggml
from pyggml.runtime import gpu
print('pyggml from', pyggml.__file__)
print('GPU:', gpu.describe_device())
print('architectures:', gpu.device_info()['architectures'])
" || exit 1

stage "speed: the matrix kernels alone (scripts/gpu_kernel_times.py)"
timeout 120 python3 "$REPO/scripts/gpu_kernel_times.py" || STATUS=1

PYTEST=(python3 -m pytest -p no:cacheprovider --rootdir "$REPO" -c "$REPO/pyproject.toml" -rs --tb=short)

stage "GPU tests (tests/runtime/test_cuda.py) and the CPU side of the back end (tests/runtime/test_gpu_plan.py)"
timeout 240 "${PYTEST[@]}" -q "$REPO/tests/runtime/test_cuda.py" "$REPO/tests/runtime/test_gpu_plan.py" \
    "$REPO/tests/cli/test_cli_run.py::test_run_with_gpu_layers" \
    "$REPO/tests/api/test_llama_api.py::test_gpu_layers_run_on_a_gpu_or_are_a_clear_error" \
    --junitxml="${OUT:-/tmp}/gpu_tests.xml" || STATUS=1

stage "speed: pp512 / tg128 at -ngl 0, half and all (synthetic models with the real models' shapes and types)"
QWEN_SYN=/tmp/synthetic-qwen2.5-1.5b-q4_k_m.gguf
GEMMA_SYN=/tmp/synthetic-gemma3-270m-q4_k_m.gguf
python3 "$REPO/scripts/synthetic_bench_model.py" qwen2.5-1.5b-q4_k_m "$QWEN_SYN" || STATUS=1
python3 "$REPO/scripts/synthetic_bench_model.py" gemma3-270m-q4_k_m "$GEMMA_SYN" || STATUS=1
BENCH=(python3 -m pyggml bench -p 512 -n 128 -r 2 --no-llama-cpp --read-seconds 0.5)
timeout 150 "${BENCH[@]}" -m "$QWEN_SYN" -ngl 0,14,99 || STATUS=1
timeout 100 "${BENCH[@]}" -m "$GEMMA_SYN" -ngl 0,9,99 || STATUS=1

# The real files: QWEN_GGUF / GEMMA_GGUF, or the model cache (pyggml.models) when they are there
# (this machine has no network: they are never downloaded here).
find_model() {  # env value or registry name -> path or nothing
    if [ -n "$1" ] && [ -f "$1" ]; then echo "$1"; return; fi
    python3 -c "
import sys
from pyggml import models
p = models.cache_dir() / '$2'
sys.stdout.write(str(p) if p.is_file() else '')
" 2>/dev/null
}
QWEN_REAL=$(find_model "${QWEN_GGUF:-}" qwen2.5-coder-1.5b-instruct-q4_k_m.gguf)
GEMMA_REAL=$(find_model "${GEMMA_GGUF:-}" gemma-3-270m-q4_k_m.gguf)
stage "speed: the real models (QWEN_GGUF, GEMMA_GGUF or the model cache)"
if [ -n "$QWEN_REAL" ]; then timeout 150 "${BENCH[@]}" -m "$QWEN_REAL" -ngl 0,14,99 || STATUS=1
else echo "Qwen2.5-Coder-1.5B Q4_K_M: not on this machine (set QWEN_GGUF=path); the synthetic figures above stand in"; fi
if [ -n "$GEMMA_REAL" ]; then timeout 100 "${BENCH[@]}" -m "$GEMMA_REAL" -ngl 0,9,99 || STATUS=1
else echo "Gemma 3 270M Q4_K_M: not on this machine (set GEMMA_GGUF=path); the synthetic figures above stand in"; fi

stage "one-token decoding: integer products (default) against float32 ones (PYGGML_CUDA_MMVQ=0) and the CPU; graphs off"
Q=$QWEN_SYN
DC="$REPO/scripts/gpu_decode_compare.py"
timeout 60 python3 "$DC" "$Q" /tmp/dec_cpu.npy --cpu && timeout 30 python3 "$DC" "$Q" /tmp/dec_int8.npy \
    && PYGGML_CUDA_MMVQ=0 timeout 30 python3 "$DC" "$Q" /tmp/dec_float.npy \
    && python3 "$DC" --compare /tmp/dec_int8.npy /tmp/dec_cpu.npy \
    && python3 "$DC" --compare /tmp/dec_float.npy /tmp/dec_cpu.npy \
    && python3 "$DC" --compare /tmp/dec_int8.npy /tmp/dec_float.npy || echo "decoding comparison failed"
QUICK=(python3 -m pyggml bench -p 16 -n 128 -r 2 --no-llama-cpp --read-seconds 0.05 -ngl 99)
echo "tg128, everything on the GPU: integer products (default), float32 products, no CUDA graphs"
timeout 40 "${QUICK[@]}" -m "$Q" 2>&1 | grep -E "tg128|error" || STATUS=1
PYGGML_CUDA_MMVQ=0 timeout 40 "${QUICK[@]}" -m "$Q" 2>&1 | grep -E "tg128|error" || STATUS=1
PYGGML_CUDA_GRAPHS=0 timeout 40 "${QUICK[@]}" -m "$Q" 2>&1 | grep -E "tg128|error" || STATUS=1

if [ -n "${GPU_CHECK_QUICK:-}" ]; then
    stage "done: status $STATUS (GPU_CHECK_QUICK: without the CPU model's tests and the memory check)"
    exit $STATUS
fi

stage "the CPU model's tests on this build (tests/runtime/test_model.py)"
timeout 120 "${PYTEST[@]}" -q -m "not real_model" "$REPO/tests/runtime/test_model.py" || STATUS=1

MEMCHECK_TESTS="test_logits_match_reference and (7-5-gemma3 or 64-4-qwen2) or test_decoding_one_token_at_a_time or (test_quantized_decoding_with_int8_products and (Q4_K or Q6_K or Q5_0)) or (test_integer_matvec_of_several_matrices and Q4_K) or (test_integer_matvec and 67-768)"
if command -v compute-sanitizer >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
    SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    stage "memcheck of whole models on the GPU (compute-sanitizer)"
    timeout 120 "$SAN" --tool memcheck --error-exitcode 3 --print-limit 20 "${PYTEST[@]}" -q -x \
        "$REPO/tests/runtime/test_cuda.py" \
        -k "$MEMCHECK_TESTS" \
        || echo "memcheck: exit status $? (3: memory errors found, 124: out of time)"
fi

stage "done: status $STATUS"
exit $STATUS

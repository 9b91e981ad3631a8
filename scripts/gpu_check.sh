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
# as a wheel in .whl/ at the repository root (see the README: "Checking the GPU back end").
# Installs into a private folder (PYGGML_SITE, default /tmp/pyggml-gpu-site), never into
# the system. PYGGML_CUDA_ARCHS (default 90) picks the GPU architectures to compile.
# The kernel table comes first, right after the build. Each stage has a time limit; the
# whole check takes about 2 minutes on 16 cores (an H200: 85 s before the graph stage). When OUT
# is set, the log goes to $OUT/gpu_check.log as well.
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
timeout 300 "${PYTEST[@]}" -q "$REPO/tests/runtime/test_cuda.py" "$REPO/tests/runtime/test_gpu_plan.py" \
    "$REPO/tests/cli/test_cli_run.py::test_run_with_gpu_layers" \
    "$REPO/tests/api/test_llama_api.py::test_gpu_layers_run_on_a_gpu_or_are_a_clear_error" \
    --junitxml="${OUT:-/tmp}/gpu_tests.xml" || STATUS=1

stage "the CPU model's tests on this build (tests/runtime/test_model.py)"
timeout 180 "${PYTEST[@]}" -q -m "not real_model" "$REPO/tests/runtime/test_model.py" || STATUS=1

if command -v compute-sanitizer >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
    SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    stage "memcheck of whole models on the GPU (compute-sanitizer)"
    timeout 90 "$SAN" --tool memcheck --error-exitcode 3 --print-limit 20 "${PYTEST[@]}" -q -x \
        "$REPO/tests/runtime/test_cuda.py" \
        -k "test_logits_match_reference and (7-5-gemma3 or 64-4-qwen2) or test_decoding_one_token_at_a_time" \
        || echo "memcheck: exit status $? (3: memory errors found, 124: out of time)"
fi

stage "speed: synthetic models with the real models' shapes and types"
python3 "$REPO/scripts/synthetic_bench_model.py" qwen2.5-1.5b-q4_k_m /tmp/synthetic-qwen2.5-1.5b-q4_k_m.gguf || STATUS=1
python3 "$REPO/scripts/synthetic_bench_model.py" gemma3-270m-q4_k_m /tmp/synthetic-gemma3-270m-q4_k_m.gguf || STATUS=1
BENCH=(python3 -m pyggml bench -p 512 -n 128 -r 2 --no-llama-cpp --read-seconds 0.5)
timeout 180 "${BENCH[@]}" -m /tmp/synthetic-qwen2.5-1.5b-q4_k_m.gguf -ngl 0,14,99 || STATUS=1
timeout 120 "${BENCH[@]}" -m /tmp/synthetic-gemma3-270m-q4_k_m.gguf -ngl 0,9,99 || STATUS=1

stage "CUDA graphs: one-token decoding with graph replay (default) and without (PYGGML_CUDA_GRAPHS=0)"
QUICK=(python3 -m pyggml bench -p 16 -n 128 -r 2 --no-llama-cpp --read-seconds 0.05 -ngl 99)
timeout 60 "${QUICK[@]}" -m /tmp/synthetic-qwen2.5-1.5b-q4_k_m.gguf 2>&1 | grep -E "tg128|error|graphs" || STATUS=1
PYGGML_CUDA_GRAPHS=0 timeout 60 "${QUICK[@]}" -m /tmp/synthetic-qwen2.5-1.5b-q4_k_m.gguf 2>&1 | grep -E "tg128|error|graphs" \
    || STATUS=1

stage "opt-in integer Q4_K matrix-vector kernel in the model (PYGGML_CUDA_MMVQ=1): decoding logits and tg128"
Q=/tmp/synthetic-qwen2.5-1.5b-q4_k_m.gguf
DC="$REPO/scripts/gpu_decode_compare.py"
timeout 60 python3 "$DC" "$Q" /tmp/dec_cpu.npy --cpu && timeout 30 python3 "$DC" "$Q" /tmp/dec_float.npy \
    && PYGGML_CUDA_MMVQ=1 timeout 30 python3 "$DC" "$Q" /tmp/dec_int8.npy \
    && python3 "$DC" --compare /tmp/dec_float.npy /tmp/dec_cpu.npy \
    && python3 "$DC" --compare /tmp/dec_int8.npy /tmp/dec_cpu.npy \
    && python3 "$DC" --compare /tmp/dec_int8.npy /tmp/dec_float.npy || echo "decoding comparison failed"
PYGGML_CUDA_MMVQ=1 timeout 60 "${QUICK[@]}" -m "$Q" 2>&1 | grep -E "tg128|error|graphs" \
    || echo "tg128 with PYGGML_CUDA_MMVQ=1 failed"

stage "done: status $STATUS"
exit $STATUS

"""The CUDA back end's CPU side, on any machine: placements (-ngl, named blocks, placement
files), the GPU memory plan against sizes counted here from the GGUF file, the clear errors
without a GPU or without enough GPU memory, the import and the device query without a
driver, and the build option (PYGGML_CUDA) at configure time. The GPU itself: test_cuda.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyggml
from pyggml import GPUError, Model
from pyggml.formats.types import GGMLType
from pyggml.runtime import gpu
from pyggml.cli import main
from pyggml.runtime.hparams import read_hparams
from pyggml.runtime.model import _native_tensors, _open_gguf

from support.synthetic_models import make_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_GPU = not gpu.available()


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """arch -> (path, hparams): qwen2 (biases, tied head) in Q4_K and gemma3 (two rope bases,
    q/k norms, post norms) in Q8_0, three blocks each."""
    d = tmp_path_factory.mktemp("gpu_plan")
    out = {}
    for arch, wtype in (("qwen2", "Q4_K"), ("gemma3", "Q8_0"), ("llama", "F16")):
        path = str(d / f"{arch}.gguf")
        out[arch] = (path, make_model(arch, path, wtype=wtype, seed=3, n_layer=3))
    return out


def loaded(path):
    _, meta, tensors = _open_gguf(path)
    return read_hparams(path, meta, tensors), _native_tensors(path, tensors)


# ---------------------------------------------------------------- placements

def test_ngl_places_the_last_blocks_and_the_head_past_the_block_count():
    P = gpu.Placement
    assert gpu.placement(28, 0) == P()
    assert gpu.placement(28, 1) == P((27,), False)
    assert gpu.placement(28, 14) == P(tuple(range(14, 28)), False)
    assert gpu.placement(28, 28) == P(tuple(range(28)), False)  # llama.cpp: the head needs one more
    assert gpu.placement(28, 29) == P(tuple(range(28)), True)
    assert gpu.placement(28, 99) == gpu.placement(28, -1) == P(tuple(range(28)), True)
    assert not gpu.placement(28, 0).any and gpu.placement(28, 1).any


def test_named_blocks_specs_and_files(tmp_path):
    P = gpu.Placement
    assert gpu.placement(28, gpu_layers="12-14,20,output") == P((12, 13, 14, 20), True)
    assert gpu.placement(28, gpu_layers="output") == P((), True)
    assert gpu.placement(4, gpu_layers="all") == P((0, 1, 2, 3), True)
    assert gpu.placement(28, gpu_layers=[3, 1, "output"]) == P((1, 3), True)
    toml = tmp_path / "place.toml"
    toml.write_text('layers = "10-11"\noutput = true\n')
    assert gpu.placement(28, gpu_layers=str(toml)) == P((10, 11), True)
    toml.write_text("layers = [0, 5]\n")
    assert gpu.placement(28, gpu_layers=toml) == P((0, 5), False)
    plain = tmp_path / "place.txt"
    plain.write_text("26-27,output\n")
    assert gpu.placement(28, gpu_layers=str(plain)) == P((26, 27), True)
    for bad in ("28", "5-3", "x", "1-y"):
        with pytest.raises(ValueError):
            gpu.placement(28, gpu_layers=bad)
    with pytest.raises(ValueError, match="not both"):
        gpu.placement(28, 3, gpu_layers="1")
    toml.write_text("blocks = 3\n")
    with pytest.raises(ValueError, match="unknown keys"):
        gpu.placement(28, gpu_layers=str(toml))


def test_describe_and_ranges():
    assert gpu.format_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert gpu.placement(28, 14).describe(28) == "blocks 14-27 (14 of 28)"
    assert gpu.placement(28, 99).describe(28) == "blocks 0-27 (28 of 28) and the output head"
    assert gpu.placement(28, 1).describe(28) == "block 27 (1 of 28)"
    assert gpu.Placement((), True).describe(28) == "the output head"


# ---------------------------------------------------------------- the memory plan

def expected_plan(path, hp, layers, output, n_ctx, n_batch):
    """What the GPU part must hold, counted from the file: each piece on a 256-byte boundary;
    matrices as stored, norms and biases as float32; an F16 cache; the scratch of
    cpp/cuda/gpu_walk.h (activations of n_batch tokens, a cos/sin table per distinct
    rotation, the logits of up to 64 tokens, one token's activations as int8)."""
    from gguf import GGUFReader

    def al(b):
        return (b + 255) // 256 * 256

    t = {x.name: x for x in GGUFReader(path).tensors}

    def piece(name):
        x = t[name]
        return al(int(x.n_bytes)) if len(x.shape) > 1 and x.shape[1] > 1 else al(int(x.n_elements) * 4)

    weights = sum(piece(n) for n in t if n.startswith("blk.") and int(n.split(".")[1]) in layers)
    if output:
        weights += piece("output_norm.weight") + piece("output.weight" if "output.weight" in t else "token_embd.weight")
    k_dim, v_dim = hp["n_head_kv"] * hp["head_dim_k"], hp["n_head_kv"] * hp["head_dim_v"]
    kv = len(layers) * (al(n_ctx * k_dim * 2) + al(n_ctx * v_dim * 2))
    scratch = 0
    if layers or output:
        n_sets = len(set(zip(hp["layer_rope_base"], hp["layer_rope_scale"])))
        B, E = n_batch, hp["n_embd"]
        floats = [B * E, B * E, B * hp["n_head"] * hp["head_dim_k"], B * k_dim, B * v_dim,
                  B * hp["n_head"] * hp["head_dim_v"], B * E, B * hp["n_ff"], B * hp["n_ff"],
                  n_sets * B * hp["n_rot"], (min(B, 64) * hp["n_vocab"]) if output else 0, 1]
        scratch = sum(al(4 * f) for f in floats)
        # one token's activations as int8 (and a float per 32) for the integer matrix-vector kernels
        widest = -(-max(E, hp["n_head"] * hp["head_dim_v"], hp["n_ff"]) // 32) * 32
        scratch += al(widest + widest // 32 * 4)
    return {"weights": weights, "kv": kv, "scratch": scratch, "total": weights + kv + scratch}


@pytest.mark.parametrize("arch", ["qwen2", "gemma3", "llama"])
@pytest.mark.parametrize("ngl", [0, 1, 3, 4])
def test_plan_counts_what_the_gpu_holds(synth, arch, ngl):
    path, _ = synth[arch]
    hp, tensors = loaded(path)
    where = gpu.placement(hp["n_layer"], ngl)
    got = gpu.plan(hp, tensors, where, n_ctx=300, n_batch=100)
    assert got == expected_plan(path, hp, set(where.layers), where.output, 300, 100)
    # named blocks, not the last ones: the same sizes for the same count
    if ngl == 1:
        assert gpu.plan(hp, tensors, gpu.Placement((0,), False), 300, 100)["total"] == got["total"]


def test_plan_grows_with_blocks_context_and_batch(synth):
    path, _ = synth["qwen2"]
    hp, tensors = loaded(path)
    totals = [gpu.plan(hp, tensors, gpu.placement(3, n), 256, 64)["total"] for n in range(5)]
    assert totals[0] == 0 and totals == sorted(totals) and len(set(totals)) == 5
    one = gpu.placement(3, 1)
    assert gpu.plan(hp, tensors, one, 512, 64)["kv"] == 2 * gpu.plan(hp, tensors, one, 256, 64)["kv"]
    assert gpu.plan(hp, tensors, one, 512, 128)["scratch"] > gpu.plan(hp, tensors, one, 512, 64)["scratch"]
    # n_batch beyond n_ctx counts as n_ctx, as the model clamps it
    assert gpu.plan(hp, tensors, one, 64, 512) == gpu.plan(hp, tensors, one, 64, 64)


def test_plan_refuses_what_the_kernels_cannot_run(tmp_path):
    path = str(tmp_path / "hd12.gguf")
    make_model("llama", path, head_dim=12, n_embd=64, n_head=4, n_head_kv=2)  # keys not a multiple of 8
    hp, tensors = loaded(path)
    assert gpu.plan(hp, tensors, gpu.Placement((), True), 64, 8)["total"] > 0  # the head alone needs no attention
    with pytest.raises(GPUError, match="head sizes"):
        gpu.plan(hp, tensors, gpu.placement(hp["n_layer"], 1), 64, 8)


def test_largest_fit(synth):
    path, _ = synth["gemma3"]
    hp, tensors = loaded(path)
    totals = [gpu.plan(hp, tensors, gpu.placement(3, n), 128, 32)["total"] for n in range(5)]
    for n in range(5):
        free = totals[n] + gpu.RESERVE_BYTES
        assert gpu.largest_fit(hp, tensors, 128, 32, free) == n
        assert gpu.largest_fit(hp, tensors, 128, 32, free - 1) == max(n - 1, 0)


# ---------------------------------------------------------------- errors before anything is uploaded

def fake_device(monkeypatch, free_bytes):
    info = dict(gpu.device_info(), available=True, reason="", name="Fake GPU", compute_capability=(8, 6),
                multiprocessors=20, total_bytes=free_bytes, free_bytes=free_bytes, driver_version=13000,
                runtime_version=13000)
    monkeypatch.setattr(gpu, "device_info", lambda device=0: dict(info))


def test_not_enough_gpu_memory_is_a_clear_error(synth, monkeypatch):
    path, _ = synth["qwen2"]
    hp, tensors = loaded(path)
    two = gpu.plan(hp, tensors, gpu.placement(3, 2), 256, 64)["total"]
    fake_device(monkeypatch, two + gpu.RESERVE_BYTES + 1000)  # two blocks fit, three do not
    with pytest.raises(GPUError) as e:
        Model.load(path, n_ctx=256, n_batch=64, n_gpu_layers=3)
    msg = str(e.value)
    assert "n_gpu_layers=3" in msg and "Fake GPU" in msg and "n_gpu_layers=2 fits" in msg and "KV cache" in msg


def test_cpu_memory_check_leaves_out_what_the_gpu_holds(synth, monkeypatch):
    # the CPU check counts the KV cache, buffers and weight copies of the blocks left on the CPU only
    from pyggml.runtime import model as model_mod
    from pyggml.errors import ResourceError

    path, _ = synth["qwen2"]
    _, meta, tensors = _open_gguf(path)
    hp = read_hparams(path, meta, tensors)
    n_ctx = 1 << 20
    monkeypatch.setattr(model_mod, "_physical_memory", lambda: 1 << 30)
    monkeypatch.setattr(model_mod, "_address_space_left", lambda: None)
    with pytest.raises(ResourceError, match="KV cache"):
        model_mod._check_resources(path, hp, tensors, n_ctx, 64, 2, GGMLType.F16, copies=True)
    with pytest.raises(ResourceError, match="KV cache"):  # one block left on the CPU still holds its cache
        model_mod._check_resources(path, hp, tensors, n_ctx, 64, 2, GGMLType.F16, copies=True,
                                   gpu_blocks=range(1, hp["n_layer"]))
    model_mod._check_resources(path, hp, tensors, n_ctx, 64, 2, GGMLType.F16, copies=True,
                               gpu_blocks=range(hp["n_layer"]), gpu_output=True)


@pytest.mark.skipif(not NO_GPU, reason="a usable GPU is present")
def test_gpu_layers_without_a_gpu_are_a_clear_error(synth, capsys):
    path, _ = synth["llama"]
    reason = gpu.device_info()["reason"]
    assert reason
    with pytest.raises(GPUError, match="needs a CUDA GPU") as e:
        Model.load(path, n_ctx=64, n_gpu_layers=1)
    assert reason in str(e.value)
    with pytest.raises(GPUError, match="needs a CUDA GPU"):
        Model.load(path, n_ctx=64, gpu_layers="output")
    with pytest.raises(GPUError, match="needs a CUDA GPU"):
        pyggml.Llama(path, n_ctx=64, n_gpu_layers=-1, verbose=False)
    assert main(["run", "-m", path, "-p", "hi", "-n", "1", "-ngl", "99"]) == 1
    assert "needs a CUDA GPU" in capsys.readouterr().err
    # -ngl 0 and the default stay on the CPU
    assert Model.load(path, n_ctx=64, n_gpu_layers=0).gpu_bytes is None


def test_bad_placements_are_gpu_errors(synth):
    path, _ = synth["llama"]
    with pytest.raises(GPUError, match="does not exist"):
        Model.load(path, n_ctx=64, gpu_layers="7")
    with pytest.raises(GPUError, match="not both"):
        Model.load(path, n_ctx=64, n_gpu_layers=1, gpu_layers="1")


def test_cpu_model_reports_no_gpu(synth):
    m = Model.load(synth["llama"][0], n_ctx=64)
    assert m.gpu_bytes is None and m.gpu_device is None and not m.gpu_placement.any
    assert m.placement_summary() == "all on the CPU"


# ---------------------------------------------------------------- the build and the driver

def test_device_query_without_a_device_imports_and_explains():
    # CUDA_VISIBLE_DEVICES="" hides every GPU from a CUDA build; a build without CUDA says so
    code = textwrap.dedent("""
        import json, pyggml
        from pyggml.runtime import gpu
        print(json.dumps(dict(gpu.device_info(), compute_capability=None)))
    """)
    here = os.path.dirname(os.path.dirname(pyggml.__file__))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd="/")
    info = json.loads(out.stdout)
    assert info["available"] is False and info["reason"]
    assert info["compiled"] == gpu.compiled()
    if info["compiled"]:
        assert info["runtime_version"] > 0 and info["architectures"]


def test_info_reports_the_gpu_and_the_placement(synth, capsys):
    path, _ = synth["qwen2"]
    assert main(["info", path, "--json", "-ngl", "2", "-c", "256", "-b", "64"]) == 0
    g = json.loads(capsys.readouterr().out)["gpu"]
    assert g["device"]["compiled"] == gpu.compiled()
    p = g["placement"]
    assert (p["layers"], p["output"], p["n_ctx"], p["n_batch"]) == ([1, 2], False, 256, 64)
    hp, tensors = loaded(path)
    assert p["bytes"] == gpu.plan(hp, tensors, gpu.placement(3, 2), 256, 64)
    assert main(["info", path]) == 0
    text = capsys.readouterr().out
    assert "\nGPU\n" in text and "-ngl -1 -c 4096 -b 512" in text and "and the output head on the GPU" in text


def test_info_on_a_file_that_cannot_be_planned(make_gguf, capsys):
    path = make_gguf(arch="llama", tensors={"a.weight": np.ones((2, 32), np.float32)},
                     metadata={"llama.embedding_length": 32, "llama.block_count": 1})
    assert main(["info", path, "--json"]) == 0
    g = json.loads(capsys.readouterr().out)["gpu"]
    assert g["placement"] is None and g["placement_error"]


def _configure(tmp_path, *args, env=None):
    import pybind11

    if not shutil.which("cmake"):
        pytest.skip("cmake is not installed")
    out = subprocess.run(
        ["cmake", "-S", ROOT, "-B", str(tmp_path / "build"), f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", *args],
        capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_configure_without_cuda(tmp_path):
    assert "CUDA back end off (PYGGML_CUDA=OFF)" in _configure(tmp_path, "-DPYGGML_CUDA=OFF")


def test_configure_auto_without_a_cuda_compiler(tmp_path):
    out = _configure(tmp_path, env={"CUDACXX": str(tmp_path / "no-nvcc")})
    assert "CUDA back end off (PYGGML_CUDA=AUTO)" in out


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("nvcc"), reason="no CUDA compiler on the PATH")
def test_configure_auto_with_nvcc(tmp_path):
    out = _configure(tmp_path)
    assert "CUDA back end on" in out and "75-real;80-real;86-real;89-real;90" in out

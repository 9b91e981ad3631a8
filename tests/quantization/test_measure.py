"""--target-bpw --measure: layer output errors, measured sensitivities, the allocation, the CLI."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from pyggml.errors import PyggmlError
from pyggml.formats.gguf_file import GGUFFile
from pyggml.formats.quants import dequantize, encode_tensor
from pyggml.formats.types import GGMLType
from pyggml.quantization import calibration as C
from pyggml.quantization import measure as M
from pyggml.quantization.requantize import requantize
from pyggml.runtime.model import Model

from support.synthetic_models import TRAINING_TEXT, make_model

SIZES = dict(n_embd=256, n_head=8, head_dim=32, n_ff=512)
CAL = dict(n_seq=2, seq_len=48, measure_tokens=40)


@pytest.fixture(scope="module")
def calib_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "calib.txt"
    path.write_text(TRAINING_TEXT * 20)
    return str(path)


@pytest.fixture(scope="module")
def f32_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("measure") / "llama.gguf"
    make_model("llama", path, "F32", seed=5, n_layer=2, **SIZES)
    return str(path)


@pytest.fixture(scope="module")
def measured(f32_model, calib_text):
    before = hashlib.sha256(open(f32_model, "rb").read()).hexdigest()
    m = M.measure(f32_model, text=calib_text, n_threads=2, progress=False, **CAL)
    assert hashlib.sha256(open(f32_model, "rb").read()).hexdigest() == before  # the swaps never reach the file
    return m


def _kld(p_logits, q_logits):
    lp = p_logits - np.log(np.exp(p_logits - p_logits.max(1, keepdims=True)).sum(1, keepdims=True)) - p_logits.max(1, keepdims=True)
    lq = q_logits - np.log(np.exp(q_logits - q_logits.max(1, keepdims=True)).sum(1, keepdims=True)) - q_logits.max(1, keepdims=True)
    return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))


def test_every_matrix_is_measured_with_its_reference_as_the_anchor(measured, f32_model):
    with GGUFFile(f32_model) as g:
        matrices = [t.name for t in g.tensors if len(t.shape) == 2]
    assert sorted(c.name for c in measured.costs) == sorted(matrices)
    for c in measured.costs:
        ref, kld = measured.reference[c.name]
        assert ref == GGMLType.Q3_K and kld > 0
        bits = [o[1] for o in c.options]
        assert bits == sorted(bits)
        # the reference's cost is its measured KLD; every cost is finite and not negative
        assert dict((t, cost) for t, _, cost in c.options)[ref] == pytest.approx(kld, rel=1e-12)
        assert all(np.isfinite(cost) and cost >= 0 for _, _, cost in c.options)
        # more bits, less output error, for the k-quant ladder
        k = dict((t, cost) for t, _, cost in c.options)
        assert k[GGMLType.Q2_K] > k[GGMLType.Q3_K] > k[GGMLType.Q4_K] > k[GGMLType.Q6_K] > k[GGMLType.Q8_0]


def test_measured_kld_is_that_of_a_file_with_the_tensor_rounded(measured, f32_model, calib_text, tmp_path):
    """The in-place swap gives the KLD of a model whose one tensor is its reference round trip."""
    name = "blk.1.ffn_down.weight"
    ref, kld = measured.reference[name]
    with GGUFFile(f32_model) as g:
        w = g.array(name)
    back = dequantize(encode_tensor(w, ref, name, measured.imatrix, 2), ref, w.shape)
    out = str(tmp_path / "one.gguf")
    requantize(f32_model, out, "F32", pure=True, replace=lambda n: back if n == name else None, progress=False)
    seq = C.load_sequences(f32_model, calib_text, CAL["n_seq"], CAL["seq_len"])[0][:CAL["measure_tokens"]]
    base = Model.load(f32_model, n_ctx=64, repack=False).eval(seq, all_logits=True)
    swapped = Model.load(out, n_ctx=64, repack=False).eval(seq, all_logits=True)
    assert _kld(base, swapped) == pytest.approx(kld, rel=1e-3)


def test_output_error_is_the_layer_output_difference():
    rng = np.random.default_rng(0)
    x, d = rng.standard_normal((30, 16)), rng.standard_normal((5, 16))
    assert M._output_error(x.astype(np.float32), d.astype(np.float32), None) == pytest.approx(
        float(np.sum((x @ d.T) ** 2)), rel=1e-5)
    counts = np.array([1.0, 2.0, 0.0, 3.0, 1.0])
    assert M._output_error(None, d, counts) == pytest.approx(float(np.sum(counts[:, None] * d ** 2)))


def test_the_choice_meets_the_budget_and_buys_less_kld_with_more_bits(measured, f32_model, tmp_path):
    previous = None
    for bpw in (3.0, 4.5, 6.5):
        out = str(tmp_path / f"m{bpw}.gguf")
        table, _ = M.quantize_measured(f32_model, out, bpw, measurement=measured, progress=False)
        with GGUFFile(out) as g:
            got = 8 * sum(t.n_bytes for t in g.tensors) / sum(t.n_elements for t in g.tensors)
            assert got <= bpw + 1e-9
        predicted = measured.predicted_kld({r[0]: r[3] for r in table})
        if previous is not None:
            assert predicted < previous
        previous = predicted
        Model.load(out, n_ctx=32).eval([1, 2, 3])  # the file runs


def test_a_measurement_saves_and_loads(measured, tmp_path):
    path = tmp_path / "m.json"
    M.save_measurement(measured, path)
    back = M.load_measurement(path)
    assert back.choose(4.0) == measured.choose(4.0)
    assert back.reference == measured.reference
    assert all(np.array_equal(back.imatrix[n], v) for n, v in measured.imatrix.items())
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(PyggmlError, match="bad.json.*not a pyggml measurement"):
        M.load_measurement(tmp_path / "bad.json")
    with pytest.raises(PyggmlError, match="no such measurement"):
        M.load_measurement(tmp_path / "missing.json")


def test_a_quantized_source_or_too_few_tokens_is_refused(f32_model, calib_text, tmp_path):
    q = str(tmp_path / "q.gguf")
    requantize(f32_model, q, "Q8_0", progress=False)
    with pytest.raises(PyggmlError, match=r"q\.gguf.*is Q8_0.*pyggml quantize IN base.gguf F16"):
        M.measure(q, text=calib_text, progress=False, **CAL)
    with pytest.raises(PyggmlError, match="at least 2"):
        M.measure(f32_model, text=calib_text, progress=False, n_seq=1, seq_len=16, measure_tokens=1)


def test_cli_measures_once_and_quantizes_to_several_sizes(f32_model, calib_text, tmp_path, capsys):
    from pyggml.cli import main

    mfile = str(tmp_path / "m.json")
    common = ["--measure", "--calib", calib_text, "--chunks", "2", "-c", "48", "--measure-tokens", "40",
              "--measurement", mfile, "--no-progress", "-t", "2"]
    assert main(["quantize", f32_model, str(tmp_path / "a.gguf"), "--target-bpw", "4"] + common) == 0
    err = capsys.readouterr().err
    assert "predicted KLD" in err and "measurement read" not in err
    assert main(["quantize", f32_model, str(tmp_path / "b.gguf"), "--target-bpw", "5",
                 "--imatrix-out", str(tmp_path / "i.gguf")] + common) == 0
    out, err = capsys.readouterr()
    assert "measurement read from" in err and "bits per weight" in out
    assert (tmp_path / "i.gguf").exists()
    assert main(["quantize", f32_model, str(tmp_path / "c.gguf"), "Q4_K_M", "--measure"]) == 1
    assert "--measure chooses the types for --target-bpw" in capsys.readouterr().err

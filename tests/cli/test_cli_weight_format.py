"""-wf / --weight-format on the commands that load a model: the format is used and reported;
a bad name is an error that lists the valid ones."""

from __future__ import annotations

import pytest
from support.synthetic_models import make_model

from pyggml import Llama
from pyggml.cli import main


@pytest.fixture(scope="module")
def f16(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cliwf") / "llama-f16.gguf")
    make_model("llama", path, wtype="F16", n_ff=192)
    return path


def test_run_with_weight_format(f16, capsys):
    assert main(["run", "-m", f16, "-p", "hello", "-n", "4", "--temp", "0", "-c", "32", "--ignore-eos",
                 "-wf", "nf4"]) == 0
    out, err = capsys.readouterr()
    assert "weight format nf4: 14 matrices" in err and "bits per weight (scales included)" in err
    expected = Llama(f16, n_ctx=32, verbose=False, weight_format="nf4")("hello", max_tokens=4, temperature=0)
    assert out == "hello" + expected["choices"][0]["text"] + "\n"


def test_llm_int8_threshold_flag(f16, capsys):
    assert main(["run", "-m", f16, "-p", "hi", "-n", "2", "--temp", "0", "-c", "32",
                 "--weight-format", "llm.int8", "--int8-threshold", "2.5"]) == 0
    err = capsys.readouterr().err
    assert "weight format llm.int8" in err and "outlier threshold 2.5" in err


def test_bench_reports_the_format(f16, capsys):
    assert main(["bench", "-m", f16, "-p", "8", "-n", "2", "-r", "1", "--no-llama-cpp", "--read-seconds", "0.05",
                 "-wf", "int8-zeropoint:block64"]) == 0
    out = capsys.readouterr().out
    assert "weight format int8-zeropoint:block64" in out and "pyggml -wf int8-zeropoint:block64" in out


def test_bad_weight_format_lists_valid_names(f16, capsys):
    assert main(["run", "-m", f16, "-p", "hi", "-n", "1", "-wf", "int4"]) != 0
    err = capsys.readouterr().err
    assert "unknown weight format 'int4'; valid names: int8-absmax" in err and "fp4:nodq" in err

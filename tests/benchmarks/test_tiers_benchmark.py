"""benchmarks/tiers.py times each tier, and with --baseline another build of pyggml beside it
in the same turns: the baseline's workers must import that build, not the one under test."""
import os

import pytest

import pyggml
from pyggml import _core
from support.script_module import load_script

SCRIPT = "benchmarks/tiers.py"


def run(capsys, *extra):
    tier = _core.cpu_tier()["tier"]
    load_script(SCRIPT).main(["--tiers", tier, "--types", "Q4_0", "--shapes", "64x256", "--tokens", "8", "--threads",
                              "1", "--rounds", "1", *extra])
    return tier, capsys.readouterr().out.splitlines()


def test_each_tier_beside_its_baseline(tmp_path, capsys):
    build = tmp_path / "before"
    build.mkdir()
    os.symlink(os.path.dirname(pyggml.__file__), build / "pyggml")  # the same package, found there
    tier, lines = run(capsys, "--baseline", str(build))
    header = next(line for line in lines if line.startswith("type"))
    assert f"{tier} base" in header and f"{tier}/{tier} base" in header
    row = next(line for line in lines if line.startswith("Q4_0")).split()
    assert row[1] == "64x256"
    own, base, ratio = (float(v) for v in row[2:5])
    assert own > 0 and base > 0
    # the rates are printed to 0.1, the ratio (of the unrounded rates) to 0.01
    assert (own - 0.05) / (base + 0.05) - 0.005 <= ratio <= (own + 0.05) / max(base - 0.05, 1e-9) + 0.005


def test_a_baseline_without_pyggml_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit, match="is pyggml built there"):
        run(capsys, "--baseline", str(tmp_path))

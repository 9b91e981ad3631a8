"""benchmarks/weight_formats.py runs end to end on a small model: every kind of row (the base, GGUF
types rounded to nearest and with the importance matrix, -wf formats, calibrated rows reused
from another file, rows of an extra file), the speed and memory columns, the table and the plot."""
import json
import sys

from support.script_module import load_script
from support.synthetic_models import make_model

SCRIPT = "benchmarks/weight_formats.py"


def test_one_table_on_a_small_model(tmp_path):
    work = tmp_path / "work"
    (work / "tiny").mkdir(parents=True)
    make_model("llama", work / "tiny" / "base-F16.gguf", wtype="F16", n_ff=192)
    calibrated = tmp_path / "calibrated.json"
    calibrated.write_text(json.dumps([
        {"model": "tiny", "method": "gptq", "type": "Q4_0", "chunks": 2, "bpw": 5.0, "ppl": 9.0, "ppl_unc": 0.5,
         "kld": 0.02, "same_top": 0.9},
        {"model": "tiny", "method": "awq", "type": "Q4_0", "chunks": 3, "bpw": 5.0, "ppl": 9.0, "kld": 0.02,
         "same_top": 0.9}]))  # other chunks: left out
    extra = tmp_path / "measure.json"
    extra.write_text(json.dumps({"rows": [{"model": "tiny", "method": "measured", "type": "4.25bpw", "chunks": 2,
                                           "bpw": 4.4, "matrix_bpw": 4.25, "kld": 0.03,
                                           "family": "measured allocation"},
                                          {"model": "tiny", "method": "measured", "type": "x", "chunks": 2, "bpw": 4.4,
                                           "kld": 0.03, "base": "dithered"}]}))
    try:
        import matplotlib  # noqa: F401  (the plot needs the bench extra)
        png = tmp_path / "methods.png"
    except ImportError:
        png = None
    mod = load_script(SCRIPT)
    argv = ["--models", "tiny", "--chunks", "2", "--ctx", "64", "--threads", "1", "--types", "Q8_0,Q4_0",
            "--imatrix-types", "Q4_0", "--formats", "llm.int8,nf4", "--calib-chunks", "1", "--pp", "8", "--tg", "2",
            "--rounds", "1", "--work-dir", str(work), "--calibrated", str(calibrated), "--extra", str(extra),
            "--json", str(tmp_path / "methods.json"), "--markdown", str(tmp_path / "methods.md"),
            "--plot", str(png or "")]
    assert mod.main(argv) == 0
    rows = {r["method"]: r for r in json.loads((tmp_path / "methods.json").read_text())}
    assert set(rows) == {"F16 (base)", "Q8_0", "Q4_0", "Q4_0 + imatrix", "Q4_0 + GPTQ", "llm.int8", "nf4"}
    assert rows["F16 (base)"]["kld"] == 0 and rows["F16 (base)"]["bpw"] == 16
    for name in ("Q8_0", "Q4_0", "Q4_0 + imatrix", "llm.int8", "nf4"):
        r = rows[name]
        assert r["kld"] > 0 and 0 < r["same_top"] <= 1 and r["pp_tps"] > 0 and r["tg_tps"] > 0 and r["ref_tg_tps"] > 0
        if sys.platform.startswith("linux"):
            assert r["rss_mib"] > 0
    assert rows["Q8_0"]["bpw"] == 8.5 and rows["Q4_0"]["bpw"] == 4.5 and rows["nf4"]["family"] == "NF4"
    assert rows["Q4_0 + imatrix"]["family"] == "GGUF + imatrix"
    assert len(rows["llm.int8"]["outliers_per_layer_by_site"]) == 4
    gptq = rows["Q4_0 + GPTQ"]  # calibrated.json's quality at the Q4_0 file's bits, speed and memory
    assert gptq["kld"] == 0.02 and gptq["source"] == "calibrated.json" and gptq["bpw"] == 4.5
    assert gptq["tg_tps"] == rows["Q4_0"]["tg_tps"] and gptq["speed_from"] == "Q4_0"
    table = (tmp_path / "methods.md").read_text()
    assert "| tiny | measured 4.25bpw ² | 4.250 |" in table and "| tiny | Q4_0 + GPTQ ¹ |" in table
    assert "measured x" not in table  # scored against another base: left out
    assert not list((work / "tiny").glob("pyggml-*.gguf"))  # made files removed without --keep
    if png is not None:
        assert png.stat().st_size > 10_000

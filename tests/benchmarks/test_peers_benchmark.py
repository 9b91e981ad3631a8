"""benchmarks/peers.py reads each runtime's figures: pyggml's (and llama.cpp's) from a real
`pyggml bench` run, ik_llama.cpp's from llama-bench's JSON, and prints the table of medians."""
import json
import stat

from support.script_module import load_script

SCRIPT = "benchmarks/peers.py"


def fake_llama_bench(tmp_path, pp: float, tg: float):
    """An executable that prints what llama-bench -o json prints (a log line first, as it may)."""
    rows = [{"n_prompt": 8, "n_gen": 0, "avg_ts": pp, "stddev_ts": 0.1},
            {"n_prompt": 0, "n_gen": 4, "avg_ts": tg, "stddev_ts": 0.1}]
    exe = tmp_path / "llama-bench"
    exe.write_text(f"#!/bin/sh\necho 'build: 1234 (abcd)' >&2\ncat <<'JSON'\n{json.dumps(rows)}\nJSON\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_peers_table_from_pyggml_bench_and_llama_bench_json(tmp_path, capsys):
    from support.synthetic_models import make_model

    path = tmp_path / "llama.gguf"
    make_model("llama", path, wtype="Q8_0", seed=3)
    exe = fake_llama_bench(tmp_path, pp=1234.5, tg=321.0)
    mod = load_script(SCRIPT)
    out_json = tmp_path / "peers.json"
    assert mod.main([str(path), "-t", "1", "-p", "8", "-n", "4", "-r", "1", "--rounds", "1",
                     "--ik-bench", str(exe), "--json", str(out_json)]) == 0
    rounds = json.loads(out_json.read_text())["rounds"][str(path)]
    assert rounds["ik_llama.cpp"] == {"pp8": [1234.5], "tg4": [321.0]}
    assert len(rounds["pyggml"]["pp8"]) == 1 and all(v > 0 for v in rounds["pyggml"]["tg4"])
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| llama.gguf")]
    assert [line.split("|")[2].strip() for line in table] == ["pp8", "tg4"]
    assert "1234.5" in table[0] and "321.0" in table[1]

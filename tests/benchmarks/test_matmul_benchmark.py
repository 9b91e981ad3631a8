"""benchmarks/matmul.py runs end to end on a small shape: matvec GB/s and its share of the
read bandwidth (matvecs and reads in turns), matmul GFLOP/s, for a type in both layouts."""
from support.script_module import load_script

SCRIPT = "benchmarks/matmul.py"


def test_matmul_benchmark_prints_a_row_per_layout(capsys):
    mod = load_script(SCRIPT)
    mod.MV_ROUNDS = 2
    mod.main(["--types", "Q4_0", "--threads", "1", "--shapes", "64x256", "--tokens", "8", "--no-llama"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["type"])
    cols = header.split()
    rows = {line.split()[0]: dict(zip(cols, line.split())) for line in out.splitlines()
            if line.split()[:1] in (["Q4_0"], ["Q4_0/x8"])}
    assert set(rows) == {"Q4_0", "Q4_0/x8"}
    for row in rows.values():
        assert row["shape"] == "64x256"
        assert float(row["mv_GBs_1t"]) > 0 and float(row["mv_%bw_1t"]) > 0
        assert float(row["mm_GFLOPs_1t"]) > 0


def test_matvec_in_turns_sets_each_round_against_the_reads_beside_it(monkeypatch):
    mod = load_script(SCRIPT)
    reads = iter([10.0, 20.0, 5.0, 40.0])  # GB/s of the reads before, between and after
    monkeypatch.setattr(mod, "memory_read_bandwidth", lambda *a, **k: next(reads))
    times = iter([0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.05, 0.05, 0.05])  # 3 runs per round
    monkeypatch.setattr(mod, "elapsed", lambda fn, nt: next(times))
    gbs, share = mod.matvec_in_turns(lambda: None, 2e9, 1, rounds=3)
    # rounds: 20 GB/s vs max(10, 20); 10 GB/s vs max(20, 5); 40 GB/s vs max(5, 40)
    assert gbs == 20.0
    assert share == 100.0  # median of 100%, 50%, 100%

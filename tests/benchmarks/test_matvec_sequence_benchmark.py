"""benchmarks/matvec_sequence.py runs end to end on a small model: one token's matvecs in
the model's dispatches, the large and small parts, and the model's own token, each with
its share of the read bandwidth."""
import numpy as np

from support.script_module import load_script

SCRIPT = "benchmarks/matvec_sequence.py"


def test_matvec_sequence_prints_each_part(tmp_path, capsys):
    from support.synthetic_models import make_model

    path = tmp_path / "qwen2.gguf"
    make_model("qwen2", path, wtype="Q8_0", seed=2)
    mod = load_script(SCRIPT)
    assert mod.main(["-m", str(path), "-t", "1", "--rounds", "1", "--tokens", "2"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] in (["all"], ["large"], ["small"], ["model"])}
    assert set(rows) == {"all", "large", "small", "model"}
    mb = {k: float(v[2]) for k, v in rows.items()}
    assert mb["model"] == mb["all"] and np.isclose(mb["large"] + mb["small"], mb["all"], atol=0.11)
    assert all(float(v[1]) > 0 and float(v[3]) > 0 for v in rows.values())


def test_matrices_held_like_the_model_equal_the_file(tmp_path):
    """The copies the timings read are the file's matrices (regrouped where the CPU
    prefers): each one's matvec equals the model file's plain matrix's."""
    from support.synthetic_models import make_model

    from pyggml import _core

    path = tmp_path / "qwen2.gguf"
    make_model("qwen2", path, wtype="Q8_0", seed=3)
    mod = load_script(SCRIPT)
    matrices = mod.load_matrices(path)
    held = mod.held_like_the_model(matrices)
    assert set(held) == set(matrices) and "output" in held
    pool = _core.ThreadPool(1)
    rng = np.random.default_rng(0)
    for name, (typ, w, n_cols) in matrices.items():
        x = rng.standard_normal((1, n_cols)).astype(np.float32)
        t, hw, c, layout = held[name]
        assert hw.ctypes.data % 64 == 0  # as the model places its matrices
        np.testing.assert_allclose(_core.testing.matmul(pool, t, hw, c, x, layout=layout), _core.testing.matmul(pool, typ, w, n_cols, x),
                                   rtol=1e-5, atol=1e-5)


def test_aligned_copy_starts_on_the_boundary():
    from pyggml.cli.bench import aligned_copy, aligned_empty

    a = np.arange(3 * 1000, dtype=np.float32).reshape(3, 1000)
    for align in (64, 4096, 2 << 20):
        c = aligned_copy(a, align)
        assert c.ctypes.data % align == 0 and c.dtype == a.dtype and np.array_equal(c, a)
    assert aligned_empty(12345).ctypes.data % (2 << 20) == 0 and aligned_empty(12345).nbytes == 12345

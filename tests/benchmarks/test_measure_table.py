"""benchmarks/measure_table.py's float base: values on a quantization grid, dithered within
their steps, leave every grid and stay within half a step of where they were."""
import numpy as np

from pyggml.formats.quants import dequantize, quantize
from support.script_module import load_script


def test_dither_moves_grid_values_off_the_grid_by_at_most_half_a_step():
    mod = load_script("benchmarks/measure_table.py")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 256)).astype(np.float32)
    on_grid = dequantize(quantize(w, "Q4_K"), "Q4_K", w.shape)
    d = mod.dither(on_grid, 32, np.random.default_rng(1))
    assert np.mean(d == on_grid) < 0.01
    # each value moved by less than half its group's smallest gap between levels
    groups = np.sort(on_grid.reshape(-1, 32), axis=1)
    gaps = np.diff(groups, axis=1)
    step = np.where(gaps > 0, gaps, np.inf).min(axis=1)
    assert np.all(np.abs(d - on_grid).reshape(-1, 32) <= step[:, None] / 2 + 1e-7)
    # the same type's round trip no longer lands back on the original values
    again = dequantize(quantize(d, "Q4_K"), "Q4_K", d.shape)
    assert np.mean(again == on_grid) < 0.5

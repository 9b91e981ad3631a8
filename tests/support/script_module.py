"""A script of the project (benchmarks/, tests/data/) loaded as a module, for the tests
that call its functions or run its main()."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script(path):
    """The module of the script at path (relative to the project root, or absolute)."""
    path = ROOT / path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

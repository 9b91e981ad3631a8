"""Benchmark a GGUF model: llama-bench-style pp512 / tg128 tokens/s, with llama.cpp
ratios when llama-cpp-python is installed. Same as `pyggml bench`.

    python benchmarks/bench.py -m gemma3-270m -t 2
"""

from __future__ import annotations

import argparse
import sys

from pyggml.cli import bench as cli_bench


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli_bench.add_arguments(parser)
    return cli_bench.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

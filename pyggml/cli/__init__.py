"""The `pyggml` command line: a thin dispatcher over the Python API.

Bad input never ends in a traceback: argparse refuses malformed flags (exit code 2), and
pyggml's own errors (a broken file, an argument out of range, too little memory) and
operating-system errors (a missing or unreadable file) are one `pyggml: error: ...` line
(exit code 1).
"""

from __future__ import annotations

import argparse
import sys

from ..errors import PyggmlError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyggml", description="Run and quantize GGUF models on the CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from . import bench, chat, convert, info, perplexity, quantize, run, serve

    for command in (run, chat, serve, info, bench, convert, quantize, perplexity):
        command.add_parser(sub)
    return parser


def main(argv: "list[str] | None" = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("pyggml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a reader that stopped early (`pyggml info | head`): not an error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (PyggmlError, OSError, UnicodeDecodeError) as e:
        print(f"pyggml: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

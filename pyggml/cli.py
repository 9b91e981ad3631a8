"""The `pyggml` command line: a thin dispatcher over the Python API."""

from __future__ import annotations

import argparse
import sys

from .errors import PyggmlError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyggml", description="Run and quantize GGUF models on the CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from . import cli_bench, cli_chat, cli_convert, cli_info, cli_perplexity, cli_quantize, cli_run

    for command in (cli_run, cli_chat, cli_info, cli_bench, cli_convert, cli_quantize, cli_perplexity):
        command.add_parser(sub)
    return parser


def main(argv: "list[str] | None" = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (PyggmlError, FileNotFoundError) as e:
        print(f"pyggml: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pyggml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a reader that stopped early (`pyggml info | head`): not an error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

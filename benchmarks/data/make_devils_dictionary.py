"""Rebuild the evaluation and calibration texts from Debian's dict-devil package.

    apt-get download dict-devil
    dpkg-deb -x dict-devil_*.deb x
    python3 benchmarks/data/make_devils_dictionary.py x/usr/share/dictd/devil.dict.dz

The dictd database holds the Internet Wiretap edition of The Devil's Dictionary as
one text after a few dictfmt header lines, and ends with an alphabet line; both are
dropped. The preface and the entries A-F are the evaluation text (here), G-Z the calibration text (pyggml/data/,
installed with the package as the default text of `pyggml quantize --method`).
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE_DATA = HERE.parent.parent / "pyggml" / "data"  # the calibration text ships with pyggml


def split_text(raw: str) -> "tuple[str, str]":
    start = raw.index("            The Internet Wiretap")
    body = raw[start:raw.rindex(" abcdefghijklmnopqrstuvwxyz")].rstrip() + "\n"
    cut = re.search(r"^G[A-Z'-]+[,.]", body, re.M).start()  # first entry under G
    return body[:cut], body[cut:]


def main(argv: "list[str]") -> int:
    raw = gzip.open(argv[1], "rt", encoding="ascii").read()
    evaluation, calibration = split_text(raw)
    (HERE / "devils_dictionary_eval.txt").write_text(evaluation, encoding="ascii")
    (PACKAGE_DATA / "devils_dictionary_calib.txt").write_text(calibration, encoding="ascii")
    print(f"evaluation {len(evaluation)} bytes, calibration {len(calibration)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

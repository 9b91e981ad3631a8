"""Write pyggml/data/unicode_classes.npz: the Unicode character data the tokenizers use,
in the form llama.cpp's tokenizer uses it.

    python3 scripts/make_unicode_table.py LLAMA_CPP/src/unicode-data.cpp

llama.cpp does not classify code points with the running Python's Unicode version but with
its own table (Unicode 15.1 for the llama.cpp that llama-cpp-python 0.3.36 vendors): each
code point's general category reduced to a class (number, letter, separator, mark,
punctuation, symbol, control, undefined), the White_Space set, the simple lowercase
mapping, and the first code point of each NFD decomposition. Tokenizing exactly as
llama.cpp does on any text needs the same table, so this script reads it from llama.cpp's
unicode-data.cpp (MIT licensed) and stores it as arrays:

    flag_starts, flag_values  class flags from each start code point up to the next start
    whitespace                the White_Space code points
    lowercase                 (n, 2) code point -> lowercase code point
    nfd                       (n, 3) first, last, code point the range decomposes to first
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "pyggml" / "data" / "unicode_classes.npz"


def _block(src: str, name: str) -> str:
    start = src.index(name)
    return src[src.index("{", start) + 1:src.index("};", start)]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = Path(sys.argv[1]).read_text(encoding="utf-8")
    hexes = lambda block, n: [tuple(int(x, 16) for x in m) for m in  # noqa: E731
                              re.findall(r"\{" + r",\s*".join(["0x([0-9A-Fa-f]+)"] * n) + r"\}", block)]
    flags = hexes(_block(src, "unicode_ranges_flags"), 2)
    whitespace = [int(x, 16) for x in re.findall(r"0x([0-9A-Fa-f]+)", _block(src, "unicode_set_whitespace"))]
    lower = hexes(_block(src, "unicode_map_lowercase"), 2)
    nfd = hexes(_block(src, "unicode_ranges_nfd"), 3)
    assert flags[0][0] == 0 and flags[-1][0] == 0x110000, "flag ranges must span every code point"
    np.savez_compressed(
        OUT,
        flag_starts=np.array([s for s, _ in flags], np.uint32),
        flag_values=np.array([f for _, f in flags], np.uint16),
        whitespace=np.array(sorted(whitespace), np.uint32),
        lowercase=np.array(lower, np.uint32).reshape(-1, 2),
        nfd=np.array(nfd, np.uint32).reshape(-1, 3),
    )
    print(f"{OUT}: {len(flags)} class ranges, {len(whitespace)} white space, {len(lower)} lowercase, "
          f"{len(nfd)} NFD ranges")


if __name__ == "__main__":
    main()

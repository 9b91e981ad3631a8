"""Write pyggml/convert/pre_hashes.py: which pre-tokenizer a Hugging Face BPE tokenizer uses,
by the hash of its token ids for llama.cpp's reference text (llama.cpp's get_vocab_base_pre).

    python3 scripts/make_pre_hashes.py LLAMA_CPP/conversion/base.py

llama.cpp's converter encodes one fixed text with the model's tokenizer, hashes the ids and
looks the hash up in a list kept by convert_hf_to_gguf_update.py; this script copies that text
and list (hash, pre-tokenizer name, the model it came from) into a data module.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "pyggml" / "convert" / "pre_hashes.py"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = Path(sys.argv[1]).read_text(encoding="utf-8")
    body = src[src.index("def get_vocab_base_pre"):]
    body = body[:body.index("if res is None")]
    chktxt = ast.literal_eval(re.search(r"chktxt = ('.*')\n", body).group(1))
    entries = []
    for m in re.finditer(r'if chkhsh == "([0-9a-f]{64})":\s*\n\s*# ref: (\S+)\s*\n\s*res = "([^"]+)"', body):
        entries.append((m.group(1), m.group(3), m.group(2)))
    n_if = body.count("if chkhsh ==")
    if len(entries) != n_if:
        sys.exit(f"parsed {len(entries)} of {n_if} hash checks")
    lines = [
        '"""Pre-tokenizer of a Hugging Face BPE tokenizer by the hash of its ids for llama.cpp\'s reference',
        "text, as llama.cpp's converter chooses it (get_vocab_base_pre in convert_hf_to_gguf.py, kept by",
        "convert_hf_to_gguf_update.py). Written by scripts/make_pre_hashes.py; do not edit by hand.",
        '"""',
        "",
        "# The text llama.cpp's converter tokenizes (special tokens added as the tokenizer adds them).",
        f"CHKTXT = {ascii(chktxt)}",
        "",
        "# sha256 of str(ids) -> (tokenizer.ggml.pre, the model the hash was taken from). When a hash is",
        "# listed twice, the later entry wins, as in llama.cpp's chain of ifs.",
        "HASHES: dict[str, tuple[str, str]] = {",
    ]
    for h, name, ref in entries:
        lines.append(f'    "{h}": ("{name}", "{ref}"),')
    lines += ["}", ""]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"{OUT}: {len(entries)} hashes, {len({h for h, _, _ in entries})} distinct")


if __name__ == "__main__":
    main()

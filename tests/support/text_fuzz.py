"""Random and adversarial texts for comparing tokenizers with llama.cpp.

random_texts(seed, n, specials) mixes: words and punctuation of several scripts, code points
drawn from every Unicode category (marks, numbers of other scripts, non-ASCII white space,
controls, format characters, private use, emoji, code points assigned after Unicode 14 and
unassigned ones), long runs (spaces, newlines, digits, letters, apostrophes), digit groups,
English contractions in any case, white-space mixes, special tokens of the vocabulary and
pieces of them. A few are bytes that are not UTF-8.
"""

from __future__ import annotations

import random

_WORDS = ["the", "The", "THE", "Hello", "world", "café", "naïve", "Ünïcödé", "你好", "世界", "こんにちは", "한국어",
          "Здравствуй", "мир", "πΣ", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "ກາ", "កាន់តែ", "ሰላም", "Ꭰ", "𝔘𝔫𝔦",
          "apple", "工作", "def", "return", "x_1", "__init__", "http://a.b/c?d=e", "e-mail", "can't", "I'm"]
_PUNCT = list(".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`") + ["...", "--", "—", "…", "「」", "、", "。", "，", "！", "？", "«»"]
_SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\v", "\f", "\u00a0", "\u2009", "\u3000", "\u0085", "\u1680",
           "\u2028", "\u202f", " \n ", "\n\n", "\t\t", " \t\n"]
_CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL", "'d", "'D",
                 "n't", "'", "''", "'x"]
# Ranges to draw code points from, by what they exercise.
_RANGES = [
    (0x0000, 0x001F), (0x007F, 0x009F),          # controls
    (0x00A0, 0x024F), (0x0370, 0x052F),          # Latin, Greek, Cyrillic
    (0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x20D0, 0x20FF),  # combining marks
    (0x0590, 0x06FF), (0x0900, 0x0DFF), (0x0E00, 0x0EFF), (0x1780, 0x17FF),  # RTL, Indic, Thai, Lao, Khmer
    (0x0660, 0x0669), (0x06F0, 0x06F9), (0x0966, 0x096F), (0xFF10, 0xFF19), (0x2160, 0x2188), (0x2460, 0x24FF),
    (0x2000, 0x206F), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0x200B, 0x200F),  # spaces, format, variation selectors
    (0x3000, 0x303F), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF), (0xE000, 0xE0FF),          # CJK, Hangul, full width, private use
    (0x1F300, 0x1FAFF), (0x1F1E6, 0x1F1FF),      # emoji, regional indicators
    (0x20000, 0x2A6DF), (0x2EBF0, 0x2EE5D), (0x30000, 0x3134A), (0x31350, 0x323AF),  # Han extensions B, I, G, H
    (0x0CF3, 0x0CF3), (0x0ECE, 0x0ECE), (0x11F00, 0x11F59), (0x1E4D0, 0x1E4F9), (0x1E030, 0x1E08F),  # new in 15.x
    (0x0378, 0x0379), (0x0897, 0x0897), (0x1C89, 0x1C8A), (0x10D40, 0x10D8F), (0xE0000, 0xE007F),  # unassigned in 15.1
    (0x0020, 0x007E),
]
_DIGITS = "0123456789"


def _codepoint(rnd: random.Random) -> str:
    lo, hi = rnd.choice(_RANGES)
    cp = rnd.randint(lo, hi)
    return chr(cp)


def _piece(rnd: random.Random, specials: list[str]) -> str:
    r = rnd.random()
    if r < 0.22:
        return rnd.choice(_WORDS)
    if r < 0.32:
        return rnd.choice(_PUNCT)
    if r < 0.44:
        return rnd.choice(_SPACES)
    if r < 0.64:
        return "".join(_codepoint(rnd) for _ in range(rnd.randint(1, 4)))
    if r < 0.70:
        return rnd.choice(_CONTRACTIONS)
    if r < 0.76:
        return "".join(rnd.choice(_DIGITS) for _ in range(rnd.randint(1, 12)))
    if r < 0.80:
        return rnd.choice([" ", "\n", "\t", "'", "1", "a", "A", "é", "中", "▁", "-", "!"]) * rnd.randint(2, 40)
    if r < 0.92 and specials:
        t = rnd.choice(specials)
        if rnd.random() < 0.5 and len(t) > 1:  # a piece of a special token
            a = rnd.randrange(len(t))
            return t[a:rnd.randint(a + 1, len(t))]
        return t
    return rnd.choice(["Hello world", " Hello", "  leading", "trailing  ", "x\ny", "3.14", "1,000,000", "v1.2.3",
                       "ÀÉÎÕÜ", "ǅ", "ﬃ", "ℌ", "㍻", "①", "٣", "²", "½", "İstanbul", "ß", "ΣΑΣ"])


def random_text(rnd: random.Random, specials: list[str], max_pieces: int = 12) -> str:
    return "".join(_piece(rnd, specials) for _ in range(rnd.randint(0, max_pieces)))


def random_texts(seed: int, n: int, specials: list[str] = ()) -> list[str | bytes]:
    rnd = random.Random(seed)
    specials = list(specials)
    out: list[str | bytes] = []
    for _ in range(n):
        if rnd.random() < 0.05:  # bytes that are not all UTF-8
            text = random_text(rnd, specials, 4).encode("utf-8")
            bad = bytes(rnd.choice([0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xF0, 0xFF, 0xFE]) for _ in range(rnd.randint(1, 3)))
            cut = rnd.randint(0, len(text))
            out.append(text[:cut] + bad + text[cut:])
        else:
            out.append(random_text(rnd, specials))
    return out

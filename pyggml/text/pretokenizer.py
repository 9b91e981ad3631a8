"""Pre-tokenizers of BPE vocabularies, as llama.cpp splits text, and the flags each one sets.

A BPE vocabulary names its pre-tokenizer in tokenizer.ggml.pre. PRE_TOKENIZERS maps every
name llama.cpp knows to a PreTokenizerSpec: the split expressions, applied in order (each
splits every piece left by the previous one; text between matches is a piece of its own),
and the flags llama.cpp sets for that name (ignore-merges, the add-BOS default, clean-spaces,
white space escaped to U+2581, byte-level encoding...).

The expressions are llama.cpp's, written as it writes them (std::regex syntax with \\p{..}
classes); PreTokenizer compiles them the way llama.cpp runs them:

- An expression with Unicode classes (\\p{L}, \\p{N}, \\p{P}, \\p{S}, \\p{M}, \\p{Lu}...) runs
  on the "collapsed" text (see unicode.py): ASCII kept, every other code point replaced by
  one byte for its class (every letter class is one class), the \\p{..} rewritten to those
  bytes. That is what makes llama.cpp's splits differ from a full-Unicode regex engine's.
- An expression without them runs on the text itself, non-ASCII white space replaced by a
  vertical tab (std::wregex's \\s only knows ASCII white space).
- \\s, \\S, \\d, \\w and \\b are ASCII-only, as in std::regex; $ is the end of the piece.
- Two splitters are hand-written in llama.cpp, and here: AFMoE's digit grouping (which
  also serves tiny_aya's digit expression) and Kimi-K2's Han-aware split.

llama.cpp also has hand-written splitters for the GPT-2, Llama-3, Qwen2 and Qwen3.5
expressions; they split exactly as the expressions do on the collapsed text, so those run as
regular expressions here (Python's re: measured twice as fast as the `regex` package on the
collapsed text, which needs no Unicode classes).
"""

from __future__ import annotations

import dataclasses
import re

from . import unicode as uc

# ---------------------------------------------------------------------------------
# The split expressions (llama.cpp's llm_tokenizer_bpe), grouped as llama.cpp groups them.

_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")
QWEN2 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")
QWEN35 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
JAIS2 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)"
         r"|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}")
_CASED_WORD = r"((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"      # upper* lower+, collapsed
_CASED_WORD2 = r"((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"     # upper+ lower*
TEKKEN = (rf"[^\r\n\p{{L}}\p{{N}}]?{_CASED_WORD}|[^\r\n\p{{L}}\p{{N}}]?{_CASED_WORD2}|\p{{N}}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (rf"[^\r\n\p{{L}}\p{{N}}]?{_CASED_WORD}{_CONTRACTIONS}?|[^\r\n\p{{L}}\p{{N}}]?{_CASED_WORD2}{_CONTRACTIONS}?"
         r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GRANITE_EMB_MULTI = (
    rf"[^\r\n\p{{L}}\p{{N}}]?((?=[\p{{L}}\p{{M}}])([^a-z]))*((?=[\p{{L}}\p{{M}}])([^A-Z]))+{_CONTRACTIONS}?"
    rf"|[^\r\n\p{{L}}\p{{N}}]?((?=[\p{{L}}\p{{M}}])([^a-z]))+((?=[\p{{L}}\p{{M}}])([^A-Z]))*{_CONTRACTIONS}?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TINY_AYA = (rf"[^\r\n\p{{L}}\p{{N}}]?[\p{{Lu}}\p{{Lt}}\p{{Lm}}\p{{Lo}}\p{{M}}]*[\p{{Ll}}\p{{Lm}}\p{{Lo}}\p{{M}}]+{_CONTRACTIONS}?"
            rf"|[^\r\n\p{{L}}\p{{N}}]?[\p{{Lu}}\p{{Lt}}\p{{Lm}}\p{{Lo}}\p{{M}}]+[\p{{Ll}}\p{{Lm}}\p{{Lo}}\p{{M}}]*{_CONTRACTIONS}?"
            r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
YOUTU = (rf"[^\r\n\p{{L}}\p{{N}}]?[\p{{Lu}}\p{{Lt}}\p{{Lm}}\p{{Lo}}\p{{M}}]*[\p{{Ll}}\p{{Lm}}\p{{Lo}}\p{{M}}]+{_CONTRACTIONS}?"
         rf"|[^\r\n\p{{L}}\p{{N}}]?[\p{{Lu}}\p{{Lt}}\p{{Lm}}\p{{Lo}}\p{{M}}]+[\p{{Ll}}\p{{Lm}}\p{{Lo}}\p{{M}}]*{_CONTRACTIONS}?"
         r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
YOUTU_CJK = ("[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f"
             "\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+")
_ASCII_PUNCT_WORD = r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"""
DEEPSEEK3 = _ASCII_PUNCT_WORD + r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPARK2_5 = _ASCII_PUNCT_WORD + r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"
CJK_KANA = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
DEEPSEEK_LLM_LETTERS = (
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+")
DEEPSEEK_LLM_PUNCT = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"
CJK_HANGUL = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
BLOOM = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"
AFMOE_CJK = ("[\u4e00-\u9fff\u3400-\u4dbf\u8c48-\ufaff\u3040-\u309f\u30a0-\u30ff\uff65-\uff9f\u2f00-\u2fdf"
             "\u0e40-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff\uac00-\ud7af\u1100-\u11ff]+")
AFMOE = _ASCII_PUNCT_WORD + r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
BAILINGMOE = (r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]|\s+(?!\S)|\s+")
SEED_CODER = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+"
              r"|\s+(?!\S)|\s+")
UFAKZEKA = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
EXAONE_MOE = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?"
              r"|\s*[\r\n]|\s+(?!\S)|\s+")
MINICPM5 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
            r"|\s+(?!\S)|\s+")
NEWLINES = r"[^\n]+|[\n]+"  # runs of newlines and runs of anything else

# Hand-written splitters (llama.cpp: unicode_regex_split_custom_*).
DIGIT_GROUPS = r"\p{AFMoE_digits}"       # digit runs: the leading len % 3 digits, then threes
TINY_AYA_DIGITS = r"\d{1,3}(?=(?:\d{3})*\b)"  # llama.cpp runs the same digit grouping for it
KIMI_K2 = r"\p{Han}+"                     # Kimi-K2's whole split, Han characters set apart


@dataclasses.dataclass(frozen=True)
class PreTokenizerSpec:
    """What llama.cpp does for one tokenizer.ggml.pre name."""

    regexes: tuple[str, ...]
    ignore_merges: bool = False       # a word that is a token is that token, merges or not
    add_bos: bool = False             # default of tokenizer.ggml.add_bos_token
    clean_spaces: bool = True         # detokenizer drops the space before . , ! ? and 's 're...
    add_sep: bool = False             # default of tokenizer.ggml.add_sep_token
    escape_whitespaces: bool = False  # spaces become U+2581 before splitting (SentencePiece-style BPE)
    byte_encode: bool = True          # words are GPT-2 byte-encoded (False: raw UTF-8, <0xXX> fallback)
    no_bos: bool = False              # the vocabulary has no BOS token unless the GGUF names one
    gemma4_fixes: bool = False        # newline-only words that are tokens stay whole; add_bos forced on


def _spec(regexes, **flags) -> PreTokenizerSpec:
    return PreTokenizerSpec(tuple(regexes), **flags)


_DEFAULT = _spec([r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"])
_GPT2 = _spec([GPT2])
_STARCODER = _spec([r"\p{N}", GPT2])
_LLAMA3 = _spec([LLAMA3], ignore_merges=True, add_bos=True)
_QWEN2 = _spec([QWEN2], clean_spaces=False)
_DEEPSEEK3 = _spec([r"\p{N}{1,3}", CJK_KANA, DEEPSEEK3], clean_spaces=False)
_GPT4O = _spec([GPT4O], clean_spaces=False)
_BAILINGMOE = _spec([BAILINGMOE], clean_spaces=False)
_GEMMA4 = _spec([NEWLINES], escape_whitespaces=True, byte_encode=False, gemma4_fixes=True)
_TINY_AYA = _spec([TINY_AYA_DIGITS, TINY_AYA], clean_spaces=False)
_CHATGLM = dict(regexes=(LLAMA3,), no_bos=True)


# tokenizer.ggml.pre -> what llama.cpp does (llama_vocab::impl::load and llm_tokenizer_bpe).
PRE_TOKENIZERS: dict[str, PreTokenizerSpec] = {
    "default": _DEFAULT,
    "minicpm5": _spec([r"\p{N}{1,3}", MINICPM5], ignore_merges=True),
    **dict.fromkeys(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano"], _LLAMA3),
    "deepseek-llm": _spec(["[\r\n]", DEEPSEEK_LLM_LETTERS, DEEPSEEK_LLM_PUNCT, r"\s+$", CJK_HANGUL, r"\p{N}+"],
                          clean_spaces=False),
    "deepseek-coder": _spec(["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK_HANGUL, r"\p{N}"], clean_spaces=False),
    "deepseek-v3": _DEEPSEEK3,
    "spark2_5": _spec([r"\p{N}{1,3}", CJK_KANA, SPARK2_5, r"\p{N}"], clean_spaces=False),
    "youtu": _spec([YOUTU_CJK, YOUTU], clean_spaces=False, ignore_merges=True),
    "falcon": _spec([r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"]),
    "mpt": _GPT2,
    "starcoder": _STARCODER,
    **dict.fromkeys(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                     "mellum", "modern-bert"], _GPT2),
    "jais-2": _spec([JAIS2]),
    **dict.fromkeys(["gemma4", "granite-embed-multi-311m"], _GEMMA4),
    "sarvam-moe": _spec([NEWLINES], escape_whitespaces=True, byte_encode=False, clean_spaces=False),
    **dict.fromkeys(["jina-v1-en", "jina-v2-code", "roberta-bpe"], _spec([GPT2], add_sep=True)),
    "whitespace": _spec([r"\S+"], byte_encode=False),
    "refact": _STARCODER,
    "command-r": _spec([r"\p{N}", GPT2], clean_spaces=False),
    **dict.fromkeys(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"], _QWEN2),
    "qwen35": _spec([QWEN35], clean_spaces=False),
    "stablelm2": _spec([QWEN2]),
    "olmo": _GPT2,
    "dbrx": _spec([LLAMA3]),
    "smaug-bpe": _spec([LLAMA3]),
    "poro-chat": _spec([BLOOM], clean_spaces=False),
    "chatglm-bpe": PreTokenizerSpec(**_CHATGLM),
    **dict.fromkeys(["glm4", "glm5"], PreTokenizerSpec(**_CHATGLM, ignore_merges=True)),
    "viking": _spec([BLOOM, r"\p{N}"], clean_spaces=False),
    "jais": _GPT2,
    "tekken": _spec([TEKKEN], clean_spaces=False, ignore_merges=True, add_bos=True),
    "smollm": _spec([r"\p{N}", GPT2], clean_spaces=False),
    "codeshell": _STARCODER,
    "bloom": _spec([BLOOM]),
    "gpt3-finnish": _spec([BLOOM]),
    "exaone": _STARCODER,
    "exaone4": _GPT2,
    "exaone-moe": _spec([EXAONE_MOE]),
    "chameleon": _spec([r"<sentinel:[0-9]+>", r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", r"([\t\n]|    |  )",
                        r"\p{N}", r"[\p{P}!-/:-@\[-`{-~]", GPT2], add_bos=True, clean_spaces=False),
    "minerva-7b": _STARCODER,
    "megrez": _spec([QWEN2]),
    **dict.fromkeys(["gpt-4o", "llama4", "kanana2", "talkie"], _GPT4O),
    "granite-embed-multi-97m": _spec([GRANITE_EMB_MULTI], clean_spaces=False, ignore_merges=True),
    **dict.fromkeys(["tiny_aya", "cohere2moe"], _TINY_AYA),
    "superbpe": _spec([r"\p{N}+", r"(?=(\d{3})+(?!\d))"], clean_spaces=False),
    "trillion": _spec([GPT2], clean_spaces=False),
    "granite-docling": _spec([GPT2], clean_spaces=False),
    **dict.fromkeys(["bailingmoe", "bailingmoe2", "llada-moe"], _BAILINGMOE),
    "seed-coder": _spec([SEED_CODER], clean_spaces=False),
    "hunyuan": _QWEN2,
    **dict.fromkeys(["hunyuan-dense", "hy_v4", "joyai-llm"], _DEEPSEEK3),
    "kimi-k2": _spec([KIMI_K2], clean_spaces=False),
    "ufakzeka": _spec([UFAKZEKA], clean_spaces=False),
    "grok-2": _QWEN2,
    "afmoe": _spec([DIGIT_GROUPS, AFMOE_CJK, AFMOE], clean_spaces=False),
    "laguna": _spec([NEWLINES, QWEN2], clean_spaces=False),
    "minimax-m2": _GPT4O,
    "solar-open": _QWEN2,
    "mellum2": _STARCODER,
}


def supported_names() -> str:
    return ", ".join(sorted(PRE_TOKENIZERS))


def spec_for(pre: str) -> PreTokenizerSpec:
    """The spec of a tokenizer.ggml.pre value; ValueError naming it and the known ones."""
    spec = PRE_TOKENIZERS.get(pre)
    if spec is None:
        raise ValueError(f"unknown pre-tokenizer {pre!r} (tokenizer.ggml.pre); pyggml knows "
                         f"{len(PRE_TOKENIZERS)}, as llama.cpp does: {supported_names()}")
    return spec


# ---------------------------------------------------------------------------------
# Compiling llama.cpp's expressions

# \p{..} classes -> (class byte, ASCII members), as llama.cpp rewrites them for the collapsed text.
_UCAT = {
    r"\p{N}": (uc.COLLAPSED_NUMBER, "0-9"),
    r"\p{L}": (uc.COLLAPSED_LETTER, "A-Za-z"),
    r"\p{P}": (uc.COLLAPSED_PUNCTUATION, r"!-#%-*,-/:-;?-@\[-\]_\{\}"),
    r"\p{M}": (uc.COLLAPSED_MARK, ""),
    r"\p{S}": (uc.COLLAPSED_SYMBOL, r"\$\+<->\^`\|\~"),
    **{rf"\p{{L{c}}}": (uc.COLLAPSED_LETTER, "A-Za-z") for c in "ultmo"},
}

_COLLAPSED, _WIDE, _HAN, _DIGITS = "collapsed", "wide", "han", "digits"


def _rewrite_classes(expr: str, ucat: dict) -> str:
    """llama.cpp's rewrite of \\p{..} for the collapsed text (a class of its own outside [])."""
    out = []
    inside = False
    i = 0
    while i < len(expr):
        c = expr[i]
        if c == "[" and (i == 0 or expr[i - 1] != "\\"):
            inside = True
        elif inside and c == "]" and expr[i - 1] != "\\":
            inside = False
        elif expr.startswith("\\p{", i):
            end = expr.find("}", i + 3)
            pat = expr[i:end + 1] if end >= 0 else ""
            if pat in ucat:
                byte, ascii_members = ucat[pat]
                body = chr(byte) + ascii_members
                out.append(body if inside else "[" + body + "]")
                i = end + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _end_anchor(expr: str) -> str:
    """std::regex's $ (without multiline) is the end of the piece; Python's also matches
    before a final newline."""
    out, i, inside = [], 0, False
    while i < len(expr):
        c = expr[i]
        if c == "\\":
            out.append(expr[i:i + 2])
            i += 2
            continue
        if c == "[":
            inside = True
        elif c == "]":
            inside = False
        out.append(r"\Z" if c == "$" and not inside else c)
        i += 1
    return "".join(out)


def compile_expression(expr: str) -> tuple[str, re.Pattern | None]:
    """(text kind, compiled pattern) for one of llama.cpp's split expressions."""
    if expr in (DIGIT_GROUPS, TINY_AYA_DIGITS):
        return _DIGITS, None
    if expr == KIMI_K2:
        ucat = {**_UCAT, r"\p{L}": (uc.COLLAPSED_LETTER, "A-Za-z" + chr(uc.COLLAPSED_HAN_LETTER))}
        letters = "[" + chr(uc.COLLAPSED_LETTER) + "A-Za-z]"  # letters that are not Han
        han = "[" + chr(uc.COLLAPSED_HAN_LETTER) + chr(uc.COLLAPSED_HAN_OTHER) + "]"
        kimi = (rf"{han}+|[^\r\n\p{{L}}\p{{N}}]?{letters}+{_CONTRACTIONS}?|\p{{N}}{{1,3}}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
        return _HAN, re.compile(_rewrite_classes(kimi, ucat), re.ASCII)
    if any(name in expr for name in _UCAT):
        if not expr.isascii():
            raise ValueError(f"split expression {expr!r} mixes Unicode classes and non-ASCII characters")
        return _COLLAPSED, re.compile(_end_anchor(_rewrite_classes(expr, _UCAT)), re.ASCII)
    return _WIDE, re.compile(_end_anchor(expr), re.ASCII)


class PreTokenizer:
    """Splits text into the words that BPE merges run on."""

    def __init__(self, pre: str):
        self.pre = pre
        self.spec = spec_for(pre)
        self._steps = [compile_expression(e) for e in self.spec.regexes]

    def split(self, text: str) -> list[str]:
        if not text:
            return []
        if len(self._steps) == 1 and self._steps[0][0] in (_COLLAPSED, _WIDE) and not self._steps[0][1].groups:
            words = self._split_whole(text)
            if words is not None:
                return words
        texts: dict[str, str] = {}

        def view(kind: str) -> str:
            v = texts.get(kind)
            if v is None:
                if kind == _COLLAPSED:
                    v = uc.collapse(text)
                elif kind == _HAN:
                    v = uc.collapse(text, uc.han_collapse_table())
                else:
                    v = text if text.isascii() else text.translate(uc.non_ascii_whitespace())
                texts[kind] = v
            return v

        bounds = [(0, len(text))]
        for kind, rx in self._steps:
            if kind == _DIGITS:
                bounds = _digit_groups(text, bounds)
                continue
            s = view(kind)
            out = []
            for lo, hi in bounds:
                pos = lo
                for m in rx.finditer(s, lo, hi):
                    a, b = m.span()
                    if a > pos:
                        out.append((pos, a))
                    if b > a:
                        out.append((a, b))
                    pos = b
                if pos < hi:
                    out.append((pos, hi))
            bounds = out
        return [text[a:b] for a, b in bounds]

    def _split_whole(self, text: str) -> list[str] | None:
        """One expression over the whole text, when its matches leave no text between them
        (the common case: the Llama-3, Qwen2 and GPT-2 expressions match everything)."""
        kind, rx = self._steps[0]
        view = _view_of(text, kind)
        words = rx.findall(view)
        if sum(map(len, words)) != len(text) or "" in words:
            return None
        if view is text:
            return words
        out = []
        pos = 0
        for w in words:
            end = pos + len(w)
            out.append(text[pos:end])
            pos = end
        return out


def _view_of(text: str, kind: str) -> str:
    if text.isascii():
        return text
    if kind == _COLLAPSED:
        return uc.collapse(text)
    return text.translate(uc.non_ascii_whitespace())


def _digit_groups(text: str, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """llama.cpp's AFMoE digit split: in each piece, a run of numbers (\\p{N}) is cut into
    its leading len % 3 digits and then threes; the text before a run goes with the run's
    first group, the text after the last run is a piece of its own."""
    f = uc.flags()
    cps = uc.codepoints(text)
    out = []
    for lo, hi in bounds:
        prev = lo
        pos = lo
        while pos < hi:
            if f[cps[pos]] & uc.NUMBER:
                start = pos
                while pos < hi and f[cps[pos]] & uc.NUMBER:
                    pos += 1
                cur = start
                rem = (pos - start) % 3
                if rem:
                    out.append((prev, cur + rem))
                    prev = cur = cur + rem
                while cur < pos:
                    out.append((prev, cur + 3))
                    prev = cur = cur + 3
                continue
            pos += 1
        if prev < hi:
            out.append((prev, hi))
    return out

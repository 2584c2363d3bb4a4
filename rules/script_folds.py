"""Folds for scripts other than Latin: Arabic script as Urdu writes it, and scripts without spaces.

Leaf module (imports nothing of ours): `rules/normalise.py` applies these tables to rules and
documents alike, and story signatures (monitor/parse/signature.py) use `fold_arabic_script` so
that two outlets typing the same Urdu words with different code points print the same words.
Each mapping and the reason for it is in docs/urdu.md; tests/rules/test_rules_scripts.py has a
test per row.

Urdu is written in the Arabic script with a few letters of its own, and many Urdu sites and
keyboards type the Arabic letter where Urdu has its own: `ريكوڈك` (Arabic yeh U+064A, Arabic
kaf U+0643) for `ریکوڈک` (Farsi yeh U+06CC, keheh U+06A9). Matching folds each Arabic letter
to the Urdu one, drops what only decorates a word (harakat, tatweel, hamza seats), reads every
digit as an ASCII digit, and treats Arabic punctuation as a boundary (the general rule for
punctuation in normalise.py already does that).

Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer,
Myanmar) have no word boundaries to find, so each of their characters is a word of its own:
a term then matches wherever its characters stand in a row (`锑` in `中国锑出口`).
"""

from __future__ import annotations

import re

__all__ = ["ARABIC_SCRIPT", "YEH", "YEH_RUN", "is_unspaced", "fold_arabic_script"]

YEH = "\u06cc"  # ی FARSI YEH, the Urdu yeh
HEH_GOAL = "\u06c1"  # ہ, the Urdu heh; do-chashmi heh ھ (U+06BE) stays distinct: it marks aspiration
KEHEH = "\u06a9"  # ک, the Urdu kaf

# Each Arabic-script character that Urdu text writes in more than one way -> the Urdu spelling.
# Applied after NFKC and NFD (fold_char), so presentation forms and letters with a hamza or
# madda above arrive here as their base letter; the combining marks are dropped there.
ARABIC_SCRIPT: dict[str, str] = {
    "\u064a": YEH,  # ي ARABIC YEH (also what ئ decomposes to)
    "\u0649": YEH,  # ى ALEF MAKSURA
    "\u0643": KEHEH,  # ك ARABIC KAF
    "\u0647": HEH_GOAL,  # ه ARABIC HEH
    "\u06d5": HEH_GOAL,  # ە AE (what ۀ decomposes to), typed for a final heh
    "\u0629": HEH_GOAL,  # ة TEH MARBUTA: the Arabic spelling of the final -a Urdu writes with ہ
    "\u06c3": HEH_GOAL,  # ۃ TEH MARBUTA GOAL
    "\u06d3": YEH + "\u06d2",  # ۓ: yeh barree with hamza is the ئے of جائے, typed as one letter
    "\u0621": "",  # ء HAMZA: optional in Urdu spelling (اشیاء / اشیا)
    "\u0674": "",  # ٴ HIGH HAMZA
    "\u0640": "",  # ـ TATWEEL: stretches a word, never a letter
    "\u0671": "\u0627",  # ٱ ALEF WASLA -> alef
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended Arabic-Indic digits (Urdu, Persian)
}

# A hamza seat folds to yeh, so "دیئے" becomes "دییے": several yehs in a row are one, which is
# how the same word is also written (دیے, لئے / لیے, فرنٹیئر / فرنٹیر, رئیل / ریئل / ریل).
YEH_RUN = re.compile(YEH + "{2,}")

# Blocks of scripts written without spaces between words (first, last code point).
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF),  # CJK Extensions B and later
)


def is_unspaced(char: str) -> bool:
    """Whether `char` belongs to a script written without spaces between words."""
    code = ord(char)
    return any(first <= code <= last for first, last in _UNSPACED)


# The same folds as one str.translate table, plus the harakat and joiners that normalise.py
# drops through its general rules (combining marks, zero-width characters).
_TRANSLATE = str.maketrans(
    {
        **ARABIC_SCRIPT,
        "\u0626": YEH,  # ئ
        "\u0624": "\u0648",  # ؤ -> و
        "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627",  # أ إ آ -> ا
        "\u06c2": HEH_GOAL,  # ۂ
        "\u200c": "", "\u200d": "",  # ZWNJ, ZWJ
        **{chr(c): "" for c in range(0x064B, 0x0660)},  # harakat, hamza above and below
        "\u0670": "",  # superscript alef
    }
)  # fmt: skip
# In UTF-8 the Arabic block U+0600-U+06FF starts with the bytes D8-DB and nothing else does
# (continuation bytes are 80-BF), and ZWNJ, ZWJ are E2 80 8C, E2 80 8D: searching the bytes
# is ten times cheaper than a regular expression over the string (3 us for 2,000 characters).
_ARABIC_BYTES = (b"\xd8", b"\xd9", b"\xda", b"\xdb", b"\xe2\x80\x8c", b"\xe2\x80\x8d")


def fold_arabic_script(text: str) -> str:
    """`text` with the Arabic-script folds applied (not offset-preserving: for signatures).

    Text without any Arabic-script character is returned as it is, at the cost of one scan.
    """
    if text.isascii():
        return text
    data = text.encode("utf-8", "surrogatepass")
    if not any(marker in data for marker in _ARABIC_BYTES):
        return text
    return YEH_RUN.sub(YEH, text.translate(_TRANSLATE))

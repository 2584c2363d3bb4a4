"""Text normalisation for matching, with a map back to the original offsets.

Queries and articles go through the same steps, so a term matches whatever
spelling of it an outlet prints:

    "Pakistan&#8217;s  Gilgit‑Baltistan" -> "pakistan's gilgit-baltistan"

1. HTML entities are decoded (`html.unescape`; some feeds escape twice).
2. Each other non-ASCII character is folded on its own: NFKC, case-folded,
   decomposed (NFD) and stripped of combining marks (accents), then
   - curly quotes and primes -> ' or ",
   - every dash and hyphen (U+2010-2015, U+2212, U+FE58, U+FE63, U+FF0D) -> "-",
   - non-breaking and other odd spaces -> " ",
   - soft hyphens and zero-width characters are removed,
   - a few letters with no decomposition are transliterated (ł, ø, æ, œ, ...),
   - Arabic-script letters are read as Urdu spells them, tatweel and hamza seats
     dropped, every digit read as an ASCII digit (rules/script_folds.py; the table
     with the reason for each mapping is in docs/urdu.md),
   - a character of a script written without spaces (Chinese, kana, Thai, ...)
     becomes a word of its own, padded with spaces,
   - any other punctuation or symbol (€, •, ©) -> " " (it only separates words).
   Then a run of yehs (a folded hamza seat beside a yeh) is one yeh.
   Folding character by character (rather than NFKC of the whole string) is
   what keeps the offset map exact; after accent stripping the results agree.
3. ASCII is lower-cased.

`NormalisedText` keeps the original string and the offsets of every place
where the length changed, so a span found on the normalised text maps back to
the original characters (`original_span`). That original text is also the
case-preserving view that ALL-CAPS terms check (`has_lowercase`).

Words: `word_view` turns normalised text into same-length text where every
separator is a space and a possessive "'s" is blanked, so "pakistan's" is the
word "pakistan". `tokenise` gives the words of a query term.

Speed matters here (every field of every article passes through): ASCII text
costs one `str.lower`; typical news text with curly quotes and dashes costs a
few `str.replace` calls; only text with length-changing characters (entities,
ligatures, soft hyphens, combining accents) takes the slower mapped path.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

from .script_folds import ARABIC_SCRIPT, YEH, YEH_RUN, is_unspaced

__all__ = ["NormalisedText", "normalise", "fold_char", "word_view", "tokenise"]

_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u02bb\u02b9\u00b4\u0060\uff07"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u301d\u301e\uff02"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2e3a\u2e3b\u2043\u1806"
_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\u0085\u2028\u2029"
_REMOVED = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_TRANSLITERATED = {
    "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "ħ": "h", "Ħ": "h",
    "ı": "i", "ŧ": "t", "Ŧ": "t", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
    "þ": "th", "Þ": "th", "ð": "d", "Ð": "d",
}  # fmt: skip

_SPECIAL: dict[str, str] = {
    **{c: "'" for c in _SINGLE_QUOTES},
    **{c: '"' for c in _DOUBLE_QUOTES},
    **{c: "-" for c in _DASHES},
    **{c: " " for c in _SPACES},
    **{c: "" for c in _REMOVED},
    # "..." would change the length of very common text; one "." separates as well.
    "\u2026": ".",
    **_TRANSLITERATED,
    **ARABIC_SCRIPT,
}

_ASCII_BYTES = bytes(range(128))
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# The same pattern html.unescape uses, so a match decodes exactly as it would.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")

_fold_cache: dict[str, str] = {}
_FOLD_CACHE_MAX = 1 << 16


def fold_char(char: str) -> str:
    """The normalised form of one non-ASCII character (may be "" or several)."""
    cached = _fold_cache.get(char)
    if cached is not None:
        return cached
    special = _SPECIAL.get(char)
    if special is not None:
        folded = special
    else:
        decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", char).casefold())
        out = []
        for ch in decomposed:
            if ch.isascii():
                out.append(ch.lower())
                continue
            special = _SPECIAL.get(ch)
            if special is not None:
                out.append(special)
                continue
            category = unicodedata.category(ch)
            if category in ("Mn", "Me"):
                continue  # accents and other combining marks
            if category[0] not in "LNM":
                out.append(" ")
            elif is_unspaced(ch):
                out.append(f" {ch} ")  # no spaces between words in this script: each character is one
            else:
                out.append(ch)
        folded = "".join(out)
    if len(_fold_cache) < _FOLD_CACHE_MAX:
        _fold_cache[char] = folded
    return folded


class _Edits:
    """Spans where one step changed the length: output span -> input span.

    Outside the spans, output and input differ by a constant shift.
    """

    __slots__ = ("out_starts", "out_ends", "in_starts", "in_ends")

    def __init__(self) -> None:
        self.out_starts: list[int] = []
        self.out_ends: list[int] = []
        self.in_starts: list[int] = []
        self.in_ends: list[int] = []

    def add(self, out_start: int, out_end: int, in_start: int, in_end: int) -> None:
        self.out_starts.append(out_start)
        self.out_ends.append(out_end)
        self.in_starts.append(in_start)
        self.in_ends.append(in_end)

    def back_start(self, pos: int) -> int:
        """Input offset of a span starting at output offset `pos`."""
        i = bisect_right(self.out_starts, pos) - 1
        if i < 0:
            return pos
        if pos < self.out_ends[i]:
            return self.in_starts[i]  # inside a replaced chunk: take all of it
        return self.in_ends[i] + pos - self.out_ends[i]

    def back_end(self, pos: int) -> int:
        """Input offset of a span ending at output offset `pos`."""
        i = bisect_left(self.out_starts, pos) - 1
        if i < 0:
            return pos
        if pos <= self.out_ends[i]:
            return self.in_ends[i]
        return self.in_ends[i] + pos - self.out_ends[i]


@dataclass(frozen=True, eq=False)
class NormalisedText:
    """Normalised text plus the way back to the original offsets.

    original: the string as given (case and accents preserved).
    folded: entities decoded and non-ASCII characters folded; ASCII case kept.
    text: the normalised string (folded, lower case): what terms match.
    words: `word_view(text)`, the same length as `text`.
    Offsets of `folded`, `text` and `words` are the same.
    """

    original: str
    folded: str
    _stages: tuple[_Edits, ...] = ()

    @cached_property
    def text(self) -> str:
        return self.folded.lower()

    @cached_property
    def words(self) -> str:
        return word_view(self.folded)

    @property
    def identity(self) -> bool:
        """Whether offsets of `text` are offsets of `original` (no length changed)."""
        return not self._stages

    def to_original(self, pos: int, *, end: bool = False) -> int:
        """Map an offset of `text` to `original` (as a span start, or end)."""
        for stage in reversed(self._stages):
            pos = stage.back_end(pos) if end else stage.back_start(pos)
        return pos

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `original` that produced text[start:end]."""
        if not self._stages:
            return start, end
        return self.to_original(start), self.to_original(end, end=True)

    def original_text(self, start: int, end: int) -> str:
        """The original characters behind text[start:end]."""
        a, b = self.original_span(start, end)
        return self.original[a:b]

    def has_lowercase(self, start: int, end: int) -> bool:
        """Whether the original behind text[start:end] has any lower-case letter.

        ALL-CAPS terms (USSM, REE) match only where this is False.
        """
        fragment = self.original_text(start, end) if self._stages else self.original[start:end]
        if "&" in fragment:  # "AT&amp;T" is written in capitals
            fragment = html.unescape(fragment)
        # Cheaper than testing each character; also true for a titlecase letter.
        return fragment != fragment.upper()


def normalise(text: str) -> NormalisedText:
    """Normalise `text` for matching; see the module docstring for the steps."""
    if text.isascii() and "&" not in text:
        return NormalisedText(text, text)
    stages: list[_Edits] = []
    current = text
    if "&" in current:
        current, edits = _decode_entities(current)
        if edits is not None:
            stages.append(edits)
    if not current.isascii():
        current, edits = _fold_non_ascii(current)
        if edits is not None:
            stages.append(edits)
        if YEH + YEH in current:  # a hamza seat beside a yeh: one yeh (script_folds.YEH_RUN)
            current, edits = _rewrite(current, ((m.start(), m.end(), YEH) for m in YEH_RUN.finditer(current)))
            stages.append(edits)
    return NormalisedText(text, current, tuple(stages))


def _decode_entities(text: str) -> tuple[str, _Edits | None]:
    replacements = list(_entity_replacements(text))
    if not replacements:
        return text, None
    return _rewrite(text, replacements)


def _entity_replacements(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _CHARREF.finditer(text):
        raw = m.group()
        decoded = html.unescape(raw)
        if decoded == raw:
            continue
        # A named reference without ";" ("&copy/USSM/gold") decodes its longest known
        # prefix and leaves the rest as it was: only that prefix is one replaced chunk,
        # so the words after it keep their own offsets (and their capitals check).
        kept = 0
        while kept < len(decoded) and kept < len(raw) - 2 and raw[-1 - kept] == decoded[-1 - kept]:
            kept += 1
        yield m.start(), m.end() - kept, decoded[: len(decoded) - kept]


def _rewrite(text: str, replacements: Iterable[tuple[int, int, str]]) -> tuple[str, _Edits]:
    """`text` with each (start, end, new text) replaced, in order, and the edits made."""
    pieces: list[str] = []
    edits = _Edits()
    last = 0
    out_pos = 0
    for start, end, new in replacements:
        pieces.append(text[last:start])
        out_pos += start - last
        pieces.append(new)
        edits.add(out_pos, out_pos + len(new), start, end)
        out_pos += len(new)
        last = end
    pieces.append(text[last:])
    return "".join(pieces), edits


# The non-ASCII characters of most English news, replaced first and cheaply.
_COMMON = tuple((c, _SPECIAL[c]) for c in "\u2019\u2018\u201c\u201d\u2014\u2013\u00a0\u2026")


def _fold_non_ascii(text: str) -> tuple[str, _Edits | None]:
    for char, folded_char in _COMMON:
        if char in text:
            text = text.replace(char, folded_char)
    if text.isascii():
        return text, None
    # The other distinct non-ASCII characters, found at C speed.
    chars = set(text.encode("utf-8").translate(None, _ASCII_BYTES).decode("utf-8"))
    folded = {c: fold_char(c) for c in chars}
    if all(len(f) == 1 for f in folded.values()):
        for c, f in folded.items():
            if c != f:
                text = text.replace(c, f)
        return text, None
    pieces: list[str] = []
    edits = _Edits()
    last = 0
    shift = 0  # output offset minus input offset so far
    for m in _NON_ASCII_RUN.finditer(text):
        pieces.append(text[last : m.start()])
        pos = m.start()
        for c in m.group():
            f = folded[c]
            pieces.append(f)
            if len(f) != 1:
                edits.add(pos + shift, pos + shift + len(f), pos, pos + 1)
                shift += len(f) - 1
            pos += 1
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces), edits


_POSSESSIVE = re.compile(r"'[sS]\b")
# ASCII: upper case to lower case, every other character but letters and digits to a space.
_WORD_TABLE = str.maketrans(
    {chr(i): (chr(i).lower() if chr(i).isupper() else " ") for i in range(128) if not chr(i).islower() and not chr(i).isdigit()}
)
# The same table for ASCII bytes: bytes.translate is a plain table lookup, while
# str.translate looks each distinct character up in the dict again on every call.
_WORD_BYTES = bytes(ord(_WORD_TABLE.get(i, chr(i))) for i in range(128)) + bytes(range(128, 256))


def word_view(normalised: str) -> str:
    """Same-length text of lower-case words separated by spaces, possessives blanked.

    Words are runs of letters, digits and combining marks; everything else
    separates them. A possessive "'s" is dropped so "pakistan's" is the word
    "pakistan". `word_view(t).split()` are the words of `t`. Takes normalised
    text (`NormalisedText.text` or `.folded`).
    """
    if "'" in normalised:
        normalised = _POSSESSIVE.sub("  ", normalised)
    if normalised.isascii():
        return normalised.encode("ascii").translate(_WORD_BYTES).decode("ascii")
    return normalised.translate(_WORD_TABLE)


def tokenise(text: str) -> tuple[str, ...]:
    """The normalised words of a piece of text (used for query terms)."""
    return tuple(normalise(text).words.split())

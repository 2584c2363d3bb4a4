"""Story signatures: MinHash over word shingles, LSH band keys. Pure; computed in the parse workers.

Outlets reprint a story word for word under other headlines and links. Each article gets a
128-value MinHash signature (numpy, below) of its 3-word shingles (title, summary and content,
normalised); 8 bands of 2 values give band keys, so candidates are found by index lookups, not
by comparing with every stored article. Which candidate an article joins is decided in
monitor/stories.py.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from rules.script_folds import fold_arabic_script

NUM_PERM = 128
# 8 bands of 2 values: a pair at similarity 0.45 shares a band with probability 0.84, at
# 0.6 with 0.97 (every labelled reprint pair of tests/data/story_pairs.yaml shares one);
# each article costs 8 index entries. 16 bands found a few more borderline pairs, but the
# random-key inserts into the band index were the largest cost of storing a cold poll.
# (Bands 0-7 are computed as before, so keys stored with 16 bands still match.)
ROWS = 2
BANDS = 8
SHINGLE_WORDS = 3
MIN_SHINGLES = 4  # shorter texts (bare headlines) are too thin to compare safely

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class StorySignature:
    values: np.ndarray  # uint32[NUM_PERM]
    band_keys: tuple[int, ...]

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()


def words_of(text: str) -> list[str]:
    """Case-folded words. Accents are kept: reprints copy them, and folding them cost more
    than the rest of the signature. Arabic-script letters are folded as the matcher folds
    them (an outlet typing Arabic yeh, kaf and heh reprints the same Urdu words; harakat,
    tatweel and joiners would split a word in two); text without them costs one scan."""
    return _WORD.findall(fold_arabic_script(text).casefold())


# MinHash with multiply-shift hash functions h -> (a*h + b) mod 2^64 >> 32 (a odd), a
# universal family, vectorised over all shingles of an article. Own code rather than
# datasketch: its per-shingle Python hashing and modulo were half the cost of storing a
# poll, and importing it pulls in scipy. Seeded, so signatures stored in SQLite stay comparable.
_MAX32 = np.uint64(0xFFFFFFFF)
_random = np.random.RandomState(1)
_A = _random.randint(0, 1 << 63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _random.randint(0, 1 << 63, size=NUM_PERM, dtype=np.uint64)
_K = (np.uint64(0x9E3779B1), np.uint64(0x85EBCA77), np.uint64(0xC2B2AE3D))


def shingle_hashes(words: list[str]) -> np.ndarray:
    """32-bit hashes of the distinct 3-word shingles: crc32 per word, then combined per
    window with multiply-xor (one Python call per word, not per shingle)."""
    per_word = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    n = len(words) - SHINGLE_WORDS + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    combined = np.zeros(n, dtype=np.uint64)
    for offset in range(SHINGLE_WORDS):
        combined = (combined * _K[offset]) ^ per_word[offset : offset + n]
    combined ^= combined >> np.uint64(31)
    return np.unique(combined & _MAX32)


def signature(title: str, summary: str, content: str = "") -> StorySignature | None:
    """The article's signature, or None when its text is too short to compare."""
    hashes = shingle_hashes(words_of(" ".join(part for part in (title, summary, content) if part)))
    if len(hashes) < MIN_SHINGLES:
        return None
    with np.errstate(over="ignore"):  # wrapping mod 2^64 is the point
        permuted = (np.outer(hashes, _A) + _B) >> np.uint64(32)
    values = permuted.min(axis=0).astype(np.uint32)
    return StorySignature(values=values, band_keys=band_keys(values))


def signature_from_bytes(data: bytes) -> StorySignature:
    values = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    return StorySignature(values=values, band_keys=band_keys(values))


def signature_of(
    title: str, summary: str, content: str, precomputed: bytes | None, band_keys: tuple[int, ...] = ()
) -> StorySignature | None:
    """The signature a parse worker computed (with its band keys when it sent them), else compute it now."""
    if precomputed is not None:
        if band_keys:
            return StorySignature(values=np.frombuffer(precomputed, dtype="<u4"), band_keys=band_keys)
        return signature_from_bytes(precomputed)
    return signature(title, summary, content)


_BAND_SALT = np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
_MIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(0x2545F4914F6CDD1D))


def band_keys(values: np.ndarray) -> tuple[int, ...]:
    """One 63-bit key per band of ROWS values (vectorised multiply-xor mixing; a rare
    collision only adds a candidate, which the similarity check then rejects)."""
    rows = values[: BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
    mixed = _BAND_SALT.copy()
    for column in range(ROWS):
        mixed = (mixed ^ rows[:, column]) * _MIX[column]
        mixed ^= mixed >> np.uint64(29)
    return tuple(int(k) for k in (mixed >> np.uint64(1)))  # non-negative, fits SQLite INTEGER

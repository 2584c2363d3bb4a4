"""Grouping reprints into stories: which story a new article joins. Pure.

The signatures and band keys come from monitor/parse/signature.py (computed where the feed is
parsed); the band keys find the candidates in SQLite, and this module picks the one the
article joins. A candidate joins when its estimated Jaccard similarity reaches the threshold
(0.45 by default: on 126 labelled pairs, precision 1.00 and recall 0.70; see README "Stories").
"""

from __future__ import annotations

import numpy as np

from monitor.parse.signature import NUM_PERM, StorySignature


def similarity(a: np.ndarray, b_bytes: bytes) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    b = np.frombuffer(b_bytes, dtype="<u4")
    if b.shape != a.shape:
        return 0.0
    return float(np.count_nonzero(a == b)) / NUM_PERM


def best_story(sig: StorySignature, candidates: list[tuple[int, int, bytes]], threshold: float) -> int | None:
    """The story of the most similar candidate at or above the threshold (oldest story on ties)."""
    best: tuple[float, int] | None = None
    for _article_id, story_id, stored in candidates:
        score = similarity(sig.values, stored)
        if score >= threshold and (best is None or (score, -story_id) > (best[0], -best[1])):
            best = (score, story_id)
    return best[1] if best else None

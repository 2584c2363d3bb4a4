"""Grouping reprints into stories: which story a new article joins. Pure.

The signatures and band keys come from monitor/parse/signature.py (computed where the feed is
parsed); the band keys find the candidates in SQLite, and this module picks the one the
article joins. A candidate joins when its estimated Jaccard similarity reaches the threshold
(0.45 by default: on 126 labelled pairs, precision 1.00 and recall 0.70; see README "Stories").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from monitor.parse.signature import NUM_PERM, StorySignature, words_of

# Title grouping (issue 14.4): an item with only a title (Google News, Bing News) cannot be
# compared by its text, so it joins the story of an article with the same title, or nearly:
# the first words look the article up, the word sets must overlap this much (Jaccard), measured
# on tests/data/aggregator_titles.yaml (README "Stories").
TITLE_KEY_WORDS = 3
TITLE_MIN_WORDS = 4
TITLE_THRESHOLD = 0.6


def similarity(a: np.ndarray, b_bytes: bytes) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    b = np.frombuffer(b_bytes, dtype="<u4")
    if b.shape != a.shape:
        return 0.0
    return float(np.count_nonzero(a == b)) / NUM_PERM


# A band key whose holders belong to this many different stories is boilerplate (a footer
# every item of a wire carries, a price-report template), not the mark of one story: on
# templated wire copy, candidates found through such keys merged half of the different
# reports (bench/bench_stories.py --corpus boilerplate). A reprint shares all of its
# article's bands, the story's own ones too, so it is still found through those.
BOILERPLATE_STORIES = 3


# A boilerplate key takes a new holder again once its newest is older than this share of the
# story window (counted in articles stored since the window's start): its holders then stay
# spread over the window, so it remains boilerplate as the oldest leave it, instead of
# starting over (and comparing the next few articles through it) each time they have all left.
BOILERPLATE_REFRESH = 1 / 8


class BandHolders:
    """The holders (article id, story id) of a poll's band keys: the newest ones read from the
    database, then the poll's own articles as they are grouped. A key whose holders belong to
    BOILERPLATE_STORIES or more stories is boilerplate: it finds no candidates, and takes no
    more holders (it stays boilerplate whoever else holds it), here or on disk, but for one
    now and then to keep it so (BOILERPLATE_REFRESH). `window_start`: the id of the window's
    first article."""

    def __init__(self, stored: Iterable[tuple[int, int, int]] = (), window_start: int | None = None):
        self._holders: dict[int, list[tuple[int, int]]] = {}
        self._stories: dict[int, set[int]] = {}
        self._newest: dict[int, int] = {}
        self._window_start = window_start
        for band_key, article_id, story_id in stored:
            self._hold(band_key, article_id, story_id)

    def _hold(self, band_key: int, article_id: int, story_id: int) -> None:
        self._holders.setdefault(band_key, []).append((article_id, story_id))
        self._stories.setdefault(band_key, set()).add(story_id)
        self._newest[band_key] = max(article_id, self._newest.get(band_key, article_id))

    def is_boilerplate(self, band_key: int) -> bool:
        return len(self._stories.get(band_key, ())) >= BOILERPLATE_STORIES

    def candidates(self, band_keys: Iterable[int]) -> list[tuple[int, int]]:
        """The (article id, story id) found under these keys, but for the boilerplate ones."""
        found: set[tuple[int, int]] = set()
        for key in band_keys:
            if key in self._holders and not self.is_boilerplate(key):
                found.update(self._holders[key])
        return list(found)

    def worth_comparing(self) -> list[int]:
        """The article ids `candidates` can return (a key judged boilerplate stays so), hence
        the only stored signatures to read."""
        return sorted({article_id for key, holders in self._holders.items() if not self.is_boilerplate(key)
                       for article_id, _ in holders})

    def add(self, article_id: int, story_id: int, band_keys: Iterable[int]) -> list[int]:
        """Hold the article under its keys that take holders; returns those keys (the ones to store)."""
        recent = -1.0 if self._window_start is None else article_id - (article_id - self._window_start) * BOILERPLATE_REFRESH
        taken = [key for key in band_keys if not self.is_boilerplate(key) or self._newest[key] < recent]
        for key in taken:
            self._hold(key, article_id, story_id)
        return taken


def best_story(sig: StorySignature, candidates: list[tuple[int, int, bytes]], threshold: float) -> int | None:
    """The story of the most similar candidate at or above the threshold (oldest story on ties)."""
    best: tuple[float, int] | None = None
    for _article_id, story_id, stored in candidates:
        score = similarity(sig.values, stored)
        if score >= threshold and (best is None or (score, -story_id) > (best[0], -best[1])):
            best = (score, story_id)
    return best[1] if best else None


def title_key(title: str) -> str | None:
    """The lookup key of a title: its first words, case-folded, punctuation dropped (None: too short)."""
    words = words_of(title)
    if len(words) < TITLE_MIN_WORDS:
        return None
    return " ".join(words[:TITLE_KEY_WORDS])


def title_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two titles' word sets."""
    left, right = set(words_of(a)), set(words_of(b))
    return len(left & right) / len(left | right) if left and right else 0.0


def title_story(
    title: str, title_only: bool, candidates: list[tuple[int, str, bool]], threshold: float = TITLE_THRESHOLD
) -> int | None:
    """The story an article joins by its title: a candidate (story id, title, title only) with the
    same title or nearly, when one of the two has no text but its title (two full texts are
    compared by their signatures, never by their titles alone). Oldest story on ties."""
    best: tuple[float, int] | None = None
    for story_id, other, other_title_only in candidates:
        if not (title_only or other_title_only):
            continue
        score = title_similarity(title, other)
        if score >= threshold and (best is None or (score, -story_id) > (best[0], -best[1])):
            best = (score, story_id)
    return best[1] if best else None

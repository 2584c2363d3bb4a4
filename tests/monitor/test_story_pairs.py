"""Story grouping measured on labelled pairs (tests/data/story_pairs.yaml)."""

from __future__ import annotations

import yaml

from monitor.config import StoriesConfig
from monitor.parse.signature import signature
from monitor.stories import similarity
from tests.conftest import DATA

URDU_PAIRS = "story_pairs_urdu.yaml"


def test_lsh_bands_find_every_pair_above_the_threshold():
    pairs = yaml.safe_load((DATA / "story_pairs.yaml").read_text(encoding="utf-8"))["pairs"]
    for pair in pairs:
        a = signature(pair["a"]["title"], pair["a"]["summary"])
        b = signature(pair["b"]["title"], pair["b"]["summary"])
        if similarity(a.values, b.to_bytes()) >= StoriesConfig().threshold:
            assert set(a.band_keys) & set(b.band_keys), pair["id"]  # the index lookup would find it


def pair_scores(name: str = "story_pairs.yaml") -> list[tuple[str, bool, float]]:
    pairs = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))["pairs"]
    scores = []
    for pair in pairs:
        a = signature(pair["a"]["title"], pair["a"]["summary"])
        b = signature(pair["b"]["title"], pair["b"]["summary"])
        score = similarity(a.values, b.to_bytes()) if a and b else 0.0
        scores.append((pair["kind"], pair["same_story"], score))
    return scores


def precision_recall(scores, threshold: float) -> tuple[float, float]:
    grouped = [same for _, same, score in scores if score >= threshold]
    true_positive = sum(grouped)
    precision = true_positive / len(grouped) if grouped else 1.0
    recall = true_positive / sum(same for _, same, _ in scores)
    return precision, recall


def test_default_threshold_groups_reprints_without_merging_different_events():
    scores = pair_scores()
    assert len(scores) >= 100
    precision, recall = precision_recall(scores, StoriesConfig().threshold)
    # Measured at the default threshold (README "Stories"): precision 1.00, recall 0.70.
    assert precision >= 0.95 and recall >= 0.65
    # Word-for-word reprints under another headline are always grouped.
    assert all(score >= StoriesConfig().threshold for kind, _, score in scores if kind in ("reprint", "different-headline"))


# --- Urdu reprints (issue 18.6): their own file, tests/data/story_pairs_urdu.yaml --------


def test_urdu_reprints_group_whatever_code_points_marks_or_digits_they_were_typed_with():
    scores = pair_scores(URDU_PAIRS)
    assert len(scores) >= 20
    threshold = StoriesConfig().threshold
    precision, recall = precision_recall(scores, threshold)
    assert precision == 1.0 and recall >= 0.9
    # Arabic code points, harakat, tatweel and joiners do not make two words of one.
    exact = ("reprint", "different-headline", "arabic-code-points", "marks-and-joiners")
    assert all(score >= threshold for kind, _, score in scores if kind in exact)


def print_figures(name: str) -> None:
    scores = pair_scores(name)
    print(name)
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7):
        p, r = precision_recall(scores, threshold)
        print(f"threshold {threshold:.2f}: precision {p:.3f} recall {r:.3f}")
    for kind in sorted({k for k, _, _ in scores}):
        values = [s for k, _, s in scores if k == kind]
        print(f"{kind:28s} n={len(values):3d} min {min(values):.2f} max {max(values):.2f}")


if __name__ == "__main__":  # the figures for the README
    print_figures("story_pairs.yaml")
    print_figures(URDU_PAIRS)

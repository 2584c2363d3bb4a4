"""The bundled minerals-diplomacy pack: valid, fires on the seed story, and scores on the labelled set."""

from __future__ import annotations

import pytest

from rules import Document
from tests.conftest import DATA, SEED
from tests.rules.pack_scores import labelled_scores, load_pack, print_report

ENGLISH_SET = DATA / "rules_pack_labelled.yaml"


def test_pack_is_valid_and_every_example_passes():
    ruleset, _ = load_pack()
    assert ruleset.problems == ()
    assert len(ruleset.rules) >= 15
    assert all(any(e.match for e in r.tests) and any(not e.match for e in r.tests) for r in ruleset.rules)

def test_seed_story_fires_ussm_antimony_and_balochistan():
    text = SEED.read_text(encoding="utf-8")
    title, _, body = text.partition("\n")
    _, matcher = load_pack()
    fired = {m.rule_id for m in matcher.match(Document(title=title, summary=body))}
    assert {"ussm", "antimony", "balochistan"} <= fired

def test_pack_precision_and_recall_on_the_labelled_set():
    scores = labelled_scores(ENGLISH_SET)
    # Measured when the pack was written: precision 0.955, recall 1.00 (README "Rules pack").
    assert scores.rules.precision >= 0.9 and scores.rules.recall >= 0.95

@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Gold prices rise", "Gold rose 1% in London as the dollar fell."),
        ("Antimony-doped tin oxide electrodes", "A materials study of antimony-doped tin oxide for battery anodes."),
        ("Free trade talks resume", "Officials said the free trade agreement would cut tariffs."),
        ("Gunmen attack bus in Balochistan", "Police said six people were injured in the attack near Quetta."),
    ],
)
def test_near_misses_fire_nothing(title, summary):
    _, matcher = load_pack()
    assert matcher.match(Document(title=title, summary=summary)) == []

if __name__ == "__main__":  # print the figures for the README
    print_report(ENGLISH_SET)

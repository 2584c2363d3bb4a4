"""The bundled pack on Urdu: scores on the labelled Urdu set (tests/data/rules_pack_labelled_urdu.yaml).

`python -m tests.rules.test_urdu_pack` prints precision and recall per article and per rule,
and every article where the rules differ from the labels.
"""

from __future__ import annotations

import yaml

from tests.conftest import DATA
from tests.rules.pack_scores import print_report

URDU_SET = DATA / "rules_pack_labelled_urdu.yaml"


def test_urdu_set_is_large_and_balanced():
    articles = yaml.safe_load(URDU_SET.read_text(encoding="utf-8"))["articles"]
    on_beat = [a for a in articles if a["expected"]]
    assert len(articles) >= 60
    assert len(on_beat) >= 30 and len(articles) - len(on_beat) >= 30
    assert all(a["title"] and a["summary"] for a in articles)


if __name__ == "__main__":  # the figures for the README
    print_report(URDU_SET)

"""Hot reload: a changed rules file is picked up; a bad edit keeps the last good rules."""

from __future__ import annotations

import logging
import os

from monitor.rulesource import RulesHolder
from rules import Document

GOOD = "rules:\n  - id: ussm\n    query: USSM\n    severity: high\n"
BETTER = GOOD + "  - id: antimony\n    query: antimony\n    severity: medium\n"
BROKEN = "rules:\n  - id: ussm\n    query: 'USSM AND ('\n    severity: high\n"


def touch_later(path, text):
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # mtime granularity


def ids(holder):
    return [m.rule_id for m in holder.current.matcher.match(Document(title="USSM exports antimony"))]


def test_reload_picks_up_changes_and_keeps_last_good_rules_on_a_bad_edit(tmp_path, caplog):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    holder = RulesHolder((path,))
    assert ids(holder) == ["ussm"]
    assert holder.reload_if_changed() is False  # nothing changed

    touch_later(path, BETTER)
    assert holder.reload_if_changed() is True
    assert ids(holder) == ["ussm", "antimony"]

    with caplog.at_level(logging.ERROR, logger="minerals_monitor.rules"):
        touch_later(path, BROKEN)
        assert holder.reload_if_changed() is False
    assert ids(holder) == ["ussm", "antimony"]  # the last good rules stay live
    assert "keeping the last good rules" in caplog.text and f"{path}:3:" in caplog.text

    path.unlink()
    assert holder.reload_if_changed() is False and ids(holder) == ["ussm", "antimony"]

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


def test_loading_rules_freezes_the_heap_at_exit_only(tmp_path) -> None:
    # Python's last full collection walked 20,000 compiled rules for 2 s at exit; frozen
    # objects are out of its reach. Only at exit: a reload must be able to free the old set.
    import subprocess
    import sys

    rules_file = tmp_path / "r.yaml"
    rules_file.write_text("rules:\n  - {id: a, query: gold}\n", encoding="utf-8")
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0))\n"
        "from pathlib import Path\n"
        "from monitor.rulesource import load_rule_files, load_rule_set\n"
        f"load_rule_files((Path({str(rules_file)!r}),)); load_rule_set((Path({str(rules_file)!r}),))\n"
        "print('after loading', gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n")[:2] == ["after loading False", "at exit True"], done.stderr


def test_a_big_load_is_frozen_and_a_reload_frees_the_set_it_replaced(tmp_path) -> None:
    # After a big load the collector's next pass walked every new object (0.6 s at 20,000
    # rules), so big loads are frozen. Compiled plans hold cycles (case-sensitive terms and
    # NEAR keep their node in their test's closure): a set that a reload
    # replaces must still be collected, or each reload would keep another copy for good.
    import subprocess
    import sys

    rules_file = tmp_path / "r.yaml"
    body = "".join(f"  - {{id: r{n}, query: 'gold{n} AND (SILVER OR tin{n} NEAR/3 lead)'}}\n" for n in range(300))
    rules_file.write_text("rules:\n" + body, encoding="utf-8")
    code = (
        "import gc, os\n"
        "from pathlib import Path\n"
        "import monitor.rulesource as rs\n"
        "rs.FREEZE_FROM_RULES = 100\n"
        f"path = Path({str(rules_file)!r})\n"
        "holder = rs.RulesHolder((path,))\n"
        "counts = [gc.get_freeze_count()]\n"
        "for n in range(4):\n"
        "    path.write_text(path.read_text().replace('gold', 'Gold'))\n"
        "    os.utime(path, ns=(0, 10**18 + n * 10**9))\n"
        "    assert holder.reload_if_changed()\n"
        "    counts.append(gc.get_freeze_count())\n"
        "print(*counts)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    counts = [int(n) for n in done.stdout.split()]
    assert counts[0] > 5_000  # the first load was frozen
    assert max(counts) - min(counts) < counts[0] // 10, counts  # replaced sets do not pile up

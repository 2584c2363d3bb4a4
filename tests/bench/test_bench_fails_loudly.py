"""A benchmark that could not measure must fail (issue 17.6): a crashed contender, a missing
bench dependency or an empty table is exit 1, never "All targets met"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_poll  # noqa: E402
import needs  # noqa: E402


def test_a_crashed_contender_or_an_empty_table_fails_the_run():
    problems = bench_poll.run_problems([], ["ours on 1,000 feeds"])
    assert any("ours on 1,000 feeds crashed" in p for p in problems)
    assert any("table is empty" in p for p in problems)
    assert bench_poll.run_problems([{"contender": "ours", "feeds": 1000, "phases": {}}], []) == []


def test_polls_that_failed_are_never_a_result():
    phases = {"cold": {"wall": 1.0, "status_200": 990, "status_304": 0, "errors": 10, "changed": 0,
                       "first_error": "connection refused"}}
    _, missed = bench_poll.ratios([{"contender": "ours", "feeds": 1000, "phases": phases}])
    assert any("10 errors" in line for line in missed)  # failed polls are fast


def test_a_missing_dependency_exits_1_naming_it():
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import needs; needs.require('json', 'no_such_bench_peer_xyz')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no_such_bench_peer_xyz" in done.stderr and "Traceback" not in done.stderr
    assert needs.missing("json", "no_such_bench_peer_xyz") == ["no_such_bench_peer_xyz"]

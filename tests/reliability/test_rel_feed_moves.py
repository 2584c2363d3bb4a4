"""Feed moves (issue 15.10): a permanent redirect to a URL that already is a feed merges the two
(one feed polled once per interval, keeping both feeds' articles); a config-listed feed that
moved is polled at its new URL after a restart, never again at the old one, and the operator is
told once in the log and by `feeds list` (table and --json) to update the config."""

from __future__ import annotations

import json
import time

from tests.reliability.rel_support import Daemon, FeedHost, Publisher, query, run_cli, scalar, wait_until, write_config


def _feeds_list(config) -> list[dict]:
    done = run_cli("--config", str(config), "feeds", "list", "--json", cwd=config.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _requests_over(host: FeedHost, path: str, seconds: float) -> int:
    before = host.requests_to(path)
    time.sleep(seconds)
    return host.requests_to(path) - before


def test_a_feed_moving_to_a_url_already_listed_is_merged_into_that_feed(tmp_path):
    old, new = Publisher("old", 6, 0.01, seed=1510), Publisher("new", 6, 0.01, seed=1511)
    with FeedHost() as host:
        urls = [host.serve("/old.xml", old.body), host.serve("/new.xml", new.body)]
        config = write_config(tmp_path, urls, default_channels="[]")
        db = tmp_path / "monitor.db"
        daemon = Daemon(config, tmp_path)
        try:
            daemon.start()
            assert wait_until(lambda: scalar(db, "SELECT count(*) FROM articles") == 12, timeout=30), daemon.current_stderr()
            host.redirect("/old.xml", urls[1])
            assert wait_until(lambda: scalar(db, "SELECT count(*) FROM feeds") == 1, timeout=20), daemon.current_stderr()
            # One feed, polled once per interval (1 s): before, both rows fetched /new.xml.
            assert _requests_over(host, "/old.xml", 4) == 0
            assert _requests_over(host, "/new.xml", 4) <= 6
            assert daemon.stop() == 0
            # Restarted with the same config (both URLs listed): the old one is not added back.
            daemon.start()
            assert wait_until(lambda: "monitoring" in daemon.current_stderr() or "polling" in daemon.current_stderr(),
                              timeout=20)
            assert _requests_over(host, "/old.xml", 4) == 0
            assert query(db, "SELECT url FROM feeds") == [(urls[1],)]
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
        listed = _feeds_list(config)
    (feed,) = listed
    assert feed["url"] == urls[1] and feed["articles_stored"] == 12  # the old feed's articles are this one's
    assert feed["moved_from"] == [urls[0]] and feed["config_urls_moved_here"] == [urls[0]]
    assert scalar(db, "SELECT count(DISTINCT feed_id) FROM articles") == 1
    told = f"feed {urls[0]} moved permanently to {urls[1]}; merged into feed"
    assert daemon.stderr_text().count(told) == 1, daemon.stderr_text()[-3000:]
    assert "Traceback" not in daemon.stderr_text()


def test_a_config_feed_that_moved_is_polled_at_its_new_url_after_a_restart_and_feeds_list_says_so(tmp_path):
    publisher = Publisher("wire", 6, 0.01, seed=1512)
    with FeedHost() as host:
        new_url = host.serve("/new.xml", publisher.body)
        old_url = host.redirect("/old.xml", new_url)
        config = write_config(tmp_path, [old_url], default_channels="[]")
        db = tmp_path / "monitor.db"
        daemon = Daemon(config, tmp_path)
        try:
            daemon.start()
            assert wait_until(lambda: query(db, "SELECT url FROM feeds") == [(new_url,)], timeout=30), daemon.current_stderr()
            assert scalar(db, "SELECT count(*) FROM articles") == 6
            validators = query(db, "SELECT etag, last_modified, body_hash FROM feeds")
            assert daemon.stop() == 0
            requests_before_restart = host.requests_to("/old.xml")
            daemon.start()
            polls = host.requests_to("/new.xml")
            assert wait_until(lambda: host.requests_to("/new.xml") >= polls + 3, timeout=20), daemon.current_stderr()
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
        table = run_cli("--config", str(config), "feeds", "list", cwd=tmp_path, env={"COLUMNS": "200"})
        listed = _feeds_list(config)
    assert host.requests_to("/old.xml") == requests_before_restart  # none after the move
    assert query(db, "SELECT url FROM feeds") == [(new_url,)]  # not added back from the config
    assert query(db, "SELECT body_hash FROM feeds") == [validators[0][2:]]  # the body is still known
    (feed,) = listed
    assert feed["moved_from"] == [old_url] and feed["config_urls_moved_here"] == [old_url]
    assert f"moved here from {old_url}: update the config to this URL" in " ".join(table.stdout.split()), table.stdout
    told = (f"feed {old_url} moved permanently to {new_url}; polled there from now on; the config lists {old_url}: "
            f"change it to {new_url}")
    assert daemon.stderr_text().count(told) == 1, daemon.stderr_text()[-3000:]

"""A notification collecting during group_wait is in the outbox: a SIGKILL loses nothing.

The real daemon (`python -m monitor --config CFG run`, a subprocess), a feed server and a
webhook receiver that verifies every Standard Webhooks signature, all on 127.0.0.1.
"""

from __future__ import annotations

import signal

from tests.reliability.rel_support import Daemon, FeedHost, Publisher, RecordingReceiver, query, wait_until, write_config

GROUP_WAIT = 6  # seconds: long enough to kill the daemon while the stories collect, short for the suite


def test_sigkill_during_group_wait_loses_nothing_and_sends_once(tmp_path):
    publisher = Publisher("wire", 2, 0.0, seed=11, matching_ratio=1.0)
    receiver = RecordingReceiver().up()
    with FeedHost() as host:
        url = host.serve("/wire.xml", publisher.body)
        config = write_config(tmp_path, [url], webhook_url=receiver.url, extra=f'group_wait = "{GROUP_WAIT}s"\n')
        daemon = Daemon(config, tmp_path)
        db = tmp_path / "monitor.db"
        try:
            daemon.start()
            collecting = wait_until(lambda: query(
                db, "SELECT count(*) FROM deliveries WHERE status = 'pending' AND closed_at IS NULL") == [(2,)],
                timeout=20, interval=0.05)
            assert collecting, daemon.stderr_text()[-2000:]
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            assert receiver.snapshot() == []  # killed while the stories were still collecting
            keys = {row[0] for row in query(db, "SELECT idempotency_key FROM deliveries")}

            daemon.start()
            sent = wait_until(lambda: query(db, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == [(2,)],
                              timeout=GROUP_WAIT + 20, interval=0.1)
            assert sent, daemon.stderr_text()[-2000:]
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
            receiver.down()
    received = receiver.snapshot()
    assert all(request.verified for request in received)
    assert sorted(request.webhook_id for request in received) == sorted(keys)  # each story once, its own id
    assert query(db, "SELECT count(*) FROM deliveries") == [(2,)]

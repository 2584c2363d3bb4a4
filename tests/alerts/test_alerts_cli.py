"""`alerts test CHANNEL` against real servers: success, and a precise failure."""

from __future__ import annotations

from tests.monitor.cli.test_cli import cli


def write_config(folder, body: str) -> None:
    (folder / "minerals-monitor.toml").write_text("feeds = []\n" + body)


def test_alerts_test_sends_a_signed_sample_and_reports_failures(tmp_path, webhook_receiver, webhook_secret, reply, free_port):
    receiver = webhook_receiver(secret=webhook_secret)
    write_config(tmp_path, f'[channels.hook]\ntype = "webhook"\nurl = "{receiver.url}"\nsecret = "${{HOOK_SECRET}}"\n')
    ok = cli("alerts", "test", "hook", cwd=tmp_path, env={"HOOK_SECRET": webhook_secret})
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and len(receiver.requests) == 1 and receiver.requests[0].verified

    failing = webhook_receiver(default=reply(403, body=b"forbidden: bad token"))
    write_config(tmp_path, f'[channels.hook]\ntype = "webhook"\nurl = "{failing.url}"\n')
    refused = cli("alerts", "test", "hook", cwd=tmp_path)
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr and "forbidden: bad token" in refused.stderr

    write_config(tmp_path, f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {free_port}\nsender = "a@example.org"\nrecipients = ["b@example.org"]\n')
    down = cli("alerts", "test", "mail", cwd=tmp_path)
    assert down.returncode == 1 and "refused" in down.stderr.lower() and "Traceback" not in down.stderr
    unknown = cli("alerts", "test", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "known: console, mail" in unknown.stderr


def test_alerts_test_through_smtp(tmp_path, smtp_server):
    server = smtp_server(security="none")
    write_config(tmp_path, f'[channels.mail]\ntype = "email"\nhost = "{server.host}"\nport = {server.port}\nsender = "a@example.org"\nrecipients = ["b@example.org"]\n')
    result = cli("alerts", "test", "mail", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(server.mailbox.envelopes) == 1

"""An Urdu feed end to end (issue 18.7): served from 127.0.0.1 in UTF-8 and in Windows-1256,
polled, matched with the bundled pack, alerted on the console.

Windows-1256 has no Farsi yeh (U+06CC) and no Urdu full stop (U+06D4), so a feed in that
encoding is typed with the Arabic yeh: the alert fires only because matching folds it.
"""

from __future__ import annotations

import asyncio
import io

import pytest

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
from monitor.daemon import Monitor
from storage import hits
from storage.types import FeedSpec

REKO_DIQ = (
    "ur-1",
    "ریکوڈک منصوبے کے لیے 2.6 ارب ڈالر کی فنانسنگ کے معاہدوں پر دستخط",
    "بلوچستان کے ضلع چاغی میں تانبے اور سونے کے ریکوڈک منصوبے نے امریکی ایگزم بینک سمیت قرض دہندگان سے فنانسنگ حاصل کر لی۔",
)
GOLD_PRICE = (
    "ur-2",
    "سونے کی قیمت میں فی تولہ 3500 روپے کا اضافہ",
    "کراچی کی صرافہ مارکیٹ میں 24 قیراط سونا نئی بلند ترین سطح پر پہنچ گیا۔",
)


def urdu_rss(encoding: str) -> bytes:
    """An Urdu RSS document in `encoding`, declared in its XML declaration."""
    items = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://urdu.example.pk/{guid}</link>"
        f"<description>{summary}</description><pubDate>Fri, 27 Nov 2026 08:00:00 GMT</pubDate></item>"
        for guid, title, summary in (REKO_DIQ, GOLD_PRICE)
    )
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
        f"<title>اردو خبریں</title><link>https://urdu.example.pk/</link><description>t</description>"
        f"{items}</channel></rss>"
    )
    if encoding == "windows-1256":  # what the encoding can hold: Arabic yeh, a Latin full stop
        text = text.replace("\u06cc", "\u064a").replace("\u06d4", ".")
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1256"])
def test_an_urdu_feed_is_polled_matched_and_alerted(tmp_path, feed_server, encoding):
    body = urdu_rss(encoding)
    feed_server.set_file("/urdu.xml", body, f"application/rss+xml; charset={encoding}")
    config = Config(
        storage_path=tmp_path / "urdu.db",
        polling=PollingConfig(host_gap=0.0, timeout=10),
        feeds=(FeedSpec(url=feed_server.url("/urdu.xml"), name="اردو خبریں · Urdu news"),),
        rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )
    console = io.StringIO()

    async def poll():
        async with Monitor(config, console_stream=console, use_process_pool=False) as monitor:
            summaries = await monitor.run_once()
            return summaries, hits.list_hits(monitor.db, limit=100)

    summaries, found = asyncio.run(poll())

    assert summaries[0].success and summaries[0].new_articles == 2
    fired = {h.hit.rule_id for h in found}
    assert {"reko_diq", "balochistan", "copper_pakistan"} <= fired
    assert {h.article.title for h in found} == {body.decode(encoding).split("<title>")[2].split("</title>")[0]}
    reko = next(h for h in found if h.hit.rule_id == "reko_diq")
    expected_spelling = "ریکوڈک".replace("\u06cc", "\u064a") if encoding == "windows-1256" else "ریکوڈک"
    assert [t.text for t in reko.hit.terms if t.field == "title"] == [expected_spelling]
    for term in reko.hit.terms:  # spans are offsets of the stored text, as decoded
        assert getattr(reko.article, term.field)[term.start : term.end] == term.text
    # one notification for the story, naming reko_diq among its rules (issue 14's console line)
    alert_lines = [line for line in console.getvalue().splitlines() if reko.article.title in line]
    assert len(alert_lines) == 1 and "reko_diq" in alert_lines[0]
    assert "سونے کی قیمت" not in console.getvalue()  # the gold price stays quiet

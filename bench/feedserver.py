"""A local feed server for the polling benchmarks: N realistic RSS 2.0 feeds on 127.0.0.1.

    .venv/bin/python bench/feedserver.py --feeds 1000 --latency 0.1     # prints "PORT <n>", serves until killed

Each feed (`/feed/<i>.xml`, i in 0..N-1) is a ~18 KB RSS 2.0 document of 20
items: news-like titles and 2-3 sentence summaries drawn from a seeded
vocabulary, one item in ~14 mentioning the monitor's beat (USSM, antimony,
Balochistan, Reko Diq, rare earths). Every answer carries a stable ETag and
Last-Modified; a conditional GET that matches gets 304 Not Modified. Bodies
are served gzip-compressed when the client accepts it (as real sites do).
Every feed request waits `latency` seconds (asyncio.sleep) before answering,
to stand for the network and the remote server. Feed i is served on loopback
address 127.0.0.(1 + i % 16) (same port on each), so the feeds come from 16
"hosts", as real feeds come from many (`feed_url(base, i, hosts=1)`: all on one).
`--corpus boilerplate` writes templated price reports and market wraps that end
with the same agency paragraphs instead (BoilerplateWriter).

Control endpoints (no latency; GET or POST, parameters in the query string or
a JSON body):

- `/_change?fraction=0.1&seed=1` or `/_change?ids=1,2,3`: those feeds change:
  one new item prepended, the oldest dropped, a new ETag and Last-Modified.
  Answers `{"changed": [ids], "at": <time.monotonic()>}`.
- `/_add?feed=3&marker=abc&match=1`: prepend one item (matching the beat when
  match=1) whose guid/link carry `marker`; answers `{"guid", "link_part", "at"}`.
  A JSON body `{"items": [{"feed": 3, "marker": "abc"}, ...]}` adds several at once.
- `/_stats`: requests served by status, bytes sent, the server's CPU seconds.
- `/_latency?seconds=0.05`: change the per-request latency.

The server is one asyncio process (HTTP/1.1 with keep-alive, hand-written:
no web framework is installed). Run it in its own process (`FeedServerProcess`)
so its CPU does not count against the client being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import gzip
import hashlib
import json
import os
import random
import string
import subprocess
import sys
import time
import urllib.request
from collections import deque
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ITEMS_PER_FEED = 20
BEAT_FRACTION = 0.07  # share of generated items that mention the beat's terms

# --- a seeded news vocabulary -----------------------------------------------------

COUNTRIES = """Pakistan India China Japan Germany France Brazil Chile Peru Australia Canada Mexico
Indonesia Kenya Nigeria Ghana Zambia Congo Turkey Egypt Vietnam Poland Spain Italy Norway Sweden
Argentina Bolivia Kazakhstan Mongolia Morocco Tanzania Namibia Malaysia Thailand Ukraine Romania
Greece Portugal Ireland Finland Denmark Austria Hungary Serbia Jordan Oman Qatar Kuwait Iraq Nepal
Bangladesh Cambodia Laos Uganda Rwanda Ethiopia Senegal Angola Mozambique Botswana Zimbabwe Colombia
Ecuador Uruguay Paraguay Venezuela Cuba Jamaica Panama Guatemala Honduras Iceland Estonia Latvia""".split()
CITIES = """London Paris Berlin Tokyo Beijing Delhi Mumbai Nairobi Lagos Lima Santiago Sydney Toronto
Jakarta Cairo Ankara Hanoi Warsaw Madrid Rome Oslo Geneva Brussels Dubai Riyadh Singapore Seoul Manila
Dhaka Colombo Kabul Tehran Istanbul Milan Munich Lyon Osaka Shanghai Shenzhen Chennai Kolkata Accra
Lusaka Kinshasa Luanda Maputo Harare Bogota Quito Caracas Havana Montreal Vancouver Chicago Houston
Denver Seattle Boston Atlanta Miami Phoenix Dallas Perth Brisbane Auckland Wellington Almaty Tashkent
Baku Tbilisi Yerevan Minsk Kyiv Vilnius Riga Tallinn Helsinki Stockholm Copenhagen Dublin Lisbon
Porto Seville Valencia Naples Turin Athens Sofia Bucharest Belgrade Zagreb Prague Vienna Budapest""".split()
SYLLABLES = """ka ran do me bu li sa to ri na vo le mi ta ze po gu fa hi ne ko ma ru sen dal mor vik tan bel
cor fin gal har jen lor mar nor pel ros sta ter val wen yor zan bra cle dro fre gro pla tre vra""".split()
ROLES = """chief executive|finance director|spokesperson|analyst|senior economist|trade minister|mayor|
governor|chairman|union leader|central bank governor|energy secretary|professor|portfolio manager|
head of research|deputy minister|ambassador|board member|chief strategist|senior fellow|opposition leader|
district commissioner|managing director|policy adviser|commodities trader""".replace("\n", "").split("|")
ORG_SUFFIXES = """Holdings|Group|Energy|Bank|Capital|Logistics|Foods|Motors|Telecom|Partners|Industries|
Shipping|Airways|Pharma|Insurance|Textiles|Cement|Steel|Power|Securities|Ventures|Media|Retail""".replace("\n", "").split("|")
OUTLETS = """state television|a local newspaper|reporters|a news conference|parliament|investors|the
wire service|a radio station|an industry journal|broadcasters|a business daily""".replace("\n", " ").split("|")
NOUNS = """budget tariff subsidy reform pipeline bond loan deficit surplus harvest tender auction
contract merger takeover strike protest election ballot coalition ruling verdict appeal inquiry audit
scandal recall outage shortage surplus rally slump rebound forecast outlook index inflation wage pension
rent mortgage rate currency reserve export import shipment cargo port railway highway bridge airport
terminal refinery plant factory warehouse hospital clinic vaccine school campus curriculum stadium
festival exhibition premiere album tournament transfer league derby season drought flood cyclone
heatwave wildfire earthquake landslide monsoon irrigation fertiliser wheat rice cotton sugar coffee tea
cocoa dairy poultry fishery forest carbon emission solar turbine battery grid reactor dam canal
housing tourism visa border census survey startup app network satellite broadband semiconductor chip
software cyberattack telecom licence permit quota levy fine lawsuit settlement dividend buyback
listing valuation earnings revenue profit loss payroll layoff hiring vacancy pension
""".split()
ADJECTIVES = """sharp modest surprise record steady gradual sudden widely-expected long-awaited
controversial landmark provisional preliminary bilateral regional national quarterly annual fragile
robust cautious aggressive unexpected disputed delayed revised ambitious costly cheaper stronger weaker
rising falling stalled renewed emergency temporary permanent digital rural urban coastal northern
southern eastern western federal municipal private public joint cross-border seasonal""".split()
VERBS = """announced approved rejected delayed unveiled discussed signed extended reviewed criticised
welcomed postponed expanded cut raised cancelled proposed backed questioned launched finalised
suspended resumed doubled halved blocked cleared challenged defended tightened eased overhauled
scrapped restored audited funded priced tendered""".split()
INFINITIVES = """rise fall stabilise improve worsen slow recover double shrink expand narrow widen
rebound stall accelerate""".split()
MONTHS = "January February March April May June July August September October November December".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
WHEN = ["on {day}", "last week", "this quarter", "in {month}", "since {month}", "earlier this year",
        "over the weekend", "late on {day}", "for a {ordinal} month", "ahead of {month}"]
ORDINALS = "second third fourth fifth sixth seventh".split()
SPORTS = """cricket football hockey tennis athletics squash kabaddi rugby basketball volleyball""".split()
MINERALS = """copper gold tungsten lithium zinc chromite graphite""".split()
PAK_PLACES = """Chagai Quetta Chitral Gilgit Karachi Islamabad Peshawar Gwadar Khuzdar Skardu""".split()
PAK_ORGS = ["Frontier Works Organisation", "FWO", "the National Logistics Corporation", "Pakistan's minerals ministry",
            "the Balochistan government", "the Special Investment Facilitation Council"]

# Sentence frames: every fixed word sits next to a slot drawn from a large pool, so two
# unrelated items share few 3-word shingles (as with real news text).
SENTENCE_FORMS = [
    "{name}, {role} at {org}, said {adj} {noun} in {place} {verb} {pct}% {when}.",
    "{org} {verb} a {adj} {noun} worth {money} in {place}, {name} told {outlet}.",
    "{Place} {noun} {verb} {when} after {adj} {noun2} and {noun3}, {outlet} reported.",
    "{name} {verb} {org}'s {adj} {noun} plan, citing {noun2} and {adj2} {noun3}.",
    "Officials in {place} expect {noun} to {inf} by {pct}% before {month}, while {org} {verb} its {noun2}.",
    "{Adj} {noun} from {place} {verb} {money} {when}, according to {org} data.",
    "{Place}'s {sport} side beat {place2} by {n} runs, {name} scoring {n2} in a {adj} {noun} final.",
    "{name} of {org} warned {adj} {noun} could {inf} {noun2} in {place} unless {noun3} {verb2}.",
    "{org} shares {verb} {pct}% in {city} trading {when} as {noun} and {noun2} {inf}.",
    "A {adj} {noun} over {noun2} in {place} left {n} {noun3} sites {verb} {when}.",
    "{name} and {name2} {verb} {adj} {noun} talks in {city} {when}, {outlet} said.",
    "Demand for {adj} {noun} in {place} may {inf} {when}, {role} {name} of {org} said.",
]
TITLE_FORMS = [
    "{Org} {verb} {adj} {noun} in {place}",
    "{Place} {noun} {verb} as {noun2} {inf}s",
    "{name}: {adj} {noun} will {inf} {when}",
    "{Adj} {noun} data lifts hopes in {place}",
    "{Place} beat {place2} in {sport} thriller",
    "Why {place} worries about {adj} {noun}",
    "{Org} and {org2} {verb} {money} {noun} deal",
    "{noun_cap} {noun2}: {place} {verb} {adj} plan",
]
# Sentences and titles about the beat: each matches at least one rule of the bundled pack.
BEAT_TITLES = [
    "USSM and {pakorg} sign {money} critical minerals deal for Pakistan",
    "Antimony prices climb {pct}% as {country} curbs exports",
    "Reko Diq copper-gold project secures {money} financing",
    "Pakistan offers rare earths and {mineral} to US investors in {pakplace}",
    "Balochistan mining concessions draw {n} bids from {org}",
    "Antimony supply squeeze hits {country} smelters {when}",
    "United States Strategic Metals eyes {mineral} refinery in Pakistan",
    "{Org} says Reko Diq on track as Balochistan lenders sign",
]
BEAT_SENTENCES = [
    "United States Strategic Metals (USSM) said its {money} memorandum with {pakorg} covers antimony, {mineral} and rare earths in {pakplace}.",
    "Antimony exports from {country} fell {pct}% {when} as {org} reported a supply shortage.",
    "The Reko Diq project in Balochistan's Chagai district expects first {mineral} concentrate exports within {years} years, {name} said.",
    "{name} said Pakistan would offer rare earths and {mineral} to {org} under {adj} mining leases in {pakplace}.",
    "Mining concessions in Balochistan drew {n} bids from {org} and {org2}, the provincial minerals department said {when}.",
    "Traders said antimony supply from {country} remains tight after export controls, {name} of {org} told {outlet}.",
    "Pakistan and the United States {verb} a critical minerals partnership on {mineral} and antimony {when}, {pakorg} said.",
]


def _first_names(rng: random.Random, count: int) -> list[str]:
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(count)]


_FORMATTER = string.Formatter()


class NewsWriter:
    """Seeded generator of news items (title, summary) with a beat share.

    Sentences and titles are drawn from pools made once at start (filling a
    template per item is too slow for 200,000 items); an item's 2-3 sentences
    are picked independently from 20,000, so two items rarely share more than
    one. Unrelated items share about 1% of their 3-word shingles, like news.
    """

    def __init__(self, seed: int = 2025, beat_fraction: float = BEAT_FRACTION,
                 sentences: int = 20000, titles: int = 8000, beat_pool: int = 1500):
        self.rng = random.Random(seed)
        r = self.rng
        self.beat_fraction = beat_fraction
        firsts, lasts = _first_names(r, 400), _first_names(r, 900)
        self.people = [f"{r.choice(firsts)} {r.choice(lasts)}" for _ in range(3000)]
        self.orgs = list({f"{' '.join(_first_names(r, r.randint(1, 2)))} {r.choice(ORG_SUFFIXES)}" for _ in range(1500)})
        self.places = CITIES + COUNTRIES + _first_names(r, 300)
        self.sentences = [self._fill(r.choice(SENTENCE_FORMS)) for _ in range(sentences)]
        self.titles = [self._fill(r.choice(TITLE_FORMS)) for _ in range(titles)]
        self.beat_sentences = [self._fill(r.choice(BEAT_SENTENCES)) for _ in range(beat_pool)]
        self.beat_titles = [self._fill(r.choice(BEAT_TITLES)) for _ in range(beat_pool)]

    def _value(self, name: str) -> str:
        r = self.rng
        base = name.rstrip("0123456789").lower()
        if base == "name":
            return r.choice(self.people)
        if base == "org":
            return r.choice(self.orgs)
        if base in ("place",):
            return r.choice(self.places)
        if base == "city":
            return r.choice(CITIES)
        if base == "country":
            return r.choice(COUNTRIES)
        if base == "noun_cap":
            return r.choice(NOUNS).capitalize()
        if base == "when":
            return r.choice(WHEN).format(day=r.choice(DAYS), month=r.choice(MONTHS), ordinal=r.choice(ORDINALS))
        if base == "money":
            return f"${r.randint(2, 990)}{r.choice(('m', 'bn', ' million'))}"
        if base in ("pct", "n", "years"):
            return str(r.randint(2, 12) if base == "years" else r.randint(2, 480))
        pools = {"role": ROLES, "outlet": OUTLETS, "noun": NOUNS, "adj": ADJECTIVES, "verb": VERBS, "inf": INFINITIVES,
                 "month": MONTHS, "sport": SPORTS, "mineral": MINERALS, "pakplace": PAK_PLACES, "pakorg": PAK_ORGS}
        return r.choice(pools[base])

    def _fill(self, form: str) -> str:
        values: dict[str, str] = {}
        for _, name, _, _ in _FORMATTER.parse(form):
            if not name or name in values:
                continue
            value = self._value(name)
            values[name] = value[:1].upper() + value[1:] if name[:1].isupper() else value
        return form.format(**values)

    def item(self, beat: bool | None = None) -> tuple[str, str]:
        """(title, summary) of one item; beat=None draws it with the beat share."""
        r = self.rng
        if beat is None:
            beat = r.random() < self.beat_fraction
        sentences = r.sample(self.sentences, 2 if r.random() < 0.2 else 3)
        if beat:
            title = r.choice(self.beat_titles)
            sentences[r.randrange(len(sentences))] = r.choice(self.beat_sentences)
        else:
            title = r.choice(self.titles)
        return title, " ".join(sentences)


# --- a boilerplate-heavy corpus (issue 17.4) -------------------------------------

# Wire copy as market desks publish it: templated price reports and market wraps whose
# sentences differ only in their figures, and the agency's standard paragraphs at the end of
# every item. Every item shares dozens of 3-word shingles with every other, so some LSH band
# keys are held by a large share of all articles (a "busy" key), although no two items
# report the same event.
PRICE_SENTENCES = [
    "Spot gold was {dir} {pct}% at ${price} per ounce by {hh}:{mm} GMT, while U.S. gold futures {dir2} {pct2}% to ${price2}.",
    "Spot silver {moved} {pct}% to ${small} an ounce, platinum {moved2} {pct2}% to ${price} and palladium {moved3} {pct3}% to ${price2}.",
    "Three-month copper on the London Metal Exchange {moved} {pct}% to ${big} a metric ton by {hh}:{mm} GMT.",
    "The benchmark KSE-100 index closed at {index} points, {updown} {points} points or {pct}%, on {day}.",
    "Volume on the exchange stood at {n} million shares worth Rs{n2} billion, against {n3} million shares in the previous session.",
    "Brent crude futures {moved} {cents} cents, or {pct}%, to ${oil} a barrel, and U.S. West Texas Intermediate crude {moved2} {cents2} cents to ${oil2}.",
    "The dollar index, which measures the greenback against six rivals, {moved} {pct}% to {dxy}, making bullion {cheaper} for holders of other currencies.",
    "The rupee closed at {fx} against the dollar in the interbank market, {updown} {paisa} paisa from the previous close, the State Bank of Pakistan said.",
    "Tungsten APT prices in Rotterdam were assessed at ${big} per metric ton unit on {day}, {updown} ${points} from the previous week.",
    "Antimony trioxide in Europe was quoted at ${big} a ton, {updown} {pct}% on the week, as traders weighed supply from {country}.",
]
PRICE_TITLES = [
    "Gold {moved} {pct}% as dollar {dir3}; silver at ${small}",
    "KSE-100 {moved} {points} points to close at {index}",
    "Copper {moved} to ${big} on LME as {country} demand {dir3}",
    "Rupee closes at {fx} against dollar",
    "Oil {moved} {pct}% as traders watch {country}",
    "Tungsten, antimony prices {moved} in thin trade",
]
AGENCY_PARAGRAPHS = [
    "This story has not been edited by our staff and is auto-generated from a syndicated feed. The views expressed "
    "are those of the original publisher and do not necessarily reflect the views of this website.",
    "Copyright 2026 The Wire Agency. All rights reserved. This material may not be published, broadcast, rewritten "
    "or redistributed in any form without prior written permission.",
    "For the latest commodities prices, charts and analysis, visit our markets page, sign up for the daily briefing "
    "newsletter, and follow the markets desk for breaking updates throughout the trading day.",
]


class BoilerplateWriter(NewsWriter):
    """Items of templated price reports plus one news sentence and two agency paragraphs."""

    def _value(self, name: str) -> str:
        r = self.rng
        base = name.rstrip("0123456789").lower()
        figures = {
            "price": lambda: f"{r.uniform(800, 2600):,.2f}", "small": lambda: f"{r.uniform(20, 35):.2f}",
            "big": lambda: f"{r.uniform(300, 12000):,.2f}", "oil": lambda: f"{r.uniform(60, 95):.2f}",
            "index": lambda: f"{r.uniform(60000, 95000):,.2f}", "points": lambda: f"{r.uniform(5, 900):.2f}",
            "cents": lambda: str(r.randint(2, 190)), "dxy": lambda: f"{r.uniform(95, 110):.3f}",
            "fx": lambda: f"{r.uniform(270, 300):.2f}", "paisa": lambda: str(r.randint(1, 95)),
            "hh": lambda: f"{r.randint(0, 23):02d}", "mm": lambda: f"{r.randint(0, 59):02d}",
            "pct": lambda: f"{r.uniform(0.1, 3.5):.1f}",
            "dir": lambda: r.choice(("up", "down")), "updown": lambda: r.choice(("up", "down")),
            "moved": lambda: r.choice(("rose", "fell", "gained", "slipped", "edged up", "eased")),
            "cheaper": lambda: r.choice(("cheaper", "more expensive")), "day": lambda: r.choice(DAYS),
        }
        if base in figures:
            return figures[base]()
        return super()._value(name)

    def item(self, beat: bool | None = None) -> tuple[str, str]:
        r = self.rng
        if beat is None:
            beat = r.random() < self.beat_fraction
        sentences = [self._fill(form) for form in r.sample(PRICE_SENTENCES, 2)]
        sentences.append(r.choice(self.beat_sentences if beat else self.sentences))
        title = r.choice(self.beat_titles) if beat else self._fill(r.choice(PRICE_TITLES))
        return title, " ".join(sentences + AGENCY_PARAGRAPHS[:2] if r.random() < 0.5 else sentences + AGENCY_PARAGRAPHS[1:])


CORPORA = {"news": NewsWriter, "boilerplate": BoilerplateWriter}


# --- feeds ---------------------------------------------------------------------


class Feed:
    __slots__ = ("index", "items", "seq", "body", "gz", "etag", "modified")

    def __init__(self, index: int):
        self.index = index
        self.items: deque[str] = deque()
        self.seq = 0
        self.body = b""
        self.gz = b""
        self.etag = ""
        self.modified = ""


class FeedSet:
    """N feeds of ITEMS_PER_FEED items; `change` prepends one and drops the oldest."""

    def __init__(self, count: int, seed: int = 2025, items_per_feed: int = ITEMS_PER_FEED, compress: bool = True,
                 beat_fraction: float = BEAT_FRACTION, corpus: str = "news"):
        self.writer = CORPORA[corpus](seed, beat_fraction)
        self.rng = random.Random(seed + 1)
        self.items_per_feed = items_per_feed
        self.compress = compress
        self.base_time = time.time() - 6 * 3600
        self.feeds = [Feed(i) for i in range(count)]
        for feed in self.feeds:
            for _ in range(items_per_feed):
                self._push(feed)
            self._render(feed, time.time() - 3600)

    def _item_xml(self, feed: Feed, seq: int, title: str, summary: str, marker: str = "") -> str:
        # Published times: one item every ~15 minutes up to now, recent enough to be alerted.
        published = email.utils.formatdate(min(time.time(), self.base_time + seq * 900 + feed.index % 900), usegmt=True)
        slug = "-".join(title.lower().split()[:6]).strip(".,:;'\"")
        host = f"news{feed.index % 97}.example.org"
        link = f"https://{host}/{feed.index}/{seq}{marker}/{escape(slug)}"
        return (
            f"<item><title>{escape(title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">urn:bench:{feed.index}:{seq}{marker}</guid>'
            f"<comments>{link}#comments</comments><pubDate>{published}</pubDate><dc:creator>Staff reporter {seq % 13}</dc:creator>"
            f"<category>{escape(self.rng.choice(NOUNS))}</category><category>World</category>"
            f'<enclosure url="https://img.{host}/{feed.index}/{seq}/thumbnail-640x360.jpg" length="{40000 + seq % 9000}" type="image/jpeg"/>'
            f"<description>{escape('<p>' + summary + '</p>')}</description></item>\n"
        )

    def _push(self, feed: Feed, beat: bool | None = None, marker: str = "") -> str:
        title, summary = self.writer.item(beat)
        xml = self._item_xml(feed, feed.seq, title, summary, marker)
        feed.seq += 1
        feed.items.appendleft(xml)
        while len(feed.items) > self.items_per_feed:
            feed.items.pop()
        return xml

    def _render(self, feed: Feed, modified_at: float) -> None:
        head = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
            f"<channel><title>Bench News {feed.index}</title><link>https://news{feed.index % 97}.example.org/</link>"
            f"<description>Generated news feed {feed.index} for the polling benchmark</description>"
            f"<language>en</language><lastBuildDate>{email.utils.formatdate(modified_at, usegmt=True)}</lastBuildDate>\n"
        )
        feed.body = (head + "".join(feed.items) + "</channel></rss>\n").encode()
        feed.gz = gzip.compress(feed.body, compresslevel=6, mtime=0) if self.compress else b""
        feed.etag = '"' + hashlib.blake2b(feed.body, digest_size=10).hexdigest() + '"'
        feed.modified = email.utils.formatdate(modified_at, usegmt=True)

    def change(self, ids: list[int]) -> None:
        now = time.time()
        for i in ids:
            feed = self.feeds[i]
            self._push(feed)
            self._render(feed, now)

    def add(self, index: int, marker: str, beat: bool) -> dict:
        feed = self.feeds[index]
        seq = feed.seq
        self._push(feed, beat=beat, marker=marker)
        self._render(feed, time.time())
        return {"guid": f"urn:bench:{index}:{seq}{marker}", "link_part": f"/{index}/{seq}{marker}/"}


# --- the HTTP/1.1 server ------------------------------------------------------------


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request: (request line, lower-cased headers, body); None once the
    client has closed the connection. Shared with bench_latency.py's webhook receiver."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return lines[0], headers, body

_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found"}


class FeedHTTPServer:
    def __init__(self, feeds: FeedSet, latency: float):
        self.feeds = feeds
        self.latency = latency
        self.stats = {"requests": 0, "200": 0, "304": 0, "404": 0, "bytes": 0, "connections": 0, "max_inflight": 0}
        self.inflight = 0
        self.started = time.monotonic()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        try:
            while (request := await read_request(reader)) is not None:
                request_line, headers, body = request
                try:
                    method, target, version = request_line.split(" ", 2)
                except ValueError:
                    await self._send(writer, 400, b"bad request", "text/plain", close=True)
                    break
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                await self.route(writer, method, target, headers, body, close)
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def route(self, writer, method: str, target: str, headers: dict, body: bytes, close: bool) -> None:
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/feed/") and path.endswith(".xml"):
            self.stats["requests"] += 1
            self.inflight += 1
            self.stats["max_inflight"] = max(self.stats["max_inflight"], self.inflight)
            try:
                if self.latency:
                    await asyncio.sleep(self.latency)
                try:
                    feed = self.feeds.feeds[int(path[6:-4])]
                except (ValueError, IndexError):
                    await self._send(writer, 404, b"no such feed", "text/plain", close=close)
                    return
                extra = {"ETag": feed.etag, "Last-Modified": feed.modified}
                inm = headers.get("if-none-match")
                if (inm is not None and feed.etag in inm) or (inm is None and headers.get("if-modified-since") == feed.modified):
                    await self._send(writer, 304, b"", None, extra, close=close)
                    return
                if feed.gz and "gzip" in headers.get("accept-encoding", ""):
                    extra["Content-Encoding"] = "gzip"
                    extra["Vary"] = "Accept-Encoding"
                    await self._send(writer, 200, feed.gz, "application/rss+xml; charset=utf-8", extra, close=close)
                else:
                    await self._send(writer, 200, feed.body, "application/rss+xml; charset=utf-8", extra, close=close)
            finally:
                self.inflight -= 1
            return
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if body:
            try:
                params.update(json.loads(body))
            except ValueError:
                pass
        if path == "/_change":
            if "ids" in params:
                ids = params["ids"]
                ids = [int(i) for i in (ids.split(",") if isinstance(ids, str) else ids) if str(i).strip()]
            else:
                fraction = float(params.get("fraction", 0.1))
                rng = random.Random(int(params.get("seed", 1)))
                count = round(fraction * len(self.feeds.feeds))
                ids = sorted(rng.sample(range(len(self.feeds.feeds)), count))
            self.feeds.change(ids)
            answer = {"changed": ids, "at": time.monotonic()}
        elif path == "/_add":
            beat = str(params.get("match", "1")) == "1"
            if "items" in params:  # several at once: [{"feed": i, "marker": m}, ...]
                added = [self.feeds.add(int(i["feed"]), str(i.get("marker", "")), beat) for i in params["items"]]
                answer = {"items": added, "at": time.monotonic()}
            else:
                result = self.feeds.add(int(params["feed"]), str(params.get("marker", "")), beat)
                answer = {**result, "at": time.monotonic()}
        elif path == "/_stats":
            cpu = os.times()
            answer = {**self.stats, "cpu_seconds": cpu.user + cpu.system, "latency": self.latency, "feeds": len(self.feeds.feeds)}
        elif path == "/_latency":
            self.latency = float(params["seconds"])
            answer = {"latency": self.latency}
        else:
            await self._send(writer, 404, b"not found", "text/plain", close=close)
            return
        await self._send(writer, 200, json.dumps(answer).encode(), "application/json", close=close, feed=False)

    async def _send(self, writer, status: int, body: bytes, content_type: str | None, extra: dict | None = None,
                    close: bool = False, feed: bool = True) -> None:
        if feed:
            key = str(status)
            if key in self.stats:
                self.stats[key] += 1
            self.stats["bytes"] += len(body)
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", f"Content-Length: {len(body)}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        for name, value in (extra or {}).items():
            lines.append(f"{name}: {value}")
        if close:
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()


async def serve(count: int, latency: float, port: int = 0, seed: int = 2025, compress: bool = True,
                ready=None, beat_fraction: float = BEAT_FRACTION, corpus: str = "news") -> None:
    started = time.monotonic()
    feeds = FeedSet(count, seed=seed, compress=compress, beat_fraction=beat_fraction, corpus=corpus)
    app = FeedHTTPServer(feeds, latency)
    server = await asyncio.start_server(app.handle, "127.0.0.1", port, backlog=4096, limit=1 << 20)
    bound = server.sockets[0].getsockname()[1]
    # The same port on the other loopback addresses: the feeds' "hosts" (see feed_url).
    others = await asyncio.start_server(app.handle, [loopback_host(i) for i in range(1, HOSTS)], bound, backlog=4096,
                                        limit=1 << 20)
    if ready is not None:
        ready(bound, time.monotonic() - started)
    async with server, others:
        await asyncio.gather(server.serve_forever(), others.serve_forever())


# --- running it in its own process ----------------------------------------------------


class FeedServerProcess:
    """The feed server in a child process; `with FeedServerProcess(1000) as server: server.url(i)`."""

    def __init__(self, feeds: int, latency: float = 0.1, seed: int = 2025, compress: bool = True, startup_timeout: float = 120.0,
                 beat_fraction: float = BEAT_FRACTION, corpus: str = "news"):
        self.beat_fraction = beat_fraction
        self.corpus = corpus
        self.count = feeds
        self.latency = latency
        self.seed = seed
        self.compress = compress
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.startup_seconds = 0.0

    def __enter__(self) -> FeedServerProcess:
        command = [sys.executable, str(Path(__file__).resolve()), "--feeds", str(self.count), "--latency", str(self.latency),
                   "--seed", str(self.seed), "--beat-fraction", str(self.beat_fraction), "--corpus", self.corpus]
        if not self.compress:
            command.append("--no-gzip")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.startup_timeout
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "PORT <n> <seconds>"
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            self.__exit__()
            raise RuntimeError(f"feed server did not start: {line!r}")
        _, port, seconds = line.split()
        self.port = int(port)
        self.startup_seconds = float(seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, index: int) -> str:
        return feed_url(self.base, index)

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.count)]

    def control(self, path: str, payload: dict | None = None) -> dict:
        return control(self.base, path, payload)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0


# Real feeds come from many hosts; here from 16 loopback addresses (127.0.0.1-127.0.0.16, all
# this machine), so a poller that keeps per-host limits sees several hosts, as it would live.
HOSTS = 16


def loopback_host(index: int, hosts: int = HOSTS) -> str:
    return f"127.0.0.{1 + index % hosts}"


def feed_url(base: str, index: int, hosts: int = HOSTS) -> str:
    """The URL of feed `index`: on host 127.0.0.(1 + index % hosts) of the server at `base`
    (hosts=1: every feed on one host, as a list of one site's searches)."""
    return f"{base.replace('127.0.0.1', loopback_host(index, hosts), 1)}/feed/{index}.xml"


def control(base: str, path: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each feed request waits (default 0.1)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--no-gzip", action="store_true")
    parser.add_argument("--beat-fraction", type=float, default=BEAT_FRACTION, help="share of items about the beat")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="news",
                        help="news (default) or boilerplate (templated price reports sharing agency paragraphs)")
    args = parser.parse_args(argv)

    def ready(port: int, seconds: float) -> None:
        print(f"PORT {port} {seconds:.3f}", flush=True)

    try:
        asyncio.run(serve(args.feeds, args.latency, args.port, args.seed, not args.no_gzip, ready, args.beat_fraction,
                          args.corpus))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: our compiled matcher against one regex per rule.

    .venv/bin/python bench/bench_match.py            # 10,000 articles; 10..10,000 rules
    .venv/bin/python bench/bench_match.py --quick    # 2,000 articles

Articles (~2,000 characters: title, summary, content) and rules are generated
from a seeded random news vocabulary: common English words with a Zipf-like
frequency, plus minerals, countries, places, companies, acronyms and people.
One article in five is about minerals (many domain terms); the rest are other
news that mention a domain word now and then (a "gold medal", "exports").
Text has what feeds really send: curly quotes, dashes, possessives, &amp;,
non-breaking spaces, ALL-CAPS headlines.

Rules mix the shapes operators write: an entity alone; entity AND topic;
mineral AND country; "phrase" NEAR/5 word*; (a OR b) AND c NOT d; @alias AND
topic; title:mineral AND country; entity ONEAR/3 topic.

The naive baseline compiles each rule into one Python regex (AND as
lookaheads, NOT as a negative lookahead, NEAR as a bounded gap; it ignores
case but not accents, and has no field scopes) and runs every regex on every article.
It is slow at large rule counts, so it runs on a sample of articles and the
rate is extrapolated (the table says how many articles each figure used).

Targets (exit status 1 if missed): >= 10,000 articles/s with 10,000 rules on
one core, and the 10,000-rule rate >= 50% of the 10-rule rate.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules import Document, Rule, compile_rules, parse_query  # noqa: E402
from rules.query import AliasRef, And, Field, Near, Not, Or, Term  # noqa: E402

TARGET_RATE = 10_000
TARGET_RATIO = 0.5
RULE_COUNTS = (10, 100, 1_000, 10_000)

COMMON = """the of and to in a is that for it as was with be by on not he i this are or his
from at which but have an they you were her she there been one all we their has would when
who will more no if out so said what up its about into than them can only other new some
could time these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should
because each just those people how too little state good very make world still own see men
work long get here between both life being under never day same another know while last
might us great old year off come since against go came right used take three states himself
few house use during without again place around however home small found thought went say
part once general high upon school every does got united left number course war until always
away something fact though water less public put think almost hand enough far took head yet
government system better set told nothing night end why called didn't eyes find going look
asked later knew point next program city business give group toward young days let room
president side social given present several order national possible rather second face per
among form important often things looked early white case john become large big need four
within felt along children saw best church ever least power development light thought
seemed family interest want members others mind country area done certain problem market
officials minister ministry economic said statement week month report deal agreement talks
plan project sector industry company companies firm investors investment billion million
percent according spokesperson announced expected continue support security cooperation
meeting visit leaders policy trade growth prices demand supply production output capacity
football cricket match team season players coach league final goal victory medal olympic
election vote party parliament opposition court judge police weather storm flood rain heat
health hospital patients doctors vaccine school students university teachers film music
festival artist show award technology software data internet phone apps users online
""".split()

MINERALS = """antimony copper gold tungsten lithium cobalt nickel graphite manganese chromite
bauxite zinc lead tin silver platinum palladium uranium vanadium titanium molybdenum gallium
germanium indium tellurium niobium tantalum beryllium magnesium coal phosphate potash
fluorspar barite gypsum rhodium iridium scandium yttrium neodymium dysprosium terbium
praseodymium lanthanum cerium hafnium zirconium bismuth selenium cadmium""".split()
MINERAL_PHRASES = ["rare earth", "rare earths", "iron ore", "critical minerals", "rare earth elements",
                   "copper concentrate", "lithium carbonate", "battery metals", "strategic minerals"]
COUNTRIES = """Pakistan Afghanistan India China Chile Peru Bolivia Argentina Brazil Australia Canada
Indonesia Philippines Congo Zambia Zimbabwe Namibia Botswana Mozambique Tanzania Kenya Ghana
Guinea Mali Niger Morocco Egypt Sudan Ethiopia Madagascar Kazakhstan Uzbekistan Mongolia
Russia Ukraine Turkey Iran Iraq Saudi Oman Vietnam Myanmar Laos Thailand Malaysia Japan Korea
Germany France Spain Portugal Sweden Finland Norway Poland Serbia Greenland Mexico Colombia
Ecuador Panama Guatemala Jamaica""".split()
PLACES = ["Balochistan", "Reko Diq", "Gilgit-Baltistan", "Chagai", "Saindak", "Khyber Pakhtunkhwa",
          "Sindh", "Punjab", "Islamabad", "Karachi", "Gwadar", "Atacama", "Katanga", "Pilbara",
          "Inner Mongolia", "Copperbelt", "Lualaba", "Kolwezi", "Thacker Pass", "Yukon"]
TOPICS = """export exports exported ban tariff tariffs deal agreement MoU investment mine mines mining
refinery refining processing exploration licence license sanctions price prices supply shortage
smelter concession royalty stockpile offtake joint venture partnership shipment shipments quota
discovery deposit reserves output production""".split()
SPORTS = ["medal", "olympic", "football", "cricket", "league", "tournament"]
ADJ = ["Frontier", "Strategic", "Global", "National", "United", "Pacific", "Atlantic", "Northern",
       "Southern", "Eastern", "Western", "Royal", "Imperial", "Golden", "Silver", "Summit", "Apex",
       "Pioneer", "Meridian", "Horizon", "Crescent", "Sterling", "Liberty", "Heritage", "Summit"]
NOUN = ["Works", "Metals", "Minerals", "Resources", "Mining", "Holdings", "Exploration", "Energy",
        "Materials", "Capital", "Logistics", "Industries", "Ventures", "Commodities", "Refining"]
SUFFIX = ["Organisation", "Corporation", "Group", "Limited", "Company", "Partners", "Inc"]
FIRST = ["Ali", "Sara", "John", "Maria", "Ahmed", "Li", "Chen", "Fatima", "Omar", "Elena", "Juan",
         "Ishaq", "Asim", "Natalie", "Zach", "Shehbaz", "Priya", "Kwame", "Amina", "Igor"]
LAST = ["Khan", "Dar", "Munir", "Baker", "Harkenrider", "Sharif", "Smith", "Garcia", "Wang", "Ivanova",
        "Okafor", "Mensah", "Silva", "Tanaka", "Kowalski", "Haddad", "Rahman", "Novak", "Dubois"]
PUNCT = [" ", " ", " ", " ", " ", " ", ", ", ", ", ". ", " — ", " – ", "; ", ": ", " ", "\u00a0"]


class Vocabulary:
    def __init__(self, rng: random.Random):
        self.rng = rng
        syllables = ["ka", "lo", "mi", "ra", "te", "sun", "dor", "vel", "an", "is", "or", "ven", "tal",
                     "mer", "pol", "ste", "qua", "ri", "bel", "cor", "nis", "tra", "ul", "gen"]
        tail = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(6000)}
        self.general = COMMON + sorted(tail)
        # Zipf-like weights: common words first
        self.cum_weights = list(itertools.accumulate(1.0 / (i + 8) for i in range(len(self.general))))
        self.companies = sorted({
            f"{rng.choice(ADJ)} {rng.choice(NOUN)}" + (f" {rng.choice(SUFFIX)}" if rng.random() < 0.5 else "")
            for _ in range(5000)
        })
        self.companies += ["United States Strategic Metals", "Frontier Works Organisation",
                           "National Logistics Corporation", "Mota-Engil"]
        letters = "ABCDEFGHIJKLMNOPRSTUVWZ"
        self.acronyms = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 5))) for _ in range(800)})
        self.acronyms += ["USSM", "FWO", "NLC", "REE", "PMDC"]
        surnames = LAST + sorted({"".join(rng.choice(syllables) for _ in range(3)).capitalize() for _ in range(200)})
        self.people = sorted({f"{rng.choice(FIRST)} {rng.choice(surnames)}" for _ in range(3000)})

    def general_words(self, n: int) -> list[str]:
        return self.rng.choices(self.general, cum_weights=self.cum_weights, k=n)

    def entity(self) -> str:
        r = self.rng.random()
        if r < 0.55:
            return self.rng.choice(self.companies)
        if r < 0.8:
            return self.rng.choice(self.acronyms)
        return self.rng.choice(self.people)


def _sentence(vocab: Vocabulary, domain: list[str], min_len: int) -> str:
    rng = vocab.rng
    words = vocab.general_words(rng.randint(min_len, min_len + 12))
    for term in domain:
        words.insert(rng.randrange(len(words) + 1), term)
    out = []
    for i, w in enumerate(words):
        if i == 0:
            w = w[:1].upper() + w[1:]
        elif rng.random() < 0.03:
            w = w + "\u2019s"
        elif rng.random() < 0.01:
            w = "\u201c" + w + "\u201d"
        out.append(w)
        out.append(rng.choice(PUNCT) if i < len(words) - 1 else ".")
    text = "".join(out)
    if rng.random() < 0.1:
        text = text.replace(" and ", " &amp; ", 1)
    return text


def make_article(vocab: Vocabulary, target_chars: int = 2000) -> Document:
    """One article: a few focal names and topics, mentioned again and again."""
    rng = vocab.rng
    if rng.random() < 0.2:  # a minerals story
        focal = (
            rng.sample(MINERALS + MINERAL_PHRASES, rng.randint(1, 3))
            + rng.sample(COUNTRIES + PLACES, rng.randint(1, 2))
            + [vocab.entity() for _ in range(rng.randint(0, 2))]
            + rng.sample(TOPICS, rng.randint(2, 4))
        )
        per_sentence = (0, 3)
    else:  # other news: politics, sport, business, ...
        focal = rng.sample(COUNTRIES, rng.randint(0, 2)) + [rng.choice(vocab.people) for _ in range(rng.randint(0, 1))]
        if rng.random() < 0.2:
            focal.append(rng.choice(SPORTS))
        if rng.random() < 0.2:
            focal.append(rng.choice(TOPICS))
        if rng.random() < 0.05:
            focal.append(rng.choice(["gold", "silver", "copper", "coal", "oil"]))
        per_sentence = (0, 1)

    def mentions() -> list[str]:
        if not focal:
            return []
        return [rng.choice(focal) for _ in range(rng.randint(*per_sentence))]

    title = _sentence(vocab, mentions() or focal[:1], 5).rstrip(".")
    if rng.random() < 0.1:
        title = title.upper()
    summary = " ".join(_sentence(vocab, mentions(), 10) for _ in range(2))
    parts: list[str] = []
    size = len(title) + len(summary)
    while size < target_chars:
        sentence = _sentence(vocab, mentions(), 10)
        parts.append(sentence)
        size += len(sentence) + 1
        if rng.random() < 0.15:
            parts.append("\n\n")
    content = " ".join(parts)
    feed = rng.choice(["dawn", "reuters", "mining-weekly", "bbc", "tribune"])
    return Document(title=title, summary=summary, content=content, feed=feed)


def make_rules(vocab: Vocabulary, count: int) -> tuple[list[Rule], dict[str, tuple[str, ...]]]:
    rng = random.Random(count * 7919 + 1)
    aliases: dict[str, tuple[str, ...]] = {}
    for i in range(max(1, count // 20)):
        entries = {vocab.entity() for _ in range(rng.randint(2, 4))}
        aliases[f"group{i}"] = tuple(sorted(entries))
    alias_names = sorted(aliases)

    def q(term: str) -> str:
        return f'"{term}"' if " " in term or "-" in term else term

    def topic() -> str:
        t = rng.choice(TOPICS)
        return t + "*" if rng.random() < 0.2 and len(t) > 4 else t

    def mineral() -> str:
        return q(rng.choice(MINERALS + MINERAL_PHRASES))

    def country() -> str:
        return q(rng.choice(COUNTRIES + PLACES))

    shapes = [
        (0.10, lambda: q(vocab.entity())),
        (0.25, lambda: f"{q(vocab.entity())} AND ({topic()} OR {topic()})"),
        (0.20, lambda: f"{mineral()} AND {country()}"),
        (0.10, lambda: f"{q(rng.choice(MINERAL_PHRASES))} NEAR/5 {topic()}"),
        (0.15, lambda: f"({mineral()} OR {mineral()}) AND {country()} NOT {rng.choice(SPORTS)}"),
        (0.10, lambda: f"@{rng.choice(alias_names)} AND {topic()}"),
        (0.05, lambda: f"title:{mineral()} AND ({country()} OR {country()})"),
        (0.05, lambda: f"{q(vocab.entity())} ONEAR/3 {topic()}"),
    ]
    weights = [w for w, _ in shapes]
    rules = []
    for i in range(count):
        make = rng.choices(shapes, weights)[0][1]
        rules.append(Rule(id=f"rule-{i}", query=make()))
    used = {a.name for r in rules for a in _aliases_in(parse_query(r.query))}
    return rules, {name: aliases[name] for name in used}


def _aliases_in(node):
    if isinstance(node, AliasRef):
        yield node
    for child in getattr(node, "children", ()):
        yield from _aliases_in(child)
    for attr in ("child", "left", "right", "expr"):
        sub = getattr(node, attr, None)
        if sub is not None:
            yield from _aliases_in(sub)


# --- the naive baseline: one regex per rule ---------------------------------


def _term_regex(term: Term) -> str:
    words = [re.escape(w) for w in re.findall(r"\w+", term.text)]
    body = r"\W+".join(words)
    return r"\b" + body + (r"\w*" if term.wildcard else r"\b")


def _operand_regex(node, aliases) -> str:
    if isinstance(node, Term):
        return _term_regex(node)
    if isinstance(node, AliasRef):
        return "(?:" + "|".join(_term_regex(parse_query(f'"{e}"')) for e in aliases[node.name]) + ")"
    assert isinstance(node, Or)
    return "(?:" + "|".join(_operand_regex(c, aliases) for c in node.children) + ")"


def _predicate(node, aliases) -> str:
    """A regex that matches at position 0 exactly when the node is true."""
    if isinstance(node, (Term, AliasRef)):
        return r"(?=[\s\S]*?" + _operand_regex(node, aliases) + ")"
    if isinstance(node, And):
        return "".join(_predicate(c, aliases) for c in node.children)
    if isinstance(node, Or):
        return "(?:" + "|".join(_predicate(c, aliases) for c in node.children) + ")"
    if isinstance(node, Not):
        return "(?!" + _predicate(node.child, aliases) + ")"
    if isinstance(node, Field):
        return _predicate(node.expr, aliases)
    if isinstance(node, Near):
        a, b = _operand_regex(node.left, aliases), _operand_regex(node.right, aliases)
        gap = r"\W+(?:\w+\W+){0,%d}" % node.distance
        either = f"{a}{gap}{b}" if node.ordered else f"(?:{a}{gap}{b}|{b}{gap}{a})"
        return r"(?=[\s\S]*?" + either + ")"
    raise TypeError(node)


def naive_matcher(rules: list[Rule], aliases: dict[str, tuple[str, ...]]):
    compiled = [(r.id, re.compile(_predicate(parse_query(r.query), aliases), re.IGNORECASE)) for r in rules]

    def match(doc: Document) -> list[str]:
        text = f"{doc.title}\n{doc.summary}\n{doc.content}"
        return [rule_id for rule_id, rx in compiled if rx.match(text)]

    return match


# --- measuring ------------------------------------------------------------------


def _rate(fn, docs: list[Document], repeat: int = 1) -> float:
    """Articles per second: the best of `repeat` passes (the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for doc in docs:
            fn(doc)
        best = min(best, time.perf_counter() - start)
    return len(docs) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 articles instead of 10,000")
    parser.add_argument("--articles", type=int, default=None, help="number of articles to generate")
    parser.add_argument("--naive-budget", type=float, default=2.0, help="seconds to spend per naive figure")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--repeat", type=int, default=3, help="passes per figure of ours; the best counts")
    args = parser.parse_args(argv)
    n_articles = args.articles or (2_000 if args.quick else 10_000)

    vocab = Vocabulary(random.Random(args.seed))
    t0 = time.perf_counter()
    docs = [make_article(vocab) for _ in range(n_articles)]
    avg_chars = sum(len(d.title) + len(d.summary) + len(d.content) for d in docs) / len(docs)
    print(f"{n_articles} articles, {avg_chars:.0f} characters on average (generated in {time.perf_counter() - t0:.1f}s)")
    print(f"{'rules':>7} {'keys':>6} {'compile s':>9} {'ours art/s':>11} {'match/art':>9} "
          f"{'naive art/s':>11} {'naive n':>7} {'ours/naive':>10} {'vs 10 rules':>11}")

    rates: dict[int, float] = {}
    for count in RULE_COUNTS:
        rules, aliases = make_rules(vocab, count)
        t0 = time.perf_counter()
        matcher = compile_rules(rules, aliases)
        compile_s = time.perf_counter() - t0
        matcher.match(docs[0])  # warm caches
        matched = sum(len(matcher.match(d)) for d in docs[:1000]) / min(1000, len(docs))
        rate = _rate(matcher.match, docs, args.repeat)
        rates[count] = rate

        naive = naive_matcher(rules, aliases)
        t0 = time.perf_counter()
        naive(docs[0])
        per_doc = max(time.perf_counter() - t0, 1e-6)
        sample = max(5, min(len(docs), int(args.naive_budget / per_doc)))
        naive_rate = _rate(naive, docs[:sample])
        print(f"{count:>7} {matcher.key_count:>6} {compile_s:>9.2f} {rate:>11,.0f} {matched:>9.2f} "
              f"{naive_rate:>11,.1f} {sample:>7} {rate / naive_rate:>9,.0f}x {rate / rates[RULE_COUNTS[0]]:>10.0%}")

    top, base = rates[RULE_COUNTS[-1]], rates[RULE_COUNTS[0]]
    ok = top >= TARGET_RATE and top >= TARGET_RATIO * base
    print(f"\ntarget: >= {TARGET_RATE:,} articles/s at {RULE_COUNTS[-1]:,} rules: {top:,.0f} "
          f"{'ok' if top >= TARGET_RATE else 'MISSED'}; "
          f">= {TARGET_RATIO:.0%} of the {RULE_COUNTS[0]}-rule rate: {top / base:.0%} "
          f"{'ok' if top >= TARGET_RATIO * base else 'MISSED'}")
    print("match/art: rules matched per article (each with its term spans). Naive figures come from")
    print("the first 'naive n' articles only (the naive loop is too slow for all of them).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

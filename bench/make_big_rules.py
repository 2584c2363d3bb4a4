"""Write a large rules file in the bundled pack's format (issue 16.11).

    .venv/bin/python bench/make_big_rules.py /tmp/big.yaml                 # 20,000 rules, ~5 MB
    .venv/bin/python bench/make_big_rules.py /tmp/small.yaml --rules 2000

Seeded, so the same arguments give the same file. What an operator with a big
watch list writes: a few hundred aliases (companies, places, commodities, each
with English and Urdu entries), and rules of every shape the pack uses — an
alias alone, alias AND alias, "phrases", wildcards, ALL-CAPS acronyms, NEAR and
ONEAR, NOT, field scopes, feeds, throttle and digest — each with a name (one in
two), a folded description (one in three) and examples (one that matches, one that does not), so
`rules check` runs ~40,000 examples.

`rules_yaml(count, seed)` returns the text, for tests that need a big file.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

WORDS = """antimony copper gold tungsten lithium cobalt nickel graphite manganese chromite bauxite zinc
tin silver platinum palladium uranium vanadium titanium molybdenum gallium germanium indium niobium
tantalum beryllium magnesium phosphate potash fluorspar barite gypsum rhodium scandium yttrium
neodymium dysprosium terbium lanthanum cerium hafnium zirconium bismuth selenium cadmium""".split()
TOPICS = """export exports ban deal mine mines mining refinery tariff price prices smelter concession
licence license offtake stake acquisition merger drilling exploration reserves deposit deposits
production output shipment shipments quota royalty lease tender auction investment investor
processing concentrate ore supply shortage stockpile""".split()
PLACES = """Pakistan Chile Peru Congo Balochistan Zambia Bolivia Argentina Australia Canada Indonesia
Philippines Mongolia Kazakhstan Uzbekistan Namibia Botswana Zimbabwe Ghana Mali Guinea Tanzania
Mozambique Madagascar Brazil Mexico Ecuador Colombia Turkey Iran Afghanistan Vietnam Myanmar
Laos Malaysia Greenland Norway Sweden Finland Portugal Serbia Ukraine Kyrgyzstan Tajikistan""".split()
SYLLABLES = "ka ro mi te sa lu no ver dan tor bel quin gra hex mon pol zar vik lem fos tur".split()
URDU = """پاکستان بلوچستان تانبا سونا کان کنی معدنیات برآمدات معاہدہ ریفائنری سرمایہ کاری ذخائر چاغی""".split()
SEVERITIES = ["info", "low", "medium", "medium", "high", "critical"]
FEEDS = ["dawn", "reuters", "mining-com", "bbc", "tribune", "geo"]


class _Names:
    """Company names: two or three made-up syllable words, unique, with an acronym."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seen: set[str] = set()

    def company(self) -> tuple[str, str]:
        while True:
            words = [("".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 3)))).capitalize()
                     for _ in range(self.rng.randint(2, 3))]
            name = " ".join(words)
            if name not in self.seen:
                self.seen.add(name)
                return name, "".join(w[0] for w in words).upper() + self.rng.choice("KMXZ")


def _aliases(rng: random.Random, count: int) -> dict[str, list[str]]:
    names = _Names(rng)
    aliases: dict[str, list[str]] = {}
    for i in range(count):
        kind = i % 3
        if kind == 0:  # a company: its name, an acronym in capitals, a wildcard form
            name, acronym = names.company()
            entries = [name, acronym, f"{name.split()[0]} {rng.choice(['Mining', 'Resources', 'Metals'])}",
                       name.split()[0].lower() + "*"]
        elif kind == 1:  # a region: places and Urdu names
            entries = rng.sample(PLACES, rng.randint(3, 8)) + rng.sample(URDU, 2)
        else:  # a commodity group
            entries = rng.sample(WORDS, rng.randint(3, 7)) + [f"{rng.choice(WORDS)} {rng.choice(TOPICS)}"]
        aliases[f"a{i:04d}_{entries[0].split()[0].lower().strip('*')}"] = list(dict.fromkeys(entries))
    return aliases


def _entry_text(entry: str) -> str:
    """A word an entry matches (a wildcard entry completed)."""
    return entry[:-1] + "ville" if entry.endswith("*") else entry


def _rule(rng: random.Random, number: int, aliases: dict[str, list[str]]) -> dict[str, object]:
    """One rule with a matching and a non-matching example."""
    names = list(aliases)
    alias = rng.choice(names)
    other = rng.choice(names)
    word, topic, place = rng.choice(WORDS), rng.choice(TOPICS), rng.choice(PLACES)
    hit_a, hit_o = _entry_text(aliases[alias][0]), _entry_text(aliases[other][0])
    shape = number % 10
    if shape == 0:
        query, yes = f"@{alias}", f"{hit_a} reports results"
    elif shape == 1:
        query, yes = f"@{alias} AND @{other}", f"{hit_a} and {hit_o} talks"
    elif shape == 2:
        query, yes = f'"{word} {topic}" AND {place}', f"{place} {word} {topic} rises"
    elif shape == 3:
        query, yes = f"{word} NEAR/{rng.randint(2, 6)} {topic[:4]}*", f"{word} {topic} news"
    elif shape == 4:
        query, yes = f"@{alias} ONEAR/{rng.randint(3, 8)} ({topic} OR {rng.choice(TOPICS)})", f"{hit_a} {topic}"
    elif shape == 5:
        query, yes = f"({word} OR {rng.choice(WORDS)}) AND @{other} NOT {rng.choice(['cricket', 'medal', 'football'])}", \
            f"{word} from {hit_o}"
    elif shape == 6:
        query, yes = f"title:{word} AND content:(@{other} OR {place})", None
    elif shape == 7:
        acronym = "AND"
        while acronym in ("AND", "NEAR"):  # an operator, not a word (seed 2 drew "AND")
            acronym = "".join(rng.choice("ABCDEFGHKLMNPRSTVW") for _ in range(rng.randint(3, 4)))
        query, yes = f"{acronym} AND ({word} OR {topic})", f"{acronym} signs {word} deal"
    elif shape == 8:
        query, yes = f'"{place} {word}*" OR (@{alias} AND {topic})', f"{place} {word}s up"
    else:
        query, yes = f"({word} AND {topic}) OR ({place} AND @{alias} AND mine*)", f"{word} {topic} in {place}"
    rule: dict[str, object] = {
        "id": f"rule-{number:05d}-{word}",
        "name": f"{word.capitalize()} {topic} watch {number}",
        "description": f"{word.capitalize()} {topic} news from {place} and the firms of @{alias}; "
                       f"written for the {rng.choice(['desk', 'analysts', 'editors'])} in batch {number // 100}.",
        "query": query,
        "severity": rng.choice(SEVERITIES),
    }
    if shape == 6:
        rule["fields"] = ["title", "content"]
    if number % 7 == 0:
        rule["feeds"] = rng.sample(FEEDS, 2)
    if number % 11 == 0:
        rule["throttle"] = rng.choice(["15m", "1h", "6h"])
    if number % 13 == 0:
        rule["digest"] = rng.choice(["hourly", "daily"])
    if number % 17 == 0:
        rule["enabled"] = False
    tests = []
    if yes is not None:
        tests.append({"title": yes[0].upper() + yes[1:], "text": "", "match": True})
    tests.append({"title": f"{rng.choice(['Weather', 'Cricket', 'Elections'])} report {number}", "text": "",
                  "match": False})
    rule["tests"] = tests
    return rule


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rules_yaml(count: int = 20_000, seed: int = 16, alias_count: int | None = None) -> str:
    """The text of a rules file with `count` rules (see the module docstring)."""
    rng = random.Random(seed)
    aliases = _aliases(rng, alias_count if alias_count is not None else max(10, count // 40))
    out = [f"# Generated by bench/make_big_rules.py: {count} rules, seed {seed}.", "", "aliases:"]
    for name, entries in aliases.items():
        out.append(f"  {name}:")
        out.extend(f"    - {_quoted(e)}" for e in entries)
    out += ["", "rules:"]
    for number in range(count):
        rule = _rule(rng, number, aliases)
        out.append(f"  - id: {rule['id']}")
        if number % 2 == 0:
            out.append(f"    name: {_quoted(str(rule['name']))}")
        if number % 3 == 0:
            out.append("    description: >")
            out.append(f"      {rule['description']}")
        out.append(f"    query: {_quoted(str(rule['query']))}")
        out.append(f"    severity: {rule['severity']}")
        for key in ("fields", "feeds"):
            if key in rule:
                out.append(f"    {key}: [{', '.join(rule[key])}]")  # type: ignore[arg-type]
        for key in ("throttle", "digest"):
            if key in rule:
                out.append(f"    {key}: {rule[key]}")
        if "enabled" in rule:
            out.append("    enabled: false")
        out.append("    tests:")
        for example in rule["tests"]:  # type: ignore[attr-defined]
            out.append(f"      - title: {_quoted(example['title'])}")
            if example["text"]:
                out.append(f"        text: {_quoted(example['text'])}")
            out.append(f"        match: {'true' if example['match'] else 'false'}")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="where to write the rules file")
    parser.add_argument("--rules", type=int, default=20_000, help="how many rules (default 20,000)")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    text = rules_yaml(args.rules, args.seed)
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}: {args.rules:,} rules, {len(text.encode()) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rules: the rules-file format, the query language, compile and match.

Pure: takes text (rules files as strings, articles as `Document`s) and returns
values; it imports nothing of ours outside this package.

    ruleset = load_rules([("minerals.yaml", text)], known_channels={"email"})
    for problem in ruleset.problems: print(problem)      # FILE:LINE:COL: message
    matcher = compile_rules(ruleset.rules, ruleset.aliases)
    for hit in matcher.match(Document(title=..., summary=..., content=..., feed=...)):
        hit.rule_id, hit.terms                           # TermMatch spans in the original text
    print(matcher.explain("pakistan-antimony", doc).render())
"""

# Eager: the function `normalise` shares its name with the submodule, whose import would
# otherwise leave the module as `rules.normalise` (the normaliser is light: re, unicodedata).
from .normalise import NormalisedText, normalise, tokenise


# The other names are imported on first use (PEP 562), so `import rules.exceptions` (every CLI start,
# through monitor/exceptions.py) does not load YAML, the compiler and the matcher.
_EXPORTS = {
    "compile_rules": "compile",
    "parse_duration": "durations", "duration_problem": "durations", "digest_problem": "durations",
    "RulesError": "exceptions", "RuleSyntaxError": "exceptions",
    "check_examples": "loader", "load_rules": "loader", "load_compiled_rules": "loader",
    "ExplainNode": "match", "Matcher": "match",
    "AliasRef": "query", "And": "query", "Field": "query", "Near": "query", "Not": "query", "Or": "query",
    "Term": "query", "format_query": "query", "parse_query": "query",
    "FIELDS": "types", "SEVERITIES": "types", "Document": "types", "Problem": "types", "Rule": "types",
    "RuleExample": "types", "RuleMatch": "types", "RuleSet": "types", "SourceLocation": "types",
    "TermMatch": "types",
}  # fmt: skip


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "load_rules", "load_compiled_rules", "check_examples", "compile_rules", "Matcher", "ExplainNode",
    "parse_query", "format_query", "normalise", "tokenise", "NormalisedText",
    "Term", "And", "Or", "Not", "Near", "Field", "AliasRef",
    "parse_duration", "duration_problem", "digest_problem",
    "RulesError", "RuleSyntaxError",
    "FIELDS", "SEVERITIES", "Document", "Problem", "Rule", "RuleExample", "RuleMatch",
    "RuleSet", "SourceLocation", "TermMatch",
]  # fmt: skip

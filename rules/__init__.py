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

from .compile import compile_rules
from .durations import digest_problem, duration_problem, parse_duration
from .exceptions import RulesError, RuleSyntaxError
from .loader import check_examples, load_rules
from .match import ExplainNode, Matcher
from .normalise import NormalisedText, normalise, tokenise
from .query import AliasRef, And, Field, Near, Not, Or, Term, format_query, parse_query
from .types import (
    FIELDS,
    SEVERITIES,
    Document,
    Problem,
    Rule,
    RuleExample,
    RuleMatch,
    RuleSet,
    SourceLocation,
    TermMatch,
)

__all__ = [
    "load_rules", "check_examples", "compile_rules", "Matcher", "ExplainNode",
    "parse_query", "format_query", "normalise", "tokenise", "NormalisedText",
    "Term", "And", "Or", "Not", "Near", "Field", "AliasRef",
    "parse_duration", "duration_problem", "digest_problem",
    "RulesError", "RuleSyntaxError",
    "FIELDS", "SEVERITIES", "Document", "Problem", "Rule", "RuleExample", "RuleMatch",
    "RuleSet", "SourceLocation", "TermMatch",
]  # fmt: skip

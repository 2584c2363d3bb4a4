"""`rules check|test|explain|backtest`: try a rules change before it goes live."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.context import (
    EXIT_PROBLEMS, did_you_mean, load_progress, plural, print_json, progress_bar, since_option, state, stderr, stdout,
)  # fmt: skip
from monitor.cli.lazy_commands import LazyGroup
from monitor.cli.safe_text import literal
from monitor.exceptions import ConfigError

if TYPE_CHECKING:
    from rich.text import Text

    from rules import Document
    from storage.types import Article

app = typer.Typer(help="Check and test rules files.", no_args_is_help=True, cls=LazyGroup)


def _known_channels(ctx: typer.Context) -> set[str] | None:
    """Channel names from the config, to catch typos; None when there is no usable config."""
    try:
        return set(state(ctx).config().channels)
    except ConfigError:
        return None


@app.command("check")
def check(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Rules files (YAML).", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Validate rules files and run their examples; prints FILE:LINE:COL: message per problem."""
    from monitor.rulesource import load_rule_set

    known_channels = _known_channels(ctx)
    with load_progress() as progress:
        ruleset = load_rule_set(tuple(files), known_channels=known_channels, progress=progress)
    if as_json:
        print_json(
            {
                "ok": ruleset.ok,
                "rules": len(ruleset.rules),
                "problems": [
                    {"file": p.location.file, "line": p.location.line, "column": p.location.column, "message": p.message}
                    for p in ruleset.problems
                ],
            }
        )
    else:
        for problem in ruleset.problems:
            print(str(problem))
        if ruleset.ok:
            examples = sum(len(rule.tests) for rule in ruleset.rules)
            stdout.print(f"OK: {plural(len(ruleset.rules), 'rule')} in {plural(len(files), 'file')}, "
                         f"{plural(examples, 'example')} {'passes' if examples == 1 else 'pass'}", markup=False)
    if not ruleset.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _rule_files(ctx: typer.Context, rules_files: list[Path] | None) -> tuple[Path, ...]:
    """--rules FILE..., else the configured rules (the bundled pack when there is no config)."""
    if rules_files:
        return tuple(rules_files)
    return state(ctx).config().rules_files


def _load_matcher(ctx: typer.Context, files: tuple[Path, ...]):
    from monitor.rulesource import load_rule_files

    known_channels = _known_channels(ctx)
    with load_progress() as progress:
        loaded = load_rule_files(files, known_channels=known_channels, progress=progress)
    for problem in loaded.ruleset.problems:
        stderr.print(f"warning: {problem} (rule left out)", markup=False)
    return loaded.ruleset, loaded.matcher


def _highlighted(text: str, spans: list[tuple[int, int]]) -> Text:
    """`text` printed literally with the spans highlighted (pieces made visible one by one,
    so a control character shown as several characters does not shift the spans)."""
    rich_text = literal("")
    position = 0
    for start, end in sorted(spans):
        if start < position:
            start = position  # overlapping spans: highlight the rest only
        rich_text.append_text(literal(text[position:start], keep_lines=True))
        rich_text.append_text(literal(text[start:end], "bold black on yellow", keep_lines=True))
        position = max(position, end)
    rich_text.append_text(literal(text[position:], keep_lines=True))
    return rich_text


def _print_matches(document: Document, matches, by_id, header: str | None = None) -> None:
    if header:
        stdout.print(header, markup=False)
    if not matches:
        stdout.print("  no rule matched", style="dim")
        return
    for match in matches:
        rule = by_id[match.rule_id]
        heading = literal(f"  {rule.id}", "bold")
        heading.append_text(literal(f" ({rule.severity}) {rule.display_name}"))
        stdout.print(heading)
        for field_name in ("title", "summary", "content"):
            spans = [(t.start, t.end) for t in match.terms if t.field == field_name]
            if spans:
                line = literal(f"    {field_name}: ")
                line.append_text(_highlighted(getattr(document, field_name), spans))
                stdout.print(line)


def _match_json(match) -> dict:
    return {"rule": match.rule_id, "terms": [t.text for t in match.terms]}


@app.command("test")
def test_rules(
    ctx: typer.Context,
    rules_files: Annotated[list[Path] | None, typer.Option("--rules", metavar="FILE", help="Rules file(s); default: the configured rules.", exists=True, dir_okay=False)] = None,
    title: Annotated[str, typer.Option("--title", metavar="TEXT", help="Title of an ad-hoc article.")] = "",
    text: Annotated[str, typer.Option("--text", metavar="TEXT", help="Summary text of an ad-hoc article.")] = "",
    content: Annotated[str, typer.Option("--content", metavar="TEXT", help="Body text of an ad-hoc article.")] = "",
    feed: Annotated[str | None, typer.Option("--feed", metavar="NAME", help="Feed name, for rules limited to some feeds.")] = None,
    article_id: Annotated[int | None, typer.Option("--article", metavar="ID", help="Match a stored article instead.")] = None,
    stored: Annotated[bool, typer.Option("--stored", help="Match the stored archive (with --since).")] = False,
    since: Annotated[str, typer.Option("--since", metavar="DURATION", help='With --stored: how far back, e.g. "30d".')] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help='Print {"matches": [{"rule", "terms"}, ...]}.')] = False,
) -> None:
    """Match one article (ad-hoc, --article ID, or --stored archive) and show the matched terms."""
    from rules import Document

    ruleset, matcher = _load_matcher(ctx, _rule_files(ctx, rules_files))
    by_id = {rule.id: rule for rule in ruleset.rules}
    if stored:
        _test_stored(ctx, matcher, by_id, since, as_json)
        return
    if article_id is not None:
        document = _document_for(_stored_article(ctx, article_id))
    else:
        if not (title or text or content):
            raise typer.BadParameter("give --title/--text/--content, --article ID or --stored")
        document = Document(title=title, summary=text, content=content, feed=feed)
    matches = matcher.match(document)
    if as_json:
        print_json({"matches": [_match_json(m) for m in matches]})
        return
    _print_matches(document, matches, by_id, f"{len(matches)} of {plural(len(ruleset.rules), 'rule')} matched")


def _stored_article(ctx: typer.Context, article_id: int) -> Article:
    from storage.articles import get_article

    article = get_article(state(ctx).database(), article_id)
    if article is None:
        stderr.print(f"no stored article with id {article_id} (`hits list` shows the article ids of hits)")
        raise typer.Exit(EXIT_PROBLEMS)
    return article


def _document_for(article: Article) -> Document:
    from monitor.pipeline import document_for

    return document_for(article)


def _test_stored(ctx: typer.Context, matcher, by_id, since: str, as_json: bool) -> None:
    from rich.table import Table

    from storage.articles import articles_since, count_articles_since

    db = state(ctx).database()
    moment = since_option(since)
    results = []
    with progress_bar(count_articles_since(db, moment), "matching stored articles") as advance:
        for batch in articles_since(db, moment):
            for article in batch:
                for match in matcher.match(_document_for(article)):
                    results.append((article, match))
            advance(len(batch))
    if as_json:
        print_json({"matches": [{**_match_json(m), "article_id": a.id, "url": a.url or a.link, "title": a.title}
                                for a, m in results]})
        return
    table = Table(title=f"{plural(len(results), 'match', 'matches')} in stored articles since {since}", title_justify="left")
    for column in ("article", "rule", "title", "terms"):
        table.add_column(column, overflow="fold")
    for article, match in results:
        table.add_row(str(article.id), literal(match.rule_id), literal(article.title),
                      literal(", ".join(dict.fromkeys(t.text for t in match.terms))))
    stdout.print(table)


@app.command("explain")
def explain(
    ctx: typer.Context,
    rule_id: Annotated[str, typer.Argument(metavar="RULE", help="Rule id.")],
    article_id: Annotated[int, typer.Option("--article", metavar="ID", help="Stored article id (the article column of `hits list`).")],
    rules_files: Annotated[list[Path] | None, typer.Option("--rules", metavar="FILE", help="Rules file(s); default: the configured rules.", exists=True, dir_okay=False)] = None,
) -> None:
    """Show which parts of RULE's query were true or false for one stored article."""
    ruleset, matcher = _load_matcher(ctx, _rule_files(ctx, rules_files))
    if rule_id not in matcher:
        known = {rule.id for rule in ruleset.rules}
        raise typer.BadParameter(f"no rule {rule_id!r} in the loaded rules{did_you_mean(rule_id, known)}",
                                 param_hint="RULE")
    article = _stored_article(ctx, article_id)
    tree = matcher.explain(rule_id, _document_for(article))
    stdout.print(literal(f"rule {rule_id} on article {article_id}: {article.title}"))
    for line in tree.render().splitlines():
        style = "green" if line.lstrip().startswith("yes") else "red" if line.lstrip().startswith("no") else "dim"
        stdout.print(literal(line, style))
    stdout.print("fires" if tree.value else "does not fire", style="bold")


@app.command("backtest")
def backtest(
    ctx: typer.Context,
    candidate: Annotated[Path, typer.Argument(metavar="FILE", help="Candidate rules file.", exists=True, dir_okay=False)],
    since: Annotated[str, typer.Option("--since", metavar="DURATION", help='How far back in the archive, e.g. "30d".')] = "30d",
    labels: Annotated[Path | None, typer.Option("--labels", metavar="CSV", help="CSV: article URL, rule id, relevant (yes/no).", exists=True, dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-rule figures as JSON.")] = False,
) -> None:
    """Run a candidate rules file over the stored archive (live hits untouched): matches gained and lost."""
    from rich.table import Table

    from monitor.backtest import backtest_rules, read_labels
    from storage.articles import count_articles_since

    ruleset, matcher = _load_matcher(ctx, (candidate,))
    db = state(ctx).database()
    moment = since_option(since)
    label_set = read_labels(labels) if labels else None
    with progress_bar(count_articles_since(db, moment), "backtesting") as advance:
        report = backtest_rules(db, matcher, ruleset.rules, moment, label_set, advance)
    if as_json:
        print_json({"since": since, "articles": report.articles, "rules": [r.as_json() for r in report.rules]})
        return
    table = Table(title=literal(f"Backtest of {candidate} over {plural(report.articles, 'article')} since {since}"),
                  title_justify="left")
    for column in ("rule", "matches", "live", "gained", "lost", "precision", "recall"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for row in report.rules:
        table.add_row(literal(row.rule_id), str(row.matches), str(row.live), f"+{row.gained}", f"-{row.lost}",
                      _ratio(row.precision), _ratio(row.recall))
    stdout.print(table)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"

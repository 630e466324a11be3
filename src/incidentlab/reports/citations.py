"""Runbook references in reports: links named by system and section, and the cited sections rendered."""

from __future__ import annotations

import re
from typing import Any

import mistune
import polars as pl

from ..runbooks import CITATION, Reference, cited, reference
from .context import Context, alert_frame, analysis, cached, classification, findings_frame
from .display import Html, Section, esc, notice

# Markdown from the runbooks, rendered with raw HTML escaped; mistune also neutralises
# javascript:/vbscript:/data: links.
_MARKDOWN = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
# How a findings detector names the runbook line of the generic rule it shares
# ("generic.doom_loop: runbook 000_2b18….txt line 50 (quote)").
_SHARED = re.compile(r"runbook (?P<file>[\w.-]+\.(?:txt|md)) line (?P<line>\d+)")


def references(ctx: Context) -> list[Reference]:
    """Every runbook line the scope's alert firings and matched failure modes cite."""
    texts: list[str | None] = []
    alerts = alert_frame(ctx)
    if alerts is not None and "runbook" in alerts.columns:
        texts += alerts["runbook"].to_list()
    result = classification(ctx)
    if result is not None and "runbook_section" in result.modes.columns:
        texts += result.modes["runbook_section"].to_list()
    texts += finding_citations(ctx).values()
    return cited(texts)


def shared_citation(detector: Any) -> str | None:
    """"file.txt:50" of the runbook line a findings detector shares with a generic rule."""
    match = _SHARED.search(getattr(detector, "reference", None) or "")
    return f"{match.group('file')}:{match.group('line')}" if match else None


def finding_citations(ctx: Context) -> dict[str, str]:
    """Detector name -> the runbook line it shares ("file.txt:50"), for the detectors that
    found something in scope."""

    def compute() -> dict[str, str]:
        module = analysis("findings")
        found = findings_frame(ctx)
        if module is None or found is None or found.is_empty():
            return {}
        names = set(found["detector"].to_list())
        return {d.name: text for d in module.DETECTORS
                if d.name in names and (text := shared_citation(d)) is not None}

    return cached(ctx, "finding_citations", compute)


def named(text: str | None) -> str | None:
    """"000_2b18….txt:14 quote" -> "CodingBuddy runbook, <section>, line 14: quote"."""
    if not text:
        return text

    def label(match: re.Match[str]) -> str:
        ref = reference(match.group("file"), int(match.group("line")))
        return ref.label + ":" if ref is not None else match.group(0)

    return CITATION.sub(label, text)


def name_column(df: pl.DataFrame, column: str) -> pl.DataFrame:
    """The column's runbook citations spelled out (system, section, line)."""
    if column not in df.columns:
        return df
    return df.with_columns(pl.col(column).map_elements(named, return_dtype=pl.String,
                                                       skip_nulls=True))


def links(refs: list[Reference], text_of: Any = None) -> Html:
    """"CodingBuddy runbook, Common failure modes, line 14: <quote>" as links to the appendix."""
    items = "".join(
        f'<li><a href="#{esc(r.anchor)}">{esc(r.label)}</a>: {esc(r.quote)}</li>' for r in refs)
    text = "\n".join(f"- {r.label}: {r.quote}" for r in refs)
    return Html(f'<ul class="il-runbook-links">{items}</ul>', text)


def cited_links(ctx: Context, texts: list[str | None]) -> Html | None:
    refs = cited(texts)
    return links(refs) if refs else None


def runbooks(ctx: Context) -> Section:
    """Appendix: each cited runbook section, rendered, with the cited line named above it."""
    refs = references(ctx)
    if not refs:
        return Section(notice("No runbook line is cited by the alerts, failure modes or findings in scope.",
                              "empty"))
    blocks = []
    for ref in refs:
        body = _MARKDOWN(ref.text)
        blocks.append(
            f'<section class="il-runbook" id="{esc(ref.anchor)}">'
            f"<h4>{esc(ref.label)}</h4>"
            f'<p class="il-ref">cited line {ref.line}: <q>{esc(ref.quote)}</q> '
            f"({esc(ref.file)}, the {esc(ref.system)} operations runbook)</p>"
            f'<div class="il-runbook-text">{body}</div></section>')
    text = "\n\n".join(f"{r.label}\n{r.text}" for r in refs)
    return Section(Html("".join(blocks), text))

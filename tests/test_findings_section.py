"""The report's Findings section in process: codes linked, evidence linked to the cited events, loop
cost shown as the evidence has it ("not in evidence", never 0), redaction, and the chart's marks."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import polars as pl
import pytest

from incidentlab.analysis import usage as usage_mod
from incidentlab.analysis.findings import DETECTORS, find
from incidentlab.ingest import ingest_evidence
from incidentlab.reports import findings_section as fs
from incidentlab.reports import sections
from incidentlab.reports.citations import references, shared_citation
from incidentlab.reports.display import Figure
from incidentlab.runbooks import cited
from incidentlab.store import connect

import conftest_reports
from analysis_helpers import at, insert, insert_metrics, make_db
from conftest_reports import SCRIPT_PAYLOAD, SECRET

incident_db = conftest_reports.incident_db

FIXTURES = Path(__file__).parent / "fixtures" / "findings"
MINI = FIXTURES / "mini-swe-agent" / "github_issue.traj.json"


def _markup(section) -> str:
    return "".join(getattr(p, "markup", "") for p in section.parts)


def _rows(markup: str, css: str) -> list[str]:
    return re.findall(rf'<tr class="{css}[^"]*"[^>]*>.*?</tr>', markup)


def _links(markup: str) -> list[tuple[str, str]]:
    return re.findall(r'<a class="il-event-link" href="#([^"]+)">([^<]+)</a>', markup)


def _anchors(markup: str) -> dict[str, str]:
    """Appendix row id -> the row's markup."""
    return {m.group(1): m.group(0) for m in re.finditer(
        r'<tr class="il-cited-event" id="([^"]+)">.*?</tr>', markup)}


def test_event_anchors_are_one_to_one_and_safe():
    ids = ["adc5488c9722102e:19:call", "a_b", "a-5f-b", "a b", 'x"><script>', "a_5f_b"]
    anchors = [fs.event_anchor(i) for i in ids]
    assert len(set(anchors)) == len(ids)
    assert anchors[0] == "event-adc5488c9722102e:19:call"
    assert all(re.fullmatch(r"event-[A-Za-z0-9.:_-]+", a) for a in anchors)


def test_every_shared_runbook_line_resolves():
    """A detector that names the generic rule it shares cites a runbook line that exists (the
    text format is the findings helper's: a drift would drop the link silently)."""
    shared = [d for d in DETECTORS if getattr(d, "reference", None)]
    assert {d.name for d in shared} >= {"step_repetition", "context_loss", "hang"}
    for d in shared:
        text = shared_citation(d)
        assert text is not None, d.name
        [ref] = cited([text])
        quoted = re.search(r"\((.+)\)$", d.reference).group(1)  # the rule's quote of the line
        assert quoted in ref.quote, (d.name, ref.quote)


@pytest.fixture(scope="module")
def mixed_ctx(mixed):
    """The demo incident of the mixed database (the report's default, the largest one): jido
    sessions that retry the same failing command, and no token usage in jido's evidence."""
    _con, db, _rules = mixed
    ctx = sections.context(db=str(db))
    yield ctx
    ctx.con.close()


def test_findings_are_listed_in_time_order_with_linked_codes_and_evidence(mixed_ctx):
    ctx = mixed_ctx
    found = find(ctx.con, ctx.scope)
    assert not found.is_empty()
    section = sections.findings(ctx)
    markup = _markup(section)
    rows = _rows(markup, "il-finding")
    assert [re.search(r'data-finding-id="(\w+)"', r).group(1) for r in rows] == found[
        "finding_id"].to_list()
    times = [t for t in found["ts"].to_list() if t is not None]
    assert times == sorted(times)
    for row, f in zip(rows, found.iter_rows(named=True), strict=True):
        assert f'<a class="il-code" href="{f["code_url"]}">' in row
        assert ctx.ts(f["ts"]) in unescape(row)
        linked = [unescape(text) for _anchor, text in _links(row)]
        assert linked == f["event_ids"][:fs.MAX_LINKED]
        if len(f["event_ids"]) > fs.MAX_LINKED:
            assert f"and {len(f['event_ids']) - fs.MAX_LINKED} more" in row
    # step repetition shares generic.doom_loop's runbook line: shown by the code, and rendered
    # in the runbooks appendix (references include it)
    loops = found.filter(pl.col("detector") == "step_repetition")
    assert loops.height
    anchor = "runbook-000_2b1888b16b525627-50"
    for row in rows:
        if "FM-1.3</a> Step repetition" in row:
            assert f'href="#{anchor}"' in row and "CodingBuddy runbook line 50" in row
    assert anchor in {r.anchor for r in references(ctx)}
    # every linked event is a row of the appendix, with its own id
    appendix = _anchors(_markup(sections.finding_events(ctx)))
    for anchor_id, text in _links(markup):
        assert anchor_id in appendix, text
        assert f"<td>{text}</td>" in appendix[anchor_id]


def test_loop_cost_without_usage_says_not_in_evidence(mixed_ctx):
    ctx = mixed_ctx
    loops = find(ctx.con, ctx.scope, detectors=["step_repetition"])
    assert loops["tokens"].null_count() == loops.height, "jido's evidence holds no token counts"
    markup = _markup(sections.findings(ctx))
    per_loop = _rows(markup, "il-loop\"")
    assert len(per_loop) == loops.height
    for row, loop in zip(per_loop, loops.iter_rows(named=True), strict=True):
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert cells[3:5] == ["not in evidence", "not in evidence"]
        assert cells[5] == fs.fmt_duration(loop["duration_ms"] / 1000)
    sessions = _rows(markup, "il-loop-session")
    assert len(sessions) == usage_mod.loop_totals(loops).height
    [incident] = _rows(markup, "il-loop-incident")
    cells = re.findall(r"<td>(.*?)</td>", incident)
    assert cells[:4] == [ctx.incident["incident_id"], str(loops.height), "not in evidence",
                         "not in evidence"]
    assert ">0<" not in incident.replace(f"<td>{loops.height}</td>", "")


def test_loop_cost_with_usage_counts_it_and_keeps_the_other_null(tmp_path: Path):
    """Two Codex loops of 3 failed pytest calls: usage points inside s1's loop only (as in
    tests/test_findings.py): s1 330 tokens, s2 not in evidence; cost is never in Codex evidence."""
    con = make_db(tmp_path)
    rows = []
    for stream in ("s1", "s2"):
        for i in range(3):
            rows += [{"event_type": "tool.call", "system": "codex_cli", "stream": stream,
                      "name": "exec_command", "correlation_id": f"{stream}c{i}",
                      "message": '{"cmd": "pytest"}', "ts": at(minutes=i),
                      "event_id": f"{stream}-call{i}"},
                     {"event_type": "tool.result", "system": "codex_cli", "stream": stream,
                      "name": "exec_command", "correlation_id": f"{stream}c{i}",
                      "outcome": "error", "message": "1 failed", "ts": at(minutes=i, seconds=3),
                      "event_id": f"{stream}-result{i}"}]
    insert(con, rows)
    con.execute("INSERT INTO _loads (load_id, loader, system) VALUES "
                "('test', 'codex_cli.rollout_jsonl', 'codex_cli')")
    insert_metrics(con, [
        {"system": "codex_cli", "stream": "s1", "name": name, "value": value, "ts": at(minutes=m)}
        for name, value, m in (("input_tokens", 100, 0), ("output_tokens", 10, 0),
                               ("input_tokens", 200, 2), ("output_tokens", 20, 2))])
    con.close()
    ctx = sections.context(db=str(tmp_path / "x.duckdb"))
    try:
        markup = _markup(sections.findings(ctx))
    finally:
        ctx.con.close()
    cells = [re.findall(r"<td>(.*?)</td>", r) for r in _rows(markup, "il-loop\"")]
    assert [(c[0], c[3], c[4], c[5]) for c in cells] == [
        ("codex_cli · s1", "330", "not in evidence", "2m 03s"),
        ("codex_cli · s2", "not in evidence", "not in evidence", "2m 03s")]
    [incident] = [re.findall(r"<td>(.*?)</td>", r) for r in _rows(markup, "il-loop-incident")]
    # loops, tokens (s1 only), cost, time (both), loops without usage
    assert incident[1:] == ["2", "330", "not in evidence", "4m 06s", "1"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The real mini-swe-agent trajectory (MIT) with a secret and markup planted in the command
    of its final, unverified rewrite."""
    root = tmp_path_factory.mktemp("planted")
    source = root / "traj"
    source.mkdir()
    steps = json.loads(MINI.read_text(encoding="utf-8"))
    [step] = [m for m in steps if "cat > tests/missing_colon.py << 'EOF'" in str(m.get("content"))]
    step["content"] = step["content"].replace(
        "<< 'EOF'", f"<< 'EOF' # key {SECRET} {SCRIPT_PAYLOAD}", 1)
    (source / MINI.name).write_text(json.dumps(steps), encoding="utf-8")
    db = root / "m.duckdb"
    ingest_evidence(source, db)
    return db


def test_findings_and_cited_events_are_escaped_and_redacted(planted):
    for redact in (True, False):
        ctx = sections.context(db=str(planted), redact=redact)
        try:
            markup = _markup(sections.findings(ctx)) + _markup(sections.finding_events(ctx))
        finally:
            ctx.con.close()
        assert "<script>alert(" not in markup and "&lt;script&gt;alert(" in markup
        assert (SECRET in markup) is (not redact)
        if redact:
            assert "[REDACTED" in markup


def test_untimed_findings_say_so_and_are_not_marked(planted):
    ctx = sections.context(db=str(planted))
    try:
        [row] = _rows(_markup(sections.findings(ctx)), "il-finding")
        notes = [p.text for p in sections.swimlane(ctx).parts if hasattr(p, "text")]
    finally:
        ctx.con.close()
    assert "<td>no time in evidence</td>" in row
    assert any(n.startswith("[note] Findings not marked on the chart: 1 (no time in evidence")
               for n in notes), notes


def test_timed_findings_are_marked_on_the_swimlane(mixed_ctx):
    ctx = mixed_ctx
    found = find(ctx.con, ctx.scope)
    figure = next(p for p in sections.swimlane(ctx).parts if isinstance(p, Figure))
    [trace] = [t for t in figure.fig.data if t.name == "finding"]
    assert len(trace.x) == found.filter(pl.col("ts").is_not_null()).height
    codes = [f"{t} {c}" for t, c in found.filter(pl.col("ts").is_not_null()).select(
        "taxonomy", "code").iter_rows()]
    assert all(code in hover for code, hover in zip(codes, trace.hovertext, strict=True))


def test_the_test_incident_has_one_finding_its_failing_loop(incident_db):
    """conftest_reports.incident_lines: six proposals of `make test` in session 1, every result
    failing; CodingBuddy's calls are its ToolProposed envelopes (loaders declare the types)."""
    frame = find(connect(incident_db, read_only=True))
    [row] = frame.to_dicts()
    assert (row["detector"], row["code"], row["system"]) == ("step_repetition", "FM-1.3", "codingbuddy")
    assert "repeated 6 times" in row["title"] and len(row["event_ids"]) == 12
    assert row["ts"].isoformat() == "2026-03-01T09:01:30+00:00"
    assert row["tokens"] is None and row["cost_usd"] is None  # no usage event in the session


def test_the_findings_module_may_be_absent(incident_db, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "incidentlab.analysis.findings", None)
    ctx = sections.context(db=str(incident_db))
    try:
        [note] = sections.findings(ctx).parts
        assert "analysis.findings is not available" in note.text
        assert sections.swimlane(ctx).parts and sections.finding_events(ctx).parts == []
    finally:
        ctx.con.close()


def test_a_claim_links_the_message_making_it(tmp_path: Path):
    """The real spotter session (tests/fixtures/claims, MIT) without its passing test run (source
    lines 1129, 1141, as tests/test_findings_claims.py cuts them): the agent's "tests pass" claim
    is contradicted by the last run (5 tests, 4 failures). Its row links the claim first."""
    from incidentlab.ingest import ingest

    spotter = FIXTURES.parent / "claims" / "spotter" / "258c7280-ae70-4798-800f-63464d01a85d.jsonl"
    numbers = [598, 607, 608, 615, 616, 624, 625, 1064, 1111, 1113, 1114, 1117, 1118, 1128, 1129,
               1141, 1142, 1143, 1148, 1157, 1167, 1168]  # the source lines, as its NOTICE lists
    lines = spotter.read_bytes().splitlines(keepends=True)
    cut = tmp_path / spotter.name
    cut.write_bytes(b"".join(line for n, line in zip(numbers, lines, strict=True)
                             if n not in (1129, 1141)))
    assert ingest([cut], tmp_path / "c.duckdb", tz="UTC").ok
    ctx = sections.context(db=str(tmp_path / "c.duckdb"), incident="all")
    try:
        found = find(ctx.con, ctx.scope, detectors=["claim_contradicted"])
        [claim_id] = found["claim_event_id"].to_list()
        row = next(r for r in _rows(_markup(sections.findings(ctx)), "il-finding")
                   if "MAST FM-3.3" in r)
        appendix = _anchors(_markup(sections.finding_events(ctx)))
        [(message,)] = ctx.con.execute("SELECT message FROM events WHERE event_id = ?",
                                       [claim_id]).fetchall()
    finally:
        ctx.con.close()
    evidence = re.findall(r"<td>(.*?)</td>", row)[-1]
    assert evidence.startswith(f'claim: <a class="il-event-link" href="#{fs.event_anchor(claim_id)}">')
    assert "5 tests, 4 failures" in unescape(row)
    assert fs.event_anchor(claim_id) in appendix
    assert unescape(re.findall(r"<td>(.*?)</td>", appendix[fs.event_anchor(claim_id)])[8]) == (
        message[:fs.MAX_CELL_CHARS] + ("…" if len(message) > fs.MAX_CELL_CHARS else ""))

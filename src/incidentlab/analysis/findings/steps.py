"""Tool steps of agent runs: each tool call with its role, normalized arguments and results, as SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ...loaders import all_loaders
from ...loaders.base import (
    Loader,
    ToolRole,
    tool_arguments_of,
    tool_call_types_of,
    tool_output_of,
    tool_roles_of,
)
from ...membership import one_of
from ...scope import Scope
from .._sql import quote

# A shell command's role, read from the command (any system): tests, builds, linters, type checks
# and running the code verify; in-place edits, redirections into a file and patches edit; reading
# and searching commands at the start of the command line explore. Verification wins over an edit
# in the same command line (`cat > t.py <<EOF ... && python t.py` ran what it wrote).
VERIFY_RE = (
    r"\b(pytest|py\.test|unittest|tox|nox|mix (test|compile)|(npm|yarn|pnpm|bun)( run)? "
    r"(test|build|lint|typecheck|check|start|dev)|npx (jest|vitest|tsc|eslint|playwright)|jest|vitest|"
    r"mocha|go (test|build|vet|run)|cargo (nextest|test|build|check|clippy|run)|mvn|gradlew?|rspec|"
    r"phpunit|ctest|make|cmake|deno (test|check|run)|tsc|mypy|pyright|ruff|eslint|flake8|pylint|"
    r"python[0-9.]* +(-m +\S+|-c|[^-\s]\S*\.py)|node +\S+\.[cm]?[jt]s|dotnet (test|build|run)|"
    r"swift (test|build)|bundle exec|rake)\b"
)
EDIT_RE = (r"\bsed\s+(-[a-zA-Z]*i|--in-place)|\bperl\s+-[a-zA-Z]*i|\btee\s|\bapply_patch\b|"
           r"\bgit\s+apply\b|\bpatch\s+-p|(^|[^0-9&>-])>>?\s*['\"]?[\w.~/]")
EXPLORE_RE = (r"^\s*(cd\s+\S+\s*(&&|;)\s*)?(cat|head|tail|less|more|sed\s+-n|grep|egrep|rg|ag|ack|"
              r"find|fd|ls|tree|wc|file|stat|nl|awk|jq|pwd|which|git\s+(status|log|show|diff|blame|"
              r"grep|ls-files|branch))\b")
DEFAULT_COMMAND = ("CASE WHEN json_valid(message) THEN coalesce(json_extract_string(message, '$.cmd'), "
                   "json_extract_string(message, '$.command'), message) ELSE message END")
FAILED = "outcome IN ('error', 'timeout', 'denied')"


def declarations(loaders: Iterable[Loader] | None = None) -> list[tuple[str, ToolRole]]:
    """(system, tool role) the registered loaders declare, each once, in declaration order."""
    seen: dict[tuple[str, ToolRole], None] = {}
    for loader in all_loaders() if loaders is None else loaders:
        for role in tool_roles_of(loader):
            seen.setdefault((loader.system, role), None)
    return list(seen)


def _declared_text(declared: Callable[[Loader], str | None],
                   loaders: Iterable[Loader] | None) -> str:
    """SQL over an event row: the text its system's loader declares (else the message)."""
    whens: dict[str, str] = {}
    for loader in all_loaders() if loaders is None else loaders:
        sql = declared(loader)
        if sql:
            whens.setdefault(loader.system, sql)
    cases = " ".join(f"WHEN system = {quote(s)} THEN coalesce(({sql}), message)"
                     for s, sql in whens.items())
    return f"CASE {cases} ELSE message END" if cases else "message"


def arguments_sql(loaders: Iterable[Loader] | None = None) -> str:
    """SQL over a tool.call row: its whole arguments, from the loaders' `tool_arguments`."""
    return _declared_text(tool_arguments_of, loaders)


def output_sql(loaders: Iterable[Loader] | None = None) -> str:
    """SQL over a tool.result row: its whole output, from the loaders' `tool_output`."""
    return _declared_text(tool_output_of, loaders)


def calls_sql(loaders: Iterable[Loader] | None = None, alias: str = "") -> str:
    """SQL over an event row (of table `alias`): true for the tool calls, by the types each
    system declares."""
    col = f"{alias}." if alias else ""
    types: dict[str, set[str]] = {}
    for loader in all_loaders() if loaders is None else loaders:
        types.setdefault(loader.system, set()).update(tool_call_types_of(loader))
    other = {s: t for s, t in types.items() if t != {"tool.call"}}
    if not other:
        return f"{col}event_type = 'tool.call'"
    own = " OR ".join(f"({col}system = {quote(s)} AND "
                      f"{one_of(f'{col}event_type', [quote(x) for x in sorted(t)])})"
                      for s, t in sorted(other.items()))
    listed = one_of(f"{col}system", [quote(s) for s in sorted(other)], negate=True)
    return f"(({col}event_type = 'tool.call' AND {listed}) OR {own})"


def _condition(system: str, role: ToolRole) -> str:
    names = f" AND name IN ({', '.join(quote(t) for t in role.tools)})" if role.tools else ""
    return f"system = {quote(system)}{names} AND coalesce(({role.where}), false)"


def role_sql(decls: list[tuple[str, ToolRole]]) -> tuple[str, str]:
    """(declared role, shell command) SQL over a tool.call row, from the declarations."""
    if not decls:
        return "NULL::VARCHAR", "NULL::VARCHAR"
    roles = " ".join(f"WHEN {_condition(s, r)} THEN {quote(r.role)}" for s, r in decls)
    commands = " ".join(f"WHEN {_condition(s, r)} THEN "
                        f"{r.command or DEFAULT_COMMAND if r.role == 'shell' else 'NULL'}"
                        for s, r in decls)
    return f"CASE {roles} END", f"CASE {commands} END"


def steps_sql(scope: Scope, decls: list[tuple[str, ToolRole]] | None = None,
              arguments: str | None = None) -> str:
    """CTEs ending in `steps`: one row per tool call in scope (timeline events), numbered per
    (system, stream) in time order (`step`), with `tool`, `args` (the call's whole arguments
    as its loader declares them, else its message, white space collapsed as the doom-loop rule
    does), `key` (tool and args), `role` (edit / verify / explore / finish; `shell` a shell
    command of no known kind, which may have edited or tested: redacted arguments, a script;
    `other` a tool of no declared role), its results by correlation id (`result_ids`, `failed`,
    `result_hash` over their outputs as the loaders declare them, else their messages;
    `result_ms` the largest duration a result reports) and
    `last_ts` (its last result's time, else its own)."""
    declared, command = role_sql(declarations() if decls is None else decls)
    whole = arguments_sql() if arguments is None else arguments
    return f"""
    calls AS (
        SELECT event_id, system, stream, project, ts, position, record_no, correlation_id,
               coalesce(name, '') AS tool,
               regexp_replace(trim(coalesce({whole}, '')), '\\s+', ' ', 'g') AS args,
               {whole} AS raw_args,
               {declared} AS declared_role, {command} AS command
        FROM timeline_events
        WHERE {calls_sql()} AND {scope.sql()}
    ),
    result_rows AS (
        SELECT system, stream, correlation_id, event_id, position, record_no, ts, outcome,
               {output_sql()} AS output, duration_ms
        FROM timeline_events
        WHERE event_type = 'tool.result' AND correlation_id IS NOT NULL
          AND {scope.sql(window=False)}
    ),
    -- Nearly every call has one result: plain aggregates for all (the hash of the results is
    -- one of their multiset: same results, same hash), the ordered list only where there are
    -- several (an ordered aggregate over a million one-row groups is most of the cost).
    result_groups AS (
        SELECT system, stream, correlation_id, count(*) AS n, min(event_id) AS first_id,
               bool_or({FAILED}) AS failed,
               sum(hash(coalesce(outcome, ''), coalesce(output, ''))) AS result_hash,
               max(duration_ms) AS result_ms, max(ts) AS result_ts
        FROM result_rows GROUP BY system, stream, correlation_id
    ),
    several AS (
        SELECT system, stream, correlation_id,
               list(event_id ORDER BY position, record_no, event_id) AS result_ids
        FROM result_rows
        WHERE (system, coalesce(stream, ''), correlation_id) IN (
            SELECT system, coalesce(stream, ''), correlation_id FROM result_groups WHERE n > 1)
        GROUP BY system, stream, correlation_id
    ),
    results AS (
        SELECT g.system, g.stream, g.correlation_id,
               coalesce(m.result_ids, [g.first_id]) AS result_ids, g.failed, g.result_hash,
               g.result_ms, g.result_ts
        FROM result_groups g LEFT JOIN several m
          ON m.system = g.system AND m.stream IS NOT DISTINCT FROM g.stream
         AND m.correlation_id = g.correlation_id
    ),
    steps AS (
        SELECT c.event_id, c.system, c.stream, c.project, c.ts, c.position, c.tool, c.args, c.raw_args,
               c.tool || chr(31) || c.args AS key, c.correlation_id,
               CASE WHEN c.declared_role = 'shell' THEN CASE
                   WHEN regexp_matches(coalesce(c.command, ''), {quote(VERIFY_RE)}, 'i') THEN 'verify'
                   WHEN regexp_matches(coalesce(c.command, ''), {quote(EDIT_RE)}) THEN 'edit'
                   WHEN regexp_matches(coalesce(c.command, ''), {quote(EXPLORE_RE)}, 'i') THEN 'explore'
                   ELSE 'shell' END
                    ELSE coalesce(c.declared_role, 'other') END AS role,
               r.result_ids, coalesce(r.failed, false) AS failed, r.result_hash, r.result_ms,
               coalesce(greatest(r.result_ts, c.ts), c.ts) AS last_ts,
               row_number() OVER (PARTITION BY c.system, c.stream
                                  ORDER BY c.ts NULLS LAST, c.position, c.record_no, c.event_id) AS step
        FROM calls c
        LEFT JOIN results r ON r.system = c.system AND r.stream IS NOT DISTINCT FROM c.stream
             AND r.correlation_id = c.correlation_id
    )"""

"""IN-list conditions written in the form DuckDB evaluates inside its table scans.

DuckDB 2.0 turns `column IN (a, b)` (and `column = a OR column = b`) into a filter it applies
after the scan has read every projected column of every row, but evaluates an expression
filter over one column, such as `coalesce(column IN (a, b), false)`, inside the scan, before
the other columns are read: at 10M events selecting two event types reads 6x less
(benchmarks/analysis.py). In a WHERE clause both forms keep the same rows: NULL and false both
reject a row. The scan tests a row against the list's items one by one, so a long list (the
replay's open streams) is written plainly: DuckDB turns it into a hash join (at 10M events,
1,000 streams: 1.29 s in the scan, 0.27 s as a join; 5,000: 5.54 s and 0.69 s;
benchmarks/membership.py).
"""

from __future__ import annotations

from collections.abc import Sequence

SCANNED_ITEMS = 100  # longest list tested inside the scan (both forms cost the same near it)


def one_of(column: str, items: Sequence[str], *, negate: bool = False) -> str:
    """`column` (NOT) IN the SQL expressions `items` (literals or `?`), for a WHERE clause.

    A row whose column is NULL is rejected either way, as `IN` / `NOT IN` reject it.
    """
    if not items:
        return "true" if negate else "false"
    if len(items) == 1:
        return f"{column} {'<>' if negate else '='} {items[0]}"
    if len(items) > SCANNED_ITEMS:
        return f"{column} {'NOT IN' if negate else 'IN'} ({', '.join(items)})"
    return f"coalesce({column} {'NOT IN' if negate else 'IN'} ({', '.join(items)}), false)"

"""Alert rule evaluation, set-based per rule kind: one statement computes the points of all the
kind's rules and levels (points.py, over each rule's rows: selection.py) and one aggregate turns
them into firings (firing.py). The public API is incidentlab.analysis.metrics.

selection.py can also select a kind's rows into one temp table in one scan (`materialize`); at
10M generated events that was no faster than DuckDB's pushed-down scan per rule and held up to
1 GiB more, so rules read timeline_events directly by default."""

"""Alert rule evaluation, set-based: one scan selects every rule's rows (selection.py), one query
per rule kind computes the points of all its rules and levels (points.py), one query turns the
points into firings (firing.py). The public API is incidentlab.analysis.metrics."""

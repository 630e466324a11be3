"""The Parquet lake: many incident databases in one Hive-partitioned folder, read by DuckDB or Spark.

```python
from incidentlab import lake
lake.write_lake("incident.duckdb", "lake/")      # or `incidentlab lake write`
con = lake.connect("lake/", engine="duckdb")      # the analyses run on it unchanged
```

Layout, manifest and append semantics: docs/lake.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError

ENGINES = ("duckdb", "spark")


def connect(directory: str | Path, engine: str = "duckdb", spark_master: str | None = None) -> Any:
    """A connection over the lake on which `incidentlab.analysis` runs as on a database file:
    engine "duckdb" (an in-memory DuckDB connection with one view per table) or "spark"
    (Apache Spark, local mode unless `spark_master` or the Spark environment says otherwise)."""
    if engine == "duckdb":
        if spark_master is not None:
            raise UsageError("--spark-master is for --engine spark", hint="drop it, or add --engine spark")
        from .duckdb_engine import connect as duckdb_connect

        return duckdb_connect(directory)
    if engine == "spark":
        try:
            from .spark import connect as spark_connect
        except ImportError as exc:
            if exc.name and exc.name.endswith("lake.spark"):
                raise UsageError("the Spark engine (incidentlab.lake.spark) is not part of this "
                                 "incidentlab build", hint="use --engine duckdb") from exc
            raise
        return spark_connect(directory, spark_master)
    raise UsageError(f"unknown engine {engine!r}", hint=f"choose one of: {', '.join(ENGINES)}")


def write_lake(db: str | Path, out: str | Path, **kwargs: Any) -> Any:
    """Append the database `db` to the lake `out`; see `incidentlab.lake.write.write_lake`."""
    from .write import write_lake as write

    return write(db, out, **kwargs)


__all__ = ["ENGINES", "connect", "write_lake"]

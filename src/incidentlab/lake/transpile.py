"""DuckDB SQL to Spark SQL: SQLGlot's transpiler plus the rewrites where its Spark output would
mean something else (docs/spark.md has the table).

`statements(sql, params)` parses one or more DuckDB statements, binds `?` and `$name`
parameters as literals (SQLGlot builds them, so quoting is its, not string pasting), rewrites
the constructs listed in REWRITES and says what each statement is for the Spark connection: a
query, a temp table to create, a table to drop, a setting, or nothing to do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp, transforms
from sqlglot.dialects.spark import Spark
from sqlglot.errors import SqlglotError
from sqlglot.generators.spark import SparkGenerator
from sqlglot.tokens import TokenType

from ..errors import UsageError


class TranspileError(UsageError):
    """A DuckDB statement that has no faithful Spark form here."""


class SparkSQL(Spark):
    """Spark 4 as SQLGlot writes it, but keeping QUALIFY (Spark 4.3 has it, SPARK-31561;
    SQLGlot's rewrite into a subquery would add a `_w` column to `SELECT *`)."""

    class Generator(SparkGenerator):
        TRANSFORMS: ClassVar[dict[type[exp.Expression], Callable[..., str]]] = {
            **SparkGenerator.TRANSFORMS,
            exp.Select: transforms.preprocess([
                transforms.eliminate_distinct_on,
                transforms.unnest_to_explode,
                transforms.any_to_exists,
            ]),
        }

        # Spark reads `FROM t WHERE (a, b)` (and `WHERE (TRUE)`) as the table alias WHERE with
        # column names a, b: a condition is never written starting with a parenthesis.
        def where_sql(self, expression: exp.Where) -> str:
            return self._unambiguous("WHERE", expression)

        def qualify_sql(self, expression: exp.Qualify) -> str:
            return self._unambiguous("QUALIFY", expression)

        def _unambiguous(self, keyword: str, expression: exp.Expression) -> str:
            this = self.sql(expression, "this")
            if this.lstrip().startswith("("):
                this = f"TRUE AND {this}"
            return f"{self.seg(keyword)}{self.sep()}{self.indent(this)}"


@dataclass(frozen=True)
class Statement:
    """kind: "query" (sql), "create" (temp table `name` AS sql), "drop" (`name`), "set"
    (`name` = value), "skip" (a DuckDB-only statement with nothing to do on Spark)."""

    kind: str
    sql: str = ""
    name: str = ""
    value: Any = None


# Settings that only steer DuckDB (its memory, progress bar, insertion order, extension loading):
# SET is remembered (current_setting reads it back) and otherwise has no effect on Spark.
DUCKDB_ONLY_SETTINGS = {
    "preserve_insertion_order": True, "enable_progress_bar": False, "threads": None,
    "memory_limit": None, "temp_directory": None, "autoinstall_known_extensions": False,
    "autoload_known_extensions": False, "enable_object_cache": None,
    "timezone": "UTC",  # the Spark session runs in UTC (spark.sql.session.timeZone)
}

# DuckDB's default time_bucket origin for widths in days, hours, minutes, seconds (a Monday).
BUCKET_ORIGIN_US = int(datetime(2000, 1, 3, tzinfo=UTC).timestamp()) * 1_000_000
UNIT_US = {"microsecond": 1, "millisecond": 1_000, "second": 1_000_000, "minute": 60_000_000,
           "hour": 3_600_000_000, "day": 86_400_000_000}
# Timestamps DuckDB can write as 'infinity' / '-infinity'; Spark has none, so the ends of its range.
INFINITY = {"infinity": "9999-12-31 23:59:59.999999", "-infinity": "0001-01-01 00:00:00"}


def raw(sql: str) -> exp.Expression:
    """Spark SQL text kept verbatim in the tree (its parts were rewritten and generated already)."""
    return exp.Var(this=sql)


def spark(node: exp.Expression) -> str:
    return node.sql(dialect=SparkSQL)


# ---- parameters ----------------------------------------------------------------------------

def literal(value: Any) -> exp.Expression:
    """A Python value as a SQL literal node (DuckDB semantics; the rewrites make it Spark's)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return exp.cast(exp.Literal.string(str(value)), exp.DataType.Type.DOUBLE)
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.Type.DOUBLE)
    if isinstance(value, Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return exp.cast(exp.Literal.string(moment.replace(tzinfo=None).isoformat(sep=" ")),
                        exp.DataType.Type.TIMESTAMPTZ)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, timedelta):
        return raw(f"MAKE_DT_INTERVAL(0, 0, 0, {_seconds_text(value / timedelta(microseconds=1))})")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(v) for v in value])
    raise TranspileError(f"cannot bind a parameter of type {type(value).__name__} for Spark",
                         hint="pass str, int, float, bool, datetime, date, timedelta or a list")


def _number_placeholders(sql: str) -> str:
    """`?` -> `$__p0`, `$__p1`, ... in text order (tokens, so a `?` inside a string stays)."""
    tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql)
    out, last, n = [], 0, 0
    for token in tokens:
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            out += [sql[last:token.start], f"$__p{n}"]
            last, n = token.end + 1, n + 1
    return "".join(out) + sql[last:] if n else sql


def bind(tree: exp.Expression, params: dict[str, Any]) -> exp.Expression:
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        name = node.name
        if name not in params:
            raise TranspileError(f"no value for parameter ${name or '?'}",
                                 hint="pass one value per ? or a dict with every $name")
        node.replace(literal(params[name]))
    return tree


# ---- rewrites ------------------------------------------------------------------------------

def _around(node: exp.Expression, inner: str, outer: str) -> exp.Expression:
    """Replace an aggregate by `outer` (with {} for it) applied to the aggregate `inner`, keeping
    the FILTER and OVER that wrap it on the aggregate itself: `outer(inner FILTER .. OVER ..)`."""
    host: exp.Expression = node
    if isinstance(host.parent, exp.Filter) and host.parent.this is host:
        inner += f" FILTER (WHERE {spark(host.parent.expression.this)})"
        host = host.parent
    if isinstance(host.parent, exp.Window) and host.parent.this is host:
        window = host.parent.copy()
        window.set("this", raw(inner))
        inner = spark(window)
        host = host.parent
    out = raw(outer.format(inner))
    if host is node:
        return out
    host.replace(out)
    return node


def _ordered_list(node: exp.ArrayAgg) -> exp.Expression | None:
    """list(x [ORDER BY k...]) -> Spark's list of structs, sorted by a comparator that puts NULL
    keys as DuckDB does (last, unless NULLS FIRST), then unwrapped: COLLECT_LIST alone drops the
    order and the NULL values DuckDB keeps."""
    order = node.this
    value = order.this if isinstance(order, exp.Order) else order
    keys = order.expressions if isinstance(order, exp.Order) else []
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        [value] = value.expressions
        if keys and not (len(keys) == 1 and keys[0].this == value):
            raise TranspileError("list(DISTINCT x ORDER BY y) has no Spark form here",
                                 hint="order by the listed value itself")
    fields = [f"{spark(value)} AS v"] + [f"{spark(k.this)} AS k{i}" for i, k in enumerate(keys)]
    outer = "{}"
    if keys:
        outer = ("ARRAY_SORT({}, (l, r) -> " + _comparator(keys).replace("{", "{{")
                 .replace("}", "}}") + ")")
    # DISTINCT: one of each value, a NULL too (a struct holding NULL is a value to Spark).
    outer = "TRANSFORM(" + (f"ARRAY_DISTINCT({outer})" if distinct else outer) + ", s -> s.v)"
    return _around(node, f"COLLECT_LIST(STRUCT({', '.join(fields)}))", outer)


def _comparator(keys: list[exp.Expression]) -> str:
    """-1/0/1 of two structs l, r by keys k0, k1, ... (each key's NULLs where DuckDB puts them)."""
    compare = "0"
    for i, key in reversed(list(enumerate(keys))):
        desc = bool(key.args.get("desc"))
        nulls_first = bool(key.args.get("nulls_first"))
        lo, hi = ("1", "-1") if desc else ("-1", "1")
        null_l, null_r = ("-1", "1") if nulls_first else ("1", "-1")
        compare = (f"CASE WHEN l.k{i} <=> r.k{i} THEN {compare} WHEN l.k{i} IS NULL THEN {null_l} "
                   f"WHEN r.k{i} IS NULL THEN {null_r} WHEN l.k{i} < r.k{i} THEN {lo} ELSE {hi} END")
    return compare


def _bracket(node: exp.Bracket) -> exp.Expression | None:
    """DuckDB's 1-based x[i] (NULL out of range) and x[a:b] (inclusive) on lists."""
    if len(node.expressions) != 1:
        return None
    index = node.expressions[0]
    if isinstance(index, exp.Literal) and index.is_string:
        return None  # a struct or map key: SQLGlot's form
    this = spark(node.this)
    if isinstance(index, exp.Slice):
        lo = spark(index.this) if index.this is not None else "1"
        if index.expression is None:
            return raw(f"SLICE({this}, {lo}, GREATEST(SIZE({this}) - ({lo}) + 1, 0))")
        hi = spark(index.expression)
        return raw(f"SLICE({this}, {lo}, GREATEST(({hi}) - ({lo}) + 1, 0))")
    if isinstance(index, exp.Literal):
        # SQLGlot's parser stores a literal index 0-based (x[2] as 1); other indexes as written.
        return raw(f"TRY_ELEMENT_AT({this}, {int(index.name) + 1})")
    return raw(f"TRY_ELEMENT_AT({this}, {spark(index)})")


def _arg_extreme(node: exp.ArgMax | exp.ArgMin) -> exp.Expression:
    """arg_max(a, k): DuckDB skips rows whose a is NULL and orders a tuple key with NULL fields
    last; Spark's max_by keeps them and puts NULL struct fields first."""
    key = node.expression
    if isinstance(key, exp.Tuple):
        parts = []
        for item in key.expressions:
            parts += [f"{spark(item)} IS NULL", spark(item)]
        key_sql = f"STRUCT({', '.join(parts)})"
    else:
        key_sql = spark(key)
    func = "MAX_BY" if isinstance(node, exp.ArgMax) else "MIN_BY"
    value = spark(node.this)
    return raw(f"{func}({value}, CASE WHEN {value} IS NOT NULL THEN {key_sql} END)")


def _unit(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    text = (unit.name if unit is not None else "day").lower().rstrip("s")
    return {"us": "microsecond", "ms": "millisecond", "microsecond": "microsecond"}.get(text, text)


def _date_diff(node: exp.DateDiff) -> exp.Expression:
    """date_diff(part, a, b): DuckDB counts part boundaries crossed (epoch units truncated),
    Spark's DATEDIFF/timestampdiff counts whole elapsed units."""
    unit = _unit(node)
    if unit not in UNIT_US:
        raise TranspileError(f"date_diff('{unit}', ...) has no Spark form here",
                             hint="use microsecond, millisecond, second, minute, hour or day")
    start, end = spark(node.expression), spark(node.this)
    if unit == "microsecond":
        return raw(f"(UNIX_MICROS({end}) - UNIX_MICROS({start}))")
    step = UNIT_US[unit]
    return raw(f"((UNIX_MICROS({end}) DIV {step}) - (UNIX_MICROS({start}) DIV {step}))")


def _interval_us(node: exp.Expression) -> int | None:
    """Microseconds of a fixed interval literal (INTERVAL '5 minutes', INTERVAL 30 SECOND)."""
    if not isinstance(node, exp.Interval) or not isinstance(node.this, exp.Literal):
        return None
    text = node.this.name.strip()
    unit = node.args.get("unit")
    if unit is None:
        match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*([a-z]+?)s?", text, re.I)
        if not match:
            return None
        text, name = match.group(1), match.group(2).lower()
    else:
        name = unit.name.lower().rstrip("s")
    if name not in UNIT_US:
        return None
    try:
        return round(float(text) * UNIT_US[name])
    except ValueError:
        return None


def _seconds_text(micros: float) -> str:
    return f"{Decimal(int(micros)) / Decimal(1_000_000):f}"


def _interval(node: exp.Interval) -> exp.Expression | None:
    """Fixed intervals as Spark day-time intervals (DuckDB allows '1.5 minutes'; an expression
    as the count, INTERVAL (n) SECOND, becomes MAKE_DT_INTERVAL)."""
    if isinstance(node.parent, exp.DateBin) and node.arg_key == "this":
        return None  # time_bucket reads the width itself
    micros = _interval_us(node)
    if micros is not None:
        return raw(f"INTERVAL '{_seconds_text(micros)}' SECOND")
    if isinstance(node.this, exp.Literal):
        return None  # months and years: SQLGlot's form
    unit = _unit(node)
    if unit not in UNIT_US or unit in ("microsecond", "millisecond"):
        raise TranspileError(f"INTERVAL (expression) {unit} has no Spark form here",
                             hint="use SECOND, MINUTE, HOUR or DAY")
    count = spark(node.this)
    args = {"day": f"{count}, 0, 0, 0", "hour": f"0, {count}, 0, 0", "minute": f"0, 0, {count}, 0",
            "second": f"0, 0, 0, {count}"}[unit]
    return raw(f"MAKE_DT_INTERVAL({args})")


def _time_bucket(node: exp.DateBin) -> exp.Expression:
    """time_bucket(width, ts[, origin]) -> origin + floor((ts - origin) / width) * width in
    microseconds (DuckDB's default origin for fixed widths: 2000-01-03 UTC)."""
    width = _interval_us(node.this)
    if width is None or width <= 0:
        raise TranspileError("time_bucket needs a fixed width such as INTERVAL '5 minutes' on Spark",
                             hint="write the width in seconds, minutes, hours or days")
    ts = spark(node.expression)
    origin = node.args.get("unit") or node.args.get("origin")
    origin_sql = f"UNIX_MICROS({spark(origin)})" if origin is not None else str(BUCKET_ORIGIN_US)
    offset = f"(UNIX_MICROS({ts}) - {origin_sql})"
    return raw(f"TIMESTAMP_MICROS(UNIX_MICROS({ts}) - PMOD({offset}, {width}))")


_STRFTIME = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss",
             "%f": "SSSSSS", "%g": "SSS", "%y": "yy", "%j": "DDD", "%b": "MMM", "%B": "MMMM",
             "%a": "EEE", "%A": "EEEE", "%p": "a", "%I": "hh", "%z": "xx", "%Z": "zzz",
             "%%": "%"}


def strftime_to_java(fmt: str) -> str:
    """A DuckDB strftime format as a Spark datetime pattern, literal text quoted."""
    out, text = [], []
    i = 0
    while i < len(fmt):
        part = fmt[i:i + 2]
        if part in _STRFTIME and part != "%%":
            if text:
                out.append("'" + "".join(text).replace("'", "''") + "'")
                text = []
            out.append(_STRFTIME[part])
            i += 2
            continue
        if part.startswith("%") and part != "%%":
            raise TranspileError(f"strftime format {part!r} has no Spark form here",
                                 hint="use %Y %m %d %H %M %S %f and literal text")
        text.append("%" if part == "%%" else fmt[i])
        i += 2 if part == "%%" else 1
    if text:
        out.append("'" + "".join(text).replace("'", "''") + "'")
    return "".join(out)


def _strftime(node: exp.TimeToStr) -> exp.Expression:
    fmt = node.args.get("format")
    if not isinstance(fmt, exp.Literal):
        raise TranspileError("strftime with a computed format has no Spark form here",
                             hint="give the format as a string literal")
    pattern = strftime_to_java(fmt.name).replace("\\", "\\\\").replace("'", "\\'")
    return raw(f"DATE_FORMAT({spark(node.this)}, '{pattern}')")


def _duckdb_text(value_sql: str) -> str:
    """A value as DuckDB casts it to VARCHAR: timestamps (with time zone) end in '+00'."""
    return (f"CASE WHEN TYPEOF({value_sql}) = 'timestamp' THEN CONCAT(CAST({value_sql} AS STRING), "
            f"'+00') ELSE CAST({value_sql} AS STRING) END")


_JSON_TYPES = ("CASE WHEN {v} IS NULL THEN NULL WHEN IS_VARIANT_NULL({v}) THEN 'NULL' "
               "WHEN SCHEMA_OF_VARIANT({v}) LIKE 'ARRAY%' THEN 'ARRAY' "
               "WHEN SCHEMA_OF_VARIANT({v}) LIKE 'OBJECT%' THEN 'OBJECT' "
               "WHEN SCHEMA_OF_VARIANT({v}) = 'STRING' THEN 'VARCHAR' "
               "WHEN SCHEMA_OF_VARIANT({v}) = 'BOOLEAN' THEN 'BOOLEAN' "
               "WHEN SCHEMA_OF_VARIANT({v}) = 'BIGINT' THEN "
               "CASE WHEN CAST({v} AS BIGINT) >= 0 THEN 'UBIGINT' ELSE 'BIGINT' END "
               "WHEN SCHEMA_OF_VARIANT({v}) LIKE 'DECIMAL(%,0)' THEN 'UBIGINT' "
               "ELSE 'DOUBLE' END")


def _json_path(node: exp.Expression) -> str:
    if isinstance(node, exp.JSONPath):
        return spark(node)
    if isinstance(node, exp.Literal) and node.is_string:
        return spark(node)
    raise TranspileError("a JSON path that is not a literal has no Spark form here",
                         hint="write the path as a string such as '$.a.b'")


def _variant(node: exp.Expression, path: exp.Expression | None) -> str:
    doc = f"TRY_PARSE_JSON({spark(node)})"
    return f"VARIANT_GET({doc}, {_json_path(path)})" if path is not None else doc


def _json_type(node: exp.JSONType) -> exp.Expression:
    """json_type(x, path) through Spark's VARIANT: DuckDB's type names (UBIGINT for integers
    >= 0, VARCHAR for strings, NULL for a JSON null, SQL NULL for a missing path)."""
    return raw("(" + _JSON_TYPES.format(v=_variant(node.this, node.expression)) + ")")


def _json_text(node: exp.JSONExtract) -> exp.Expression:
    """json_extract(x, path)::VARCHAR: DuckDB gives the value's JSON text (strings quoted,
    null as 'null'); GET_JSON_OBJECT unquotes strings and returns NULL for a JSON null."""
    text = f"GET_JSON_OBJECT({spark(node.this)}, {_json_path(node.expression)})"
    value = _variant(node.this, node.expression)
    quoted = f"TO_JSON(ARRAY({text}))"  # '["..."]': the string as JSON, inside brackets
    return raw(f"(CASE WHEN {value} IS NULL THEN NULL WHEN IS_VARIANT_NULL({value}) THEN 'null' "
               f"WHEN SCHEMA_OF_VARIANT({value}) = 'STRING' "
               f"THEN SUBSTR({quoted}, 2, LENGTH({quoted}) - 2) ELSE {text} END)")


def _regex_flags(flags: exp.Expression | None) -> tuple[str, bool]:
    """(inline Java flags, global) from DuckDB's regex options ('i', 's', 'g', 'c', ...)."""
    if flags is None:
        return "", False
    if not isinstance(flags, exp.Literal):
        raise TranspileError("regex options that are not a literal have no Spark form here",
                             hint="write the options as a string such as 'i'")
    text = flags.name
    unknown = set(text) - set("igcs")
    if unknown:
        raise TranspileError(f"regex option(s) {''.join(sorted(unknown))!r} have no Spark form here",
                             hint="use i (case-insensitive), c, s or g")
    inline = "i" if "i" in text and text.rfind("i") > text.rfind("c") else ""
    inline += "s" if "s" in text else ""
    return (f"(?{inline})" if inline else ""), "g" in text


def _pattern(node: exp.Expression, inline: str) -> str:
    if not inline:
        return spark(node)
    if isinstance(node, exp.Literal):
        return spark(exp.Literal.string(inline + node.name))
    return f"CONCAT('{inline}', {spark(node)})"


def _replacement(node: exp.Expression | None) -> str:
    """RE2's \\1 back-references as Java's $1, and a literal $ escaped."""
    if node is None:
        return "''"
    if not isinstance(node, exp.Literal):
        raise TranspileError("a regexp_replace replacement that is not a literal has no Spark "
                             "form here", hint="write the replacement as a string")
    text = node.name.replace("$", "\\$")
    text = re.sub(r"\\(\d)", r"$\1", text)
    return spark(exp.Literal.string(text))


def _regexp(node: exp.Expression) -> exp.Expression | None:
    if isinstance(node, exp.RegexpLike):
        inline, _ = _regex_flags(node.args.get("flag"))
        return raw(f"({spark(node.this)} RLIKE {_pattern(node.expression, inline)})")
    if isinstance(node, exp.RegexpExtract):
        inline, _ = _regex_flags(node.args.get("parameters"))
        group = node.args.get("group")
        # DuckDB's default group is 0 (the whole match), Spark's is 1.
        return raw(f"REGEXP_EXTRACT({spark(node.this)}, {_pattern(node.expression, inline)}, "
                   f"{spark(group) if group is not None else '0'})")
    if isinstance(node, exp.RegexpReplace):
        flags = node.args.get("modifiers") or node.args.get("flags") or node.args.get("parameters")
        inline, every = _regex_flags(flags)
        if node.args.get("single_replace") is False:
            every = True
        value, pattern = spark(node.this), _pattern(node.expression, inline)
        replacement = _replacement(node.args.get("replacement"))
        if every:
            return raw(f"REGEXP_REPLACE({value}, {pattern}, {replacement})")
        # DuckDB without 'g' replaces the first match only: replace the first match found, and
        # put it between the text before it and after it.
        at = f"REGEXP_INSTR({value}, {pattern})"
        found = f"REGEXP_EXTRACT({value}, {pattern}, 0)"
        return raw(f"(CASE WHEN {at} = 0 THEN {value} ELSE CONCAT(SUBSTR({value}, 1, {at} - 1), "
                   f"REGEXP_REPLACE({found}, {pattern}, {replacement}), "
                   f"SUBSTR({value}, {at} + LENGTH({found}))) END)")
    return None


def _like(node: exp.Like | exp.ILike) -> exp.Expression | None:
    """DuckDB's LIKE has no escape character unless ESCAPE is given; Spark's is '\\'."""
    pattern = node.expression
    if isinstance(node.parent, exp.Escape) or not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return None
    if "\\" not in pattern.name:
        return None
    node.set("expression", exp.Literal.string(pattern.name.replace("\\", "\\\\")))
    return node


def _cast(node: exp.Cast, settings: dict[str, Any]) -> exp.Expression | None:
    target = node.to
    if isinstance(node.this, exp.Literal) and node.this.is_string and target.is_type(
            exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMP):
        if node.this.name.strip().lower() in INFINITY:
            return raw(f"TIMESTAMP '{INFINITY[node.this.name.strip().lower()]}'")
        return None
    if target.is_type(exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
        if isinstance(node.this, exp.JSONExtract):
            return _json_text(node.this)
        if not isinstance(node.this, exp.Literal):
            return raw(_duckdb_text(spark(node.this)))
    return None


def _dpipe(node: exp.DPipe) -> exp.Expression | None:
    """a || b: DuckDB casts a timestamp operand with its '+00'; NULL in, NULL out in both."""
    for side in ("this", "expression"):
        operand = node.args.get(side)
        if operand is None or isinstance(operand, exp.Literal | exp.DPipe | exp.Var | exp.Cast):
            continue
        node.set(side, raw(_duckdb_text(spark(operand))))
    return node


def _number(node: exp.Literal) -> exp.Expression | None:
    """DuckDB divides DECIMAL literals (60000.0) as DOUBLE; Spark keeps a DECIMAL of fixed
    scale (x / 60.0 rounded to 6 places): the literal becomes a DOUBLE."""
    if node.is_string or not re.fullmatch(r"\d+\.\d*|\.\d+", node.name):
        return None
    if isinstance(node.parent, exp.Interval | exp.Limit | exp.Offset):
        return None
    return raw(f"{node.name}D")


def _anonymous(node: exp.Anonymous, settings: dict[str, Any]) -> exp.Expression | None:
    name = node.name.lower()
    args = node.expressions
    if name == "current_setting" and len(args) == 1 and isinstance(args[0], exp.Literal):
        return literal(settings.get(args[0].name.lower()))
    if name in ("epoch_us", "epoch_ns") and len(args) == 1:
        scale = " * 1000" if name == "epoch_ns" else ""
        return raw(f"(UNIX_MICROS({spark(args[0])}){scale})")
    if name == "list_slice" and len(args) == 3:
        begin, end = args[1], args[2]
        if isinstance(begin, exp.Literal) and isinstance(end, exp.Literal) and int(begin.name) >= 1:
            length = int(end.name) - int(begin.name) + 1
            return raw(f"SLICE({spark(args[0])}, {int(begin.name)}, {max(length, 0)})")
        raise TranspileError("list_slice with computed or negative bounds has no Spark form here",
                             hint="give positive literal bounds")
    return None


def _epoch(node: exp.UnixToTime | exp.TimeToUnix) -> exp.Expression | None:
    """epoch(ts) (DOUBLE seconds) and epoch_ms(ts) (BIGINT ms), which SQLGlot reads as the
    number-to-time overloads. epoch_ms of a number literal stays the conversion to a time; of
    any other argument it is read as epoch_ms(TIMESTAMP) (docs/spark.md: a limit)."""
    if isinstance(node, exp.TimeToUnix):
        return raw(f"(UNIX_MICROS({spark(node.this)}) / 1000000.0D)")
    scale = node.args.get("scale")
    if isinstance(scale, exp.Literal) and scale.name == "3" and not isinstance(node.this, exp.Literal):
        return raw(f"UNIX_MILLIS({spark(node.this)})")
    return None


def rewrite(tree: exp.Expression, settings: dict[str, Any]) -> exp.Expression:
    """Children first (reversed pre-order), so a rewrite sees its arguments already rewritten."""
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    rules: list[tuple[type | tuple[type, ...], Callable[[Any], exp.Expression | None]]] = [
        (exp.ArrayAgg, _ordered_list),
        (exp.Bracket, _bracket),
        ((exp.ArgMax, exp.ArgMin), _arg_extreme),
        (exp.DateDiff, _date_diff),
        ((exp.UnixToTime, exp.TimeToUnix), _epoch),
        (exp.DateBin, _time_bucket),
        (exp.Interval, _interval),
        (exp.TimeToStr, _strftime),
        (exp.JSONType, _json_type),
        ((exp.RegexpLike, exp.RegexpExtract, exp.RegexpReplace), _regexp),
        ((exp.Like, exp.ILike), _like),
        (exp.Cast, lambda n: _cast(n, settings)),
        (exp.DPipe, _dpipe),
        (exp.Literal, _number),
        (exp.Anonymous, lambda n: _anonymous(n, settings)),
    ]
    nodes = list(tree.walk(bfs=False))
    for node in reversed(nodes):
        for kinds, fix in rules:
            if isinstance(node, kinds):
                new = fix(node)
                if new is not None and new is not node:
                    if node is tree:
                        tree = new
                    else:
                        node.replace(new)
                break
    return tree


# ---- statements ----------------------------------------------------------------------------

def _table_name(node: exp.Expression) -> str:
    table = node.find(exp.Table) if not isinstance(node, exp.Table) else node
    if table is None:
        raise TranspileError("a statement without a table name", hint="name the table")
    return table.name


def statements(sql: str, params: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None,
               settings: dict[str, Any] | None = None) -> list[Statement]:
    """The Spark form of each DuckDB statement in `sql`, parameters bound as literals."""
    settings = {**DUCKDB_ONLY_SETTINGS, **(settings or {})}
    if isinstance(params, list | tuple):
        sql = _number_placeholders(sql)
        named = {f"__p{i}": v for i, v in enumerate(params)}
    else:
        named = dict(params or {})
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except SqlglotError as exc:
        raise TranspileError(f"SQLGlot cannot read this DuckDB SQL: {str(exc).splitlines()[0]}",
                             hint="check the statement in DuckDB first") from exc
    out = []
    for tree in trees:
        tree = bind(tree, named)
        out.append(_statement(tree, settings))
    return out


def _statement(tree: exp.Expression, settings: dict[str, Any]) -> Statement:
    if isinstance(tree, exp.Set):
        item = tree.expressions[0] if tree.expressions else None
        eq = item.this if item is not None else None
        if isinstance(eq, exp.EQ):
            value = eq.expression
            python = value.this if isinstance(value, exp.Boolean) else value.name
            return Statement("set", name=eq.this.name.lower(), value=python)
        return Statement("skip")
    if isinstance(tree, exp.Pragma) or (isinstance(tree, exp.Command)
                                        and tree.name.upper() in ("PRAGMA", "LOAD", "INSTALL")):
        return Statement("skip")
    if isinstance(tree, exp.Drop):
        if (tree.args.get("kind") or "").upper() not in ("TABLE", "VIEW"):
            raise TranspileError(f"DROP {tree.args.get('kind')} has no Spark form here")
        return Statement("drop", name=_table_name(tree))
    if isinstance(tree, exp.Create):
        kind = (tree.args.get("kind") or "").upper()
        if kind in ("TABLE", "VIEW") and isinstance(tree.expression, exp.Query):
            query = rewrite(tree.expression, settings)
            return Statement("create", sql=spark(query), name=_table_name(tree.this))
        raise TranspileError(f"CREATE {kind} has no Spark form here",
                             hint="the Spark engine runs queries and CREATE TEMP TABLE ... AS")
    if isinstance(tree, exp.Query):
        return Statement("query", sql=spark(rewrite(tree, settings)))
    raise TranspileError(f"{type(tree).__name__} statements have no Spark form here",
                         hint="the Spark engine runs queries, CREATE TEMP TABLE ... AS, DROP and SET")

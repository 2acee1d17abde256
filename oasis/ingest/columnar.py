"""The columnar fast path: a block of NDJSON lines checked in one vectorised DuckDB query.

Most lines in a real file are well formed. This path takes a block of lines as one Arrow
string column, lets DuckDB's JSON reader pull out every field, and checks every rule of
`oasis.signals.parse` in SQL, producing store-ready columns without a Python object per
record. It is deliberately strict: a line it is not *sure* the per-record parser would
store the same way (any unusual shape, type, escape, number or zone) is not guessed at but
handed back, with its line number, to the per-record parser, which stores it or words the
rejection. So the fast path only decides speed, never outcome.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from oasis.signals.model import LEVEL_ALIASES, Signal
from oasis.signals.parse import (
    COUNTER_SUFFIXES,
    DEPLOYMENT_FIELDS,
    LOG_FIELDS,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_RECORD_BYTES,
    METRIC_FIELDS,
)
from oasis.signals.times import PLAUSIBLE_YEARS
from oasis.store.batch import TABLES, SignalBatch

_FIELDS = sorted(LOG_FIELDS | METRIC_FIELDS | DEPLOYMENT_FIELDS)
_SPEC = "{" + ",".join(f'"{f}":"JSON"' for f in _FIELDS) + "}"

# Where DuckDB's JSON reader is more lenient than orjson's, the line goes to the
# per-record parser, the reference: trailing commas and escaped lone surrogates (checked on
# the line), and NaN, Infinity, numbers out of range and deep nesting (checked on the
# attributes text that would be stored, which DuckDB keeps as written; anywhere else they
# fail the field's own check).
_TRAILING_COMMA = r",\s*[\]}]"
_SURROGATE = r"\\u[dD][89abAB]"
_ODD_NUMBER = r"(?i)[:,\[]-?(nan|inf)|[0-9]([0-9]{19}|[eE][+-]?[0-9]{3,})[,}\]]"
_DEPTH_LIMIT = 1000  # orjson refuses documents nested deeper than 1024

# A name the per-record parser keeps exactly as sent: printable ASCII without quote or
# backslash (so no escapes), not starting or ending with a blank, 1..MAX characters.
_NAME = r'^"[!#-\[\]-~]([ !#-\[\]-~]*[!#-\[\]-~])?"$'
_TIMESTAMP = (
    r'^"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    r'(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"$'
)
_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_INTEGER_ID = r"^(0|-?[1-9][0-9]{0,17})$"


def _string(field: str) -> str:
    """The JSON string in `field` unescaped (NULL when absent or null)."""
    return f"(r.{field} ->> '$')"


def _optional_ok(field: str) -> str:
    return f"(r.{field} IS NULL OR starts_with(r.{field}, '\"'))"


def _name_ok(field: str) -> str:
    # The length apart: a counted repetition makes a regex costly to compile, per query.
    return (f"(strlen(r.{field}) <= {MAX_NAME_LENGTH + 2} "
            f"AND regexp_matches(r.{field}, '{_NAME}'))")


def _name_value(field: str) -> str:
    return f"r.{field}[2:-2]"


def _sql_list(items: frozenset[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in sorted(items)) + "]"


_LEVEL_CASE = (
    "CASE upper(r.level[2:-2]) "
    + " ".join(f"WHEN '{alias}' THEN '{level.value}'" for alias, level in LEVEL_ALIASES.items())
    + " END"
)

# Known keys present with a non-null value, plus the others: when that is every key, no
# known one is repeated (where orjson keeps the last and DuckDB the first); the check for
# repeats is costly, so it runs only when the count says it might find one.
_PRESENT = "(" + " + ".join(f"(r.{f} IS NOT NULL)::INT" for f in _FIELDS) + " + len(extras))"

_COUNTER = " OR ".join(f"ends_with(r.name[2:-2], '{s}')" for s in COUNTER_SUFFIXES)

_QUERY = f"""
-- `fields` is materialised so that each line is parsed once, not once per field read;
-- `typed` is not: a second materialised copy of every line cost ~35 MB per 4 MiB block.
WITH src AS (
    SELECT line, j,
           starts_with(j, '{{') AND strlen(j) <= {MAX_RECORD_BYTES} AND json_valid(j)
           AND NOT regexp_matches(j, '{_TRAILING_COMMA}')
           AND NOT (contains(j, '\\u') AND regexp_matches(j, '{_SURROGATE}'))
           AS parseable
    FROM raw
), fields AS MATERIALIZED (
    SELECT line, j,
           CASE WHEN parseable THEN json_transform(j, '{_SPEC}') END AS r,
           CASE WHEN parseable THEN json_keys(j) END AS k
    FROM src
), typed AS (
    SELECT line, j, r, k,
           CASE r.type WHEN '"log"' THEN 'logs' WHEN '"metric"' THEN 'metrics'
                       WHEN '"deployment"' THEN 'deployments' END AS kind,
           {_LEVEL_CASE} AS level,
           CASE WHEN regexp_matches(r.timestamp, '{_TIMESTAMP}')
                THEN try_cast(r.timestamp[2:-2] AS TIMESTAMPTZ)::TIMESTAMP END AS ts
    FROM fields
), checked AS (
    SELECT *,
        list_filter(k, lambda x: NOT list_contains(CASE kind
            WHEN 'logs' THEN {_sql_list(LOG_FIELDS)}
            WHEN 'metrics' THEN {_sql_list(METRIC_FIELDS)}
            ELSE {_sql_list(DEPLOYMENT_FIELDS)} END, x)) AS extras,
        CASE WHEN r.attributes IS NULL OR r.attributes = '{{}}' THEN NULL
             ELSE r.attributes::VARCHAR END AS attrs,
        CASE WHEN kind = 'metrics' AND regexp_matches(r.value, '{_NUMBER}')
             THEN TRY_CAST(r.value AS DOUBLE) END AS number
    FROM typed
    WHERE r IS NOT NULL
), merged AS (
    -- Fields the kind does not define go into attributes, as written. A repeated one is
    -- written twice and read back last-wins, as orjson reads the line.
    SELECT * EXCLUDE (j),
        CASE WHEN len(extras) = 0 THEN attrs
             ELSE (CASE WHEN attrs IS NULL THEN '{{' ELSE left(attrs, length(attrs) - 1) || ','
                   END) || array_to_string(list_transform(
                       list_filter(list_zip(k, json_extract(j, '$.*')),
                                   lambda p: list_contains(extras, p[1])),
                       lambda p: to_json(p[1])::VARCHAR || ':' || p[2]::VARCHAR), ',') || '}}'
        END AS attributes_out
    FROM checked
)
SELECT line, kind,
    ts IS NOT NULL
    AND year(ts) BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]}
    AND TRY_CAST(r.timestamp[2:5] AS INTEGER) BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]}
    AND ($lo IS NULL OR ts >= $lo) AND ($hi IS NULL OR ts <= $hi)
    AND kind IS NOT NULL
    AND (attributes_out IS NULL OR (NOT regexp_matches(attributes_out, '{_ODD_NUMBER}')
         AND strlen(attributes_out) - strlen(replace(replace(attributes_out, '[', ''), '{{',
             '')) < {_DEPTH_LIMIT}))
    AND CASE WHEN len(k) = {_PRESENT} THEN true
             ELSE len(list_distinct(list_filter(k, lambda x: NOT list_contains(extras, x))))
                  = len(k) - len(extras) END
    AND (r.attributes IS NULL OR starts_with(r.attributes, '{{'))
    AND (len(extras) = 0 OR attrs IS NULL
         OR NOT list_has_any(extras, json_keys(attrs)))
    AND (r.id IS NULL
         OR (starts_with(r.id, '"') AND length({_string("id")}) BETWEEN 1 AND {MAX_ID_LENGTH})
         OR regexp_matches(r.id, '{_INTEGER_ID}'))
    AND {_name_ok("service")}
    AND CASE kind
        WHEN 'logs' THEN starts_with(r.message, '"') AND level IS NOT NULL
             AND regexp_matches(r.level, '^"[A-Za-z]{{1,11}}"$')
             AND {_optional_ok("error_type")} AND {_optional_ok("host")}
             AND {_optional_ok("trace_id")} AND {_optional_ok("span_id")}
        WHEN 'metrics' THEN {_name_ok("name")} AND isfinite(number)
             AND (number >= 0 OR NOT ({_COUNTER}))
             AND {_optional_ok("unit")} AND {_optional_ok("host")}
        ELSE {_name_ok("version")} AND {_optional_ok("previous_version")}
             AND {_optional_ok("author")} AND {_optional_ok("description")}
        END AS ok,
    CASE WHEN starts_with(r.id, '"') THEN {_string("id")}
         ELSE r.id::VARCHAR END AS id,
    ts, {_name_value("service")} AS service,
    level, {_string("message")} AS message,
    {_string("error_type")} AS error_type, {_string("host")} AS host,
    {_string("trace_id")} AS trace_id, {_string("span_id")} AS span_id,
    {_name_value("name")} AS name, number AS value, {_string("unit")} AS unit,
    {_name_value("version")} AS version, {_string("previous_version")} AS previous_version,
    {_string("author")} AS author, {_string("description")} AS description,
    attributes_out AS attributes
FROM merged
"""


@dataclass(frozen=True, slots=True)
class FastResult:
    """What the fast path stored-ready, and the lines it leaves to the per-record parser."""

    batch: SignalBatch
    #: Row order of the batch's tables, by kind: the line numbers (for id de-duplication
    #: in file order when the per-record parser adds rows to the same batch).
    lines: dict[str, pa.Array]
    slow: list[tuple[int, bytes]]


class ColumnarParser:
    """Checks blocks of NDJSON in DuckDB; one instance per thread (it owns a connection)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self._con = connection if connection is not None else duckdb.connect()
        # One thread per query: parallelism comes from several parsers, one per block.
        self._con.execute("SET threads = 1")
        self._con.execute("SET TimeZone = 'UTC'")

    def close(self) -> None:
        self._con.close()

    def parse(
        self,
        block: bytes,
        first_line: int,
        *,
        earliest: datetime | None = None,
        latest: datetime | None = None,
    ) -> FastResult:
        """Check the lines of `block` (whole lines, the first numbered `first_line`).

        `earliest` and `latest` (naive UTC) bound the accepted timestamps; lines outside
        them go to the per-record parser, which words why they are refused.
        """
        if not block.endswith(b"\n"):
            block += b"\n"
        lines, numbers = _split(block, first_line)
        bad_utf8 = _invalid_utf8_rows(block, lines)
        raw = pa.table({"line": numbers, "j": lines})
        if bad_utf8 is not None:
            raw = raw.filter(pc.invert(bad_utf8))
        self._con.register("raw", raw)
        try:
            result = self._con.sql(_QUERY, params={"lo": earliest, "hi": latest}).to_arrow_table()
        finally:
            self._con.unregister("raw")
        ok = pc.fill_null(result.column("ok"), False)
        fast = result.filter(ok)
        tables, order = {}, {}
        for kind, schema in TABLES.items():
            rows = fast.filter(pc.equal(fast.column("kind"), kind))
            if rows.num_rows:
                tables[kind] = pa.table(
                    [rows.column(n).cast(schema.field(n).type) for n in schema.names], schema=schema
                )
                order[kind] = rows.column("line").combine_chunks()
        return FastResult(SignalBatch(tables), order, _slow_lines(result, ok, lines, numbers))


def _split(block: bytes, first_line: int) -> tuple[pa.StringArray, pa.Array]:
    """The block's lines as one Arrow column over the block's own bytes (no copy)."""
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + 1
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    lines = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(block))
    numbers = pa.array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
    return lines, numbers


def _invalid_utf8_rows(block: bytes, lines: pa.Array) -> pa.Array | None:
    """A mask of lines that are not UTF-8 (None when the whole block is): DuckDB must not
    see them, and the per-record parser names them."""
    try:
        block.decode()
        return None
    except UnicodeDecodeError:
        pass
    mask = []
    for value in lines.cast(pa.large_binary()).to_pylist():
        try:
            value.decode()
            mask.append(False)
        except UnicodeDecodeError:
            mask.append(True)
    return pa.array(mask, pa.bool_())


def _slow_lines(
    result: pa.Table, ok: pa.Array, lines: pa.Array, numbers: pa.Array
) -> list[tuple[int, bytes]]:
    """Every line the fast path did not store, for the per-record parser, in file order."""
    if not len(numbers):
        return []
    first = numbers[0].as_py()
    stored = result.filter(ok).column("line").to_numpy() - first
    if len(stored) == len(numbers):
        return []
    left = np.ones(len(numbers), bool)
    left[stored] = False
    picked = np.flatnonzero(left)
    binary = lines.cast(pa.large_binary()).take(pa.array(picked))
    return list(zip((picked + first).tolist(), binary.to_pylist(), strict=True))


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Records from the per-record parser, each with its line number."""

    records: list[tuple[int, Signal]]

    def to_batch(self) -> SignalBatch:
        return SignalBatch.from_records([record for _, record in self.records])


def merge_in_line_order(fast: FastResult, slow: LineBatch) -> SignalBatch:
    """One batch from both paths, each table in line order, so that of two records with the
    same `id` the earlier line is kept, as when every line is parsed one by one."""
    if not slow.records:
        return fast.batch
    slow_batch = slow.to_batch()
    tables = dict(fast.batch.tables)
    for kind, table in slow_batch.tables.items():
        kind_type = _KIND_TYPES[kind]
        slow_lines = pa.array([n for n, r in slow.records if r.type == kind_type], pa.int64())
        if kind not in tables:
            tables[kind] = table
            continue
        combined = pa.concat_tables([tables[kind], table])
        lines = pa.concat_arrays([fast.lines[kind], slow_lines])
        tables[kind] = combined.take(pc.sort_indices(lines))
    return SignalBatch(tables)


_KIND_TYPES = {"logs": "log", "metrics": "metric", "deployments": "deployment"}
_local = threading.local()
_database_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None


def thread_parser() -> ColumnarParser:
    """This thread's parser: its own cursor on one in-memory DuckDB shared by the process."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        global _database
        with _database_lock:
            if _database is None:
                _database = duckdb.connect()
            cursor = _database.cursor()
        parser = _local.parser = ColumnarParser(cursor)
    return parser

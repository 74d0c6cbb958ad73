"""Rows in, Arrow out: strict column/type checks before anything touches a stored table.

A stored table only grows by the columns its hints name (a newer version of this package
recording more per row); any other new column is refused.

Delta Lake itself would cast a string column of digits into an integer column without a word, so
the store compares *kinds* (string, int, float, ...) itself and only then casts to the stored
types. A column whose values are all missing (Arrow type null) takes the stored type, or the
type hint of the table when the table is new; it never defines a table's schema by itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from storage.errors import SchemaMismatch

ROUND_COLUMN = "round"

_TEXT = pa.string()
# The calculations rows are CalcResult.to_record(): their null-able fields are typed up front.
CALCULATION_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(("key", "calculator", "version", "method", "status", "values"), _TEXT),
    **dict.fromkeys(("units", "reason", "failure_kind", "program_versions"), _TEXT),
    "wall_seconds": pa.float64(),
    "workdir": _TEXT,
    # where it ran (added in store format 1 without a migration: older rows read as null)
    **dict.fromkeys(("job_id", "node", "started_at", "failed_attempts"), _TEXT),
}
# The store's own per-round row (manifest, hashes, commit time).
ROUND_ROW_TYPES: dict[str, pa.DataType] = dict.fromkeys(
    ("committed_at", "spec_sha256", "content_sha256", "manifest", "rows"), _TEXT
)
# labels: the 1-sigma uncertainty of the first gap, where the calculator gives one (added in
# store format 1 without a migration: labels stored before read it as null)
LABEL_TYPES: dict[str, pa.DataType] = {"gap_1_std": pa.float64()}
TYPE_HINTS: dict[str, dict[str, pa.DataType]] = {
    "calculations": CALCULATION_TYPES,
    "labels": LABEL_TYPES,
    "rounds": ROUND_ROW_TYPES,
}
REQUIRED: dict[str, tuple[str, ...]] = {"calculations": ("key", "status")}


def type_kind(dtype: pa.DataType) -> str:
    """Coarse type family: storage-width differences (int32/int64, large_string) do not count."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or _is_view(dtype, "string"):
        return "string"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or _is_view(dtype, "binary"):
        return "binary"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_timestamp(dtype):
        return "timestamp" if dtype.tz is None else "timestamp with time zone"
    if (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    ):
        return f"list<{type_kind(dtype.value_type)}>"
    if pa.types.is_struct(dtype):
        inner = ", ".join(f"{f.name}: {type_kind(f.type)}" for f in dtype)
        return f"struct<{inner}>"
    return str(dtype)


def _is_view(dtype: pa.DataType, base: str) -> bool:
    return str(dtype) == f"{base}_view"


def fits(given: pa.DataType, stored: pa.DataType) -> bool:
    """True if values of `given` can be stored as `stored` without changing their meaning."""
    if pa.types.is_null(given):
        return True
    if type_kind(given).startswith("list<") and type_kind(stored).startswith("list<"):
        return fits(given.value_type, stored.value_type)
    return type_kind(given) == type_kind(stored)


def _has_null_type(dtype: pa.DataType) -> bool:
    if pa.types.is_null(dtype):
        return True
    if hasattr(dtype, "value_type"):
        return _has_null_type(dtype.value_type)
    if pa.types.is_struct(dtype):
        return any(_has_null_type(f.type) for f in dtype)
    return False


def to_arrow(table: str, frame: object) -> pa.Table:
    """Convert one table's new rows, naming the table and column of anything unconvertible."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"rows for table {table!r} must be a pandas DataFrame, not {type(frame)}")
    names = list(frame.columns)
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise SchemaMismatch(f"table {table!r}: column names must be strings, got {bad[:5]}")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise SchemaMismatch(f"table {table!r}: duplicate columns {dupes}")
    if ROUND_COLUMN in names:
        raise SchemaMismatch(f"table {table!r}: column {ROUND_COLUMN!r} is set by the store")
    try:
        data = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise SchemaMismatch(f"table {table!r}: {_unconvertible(frame)}: {exc}") from exc
    return data.replace_schema_metadata(None).combine_chunks()


def _unconvertible(frame: pd.DataFrame) -> str:
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return f"column {name!r} has values of mixed or unsupported types"
    return "rows cannot be converted"


def conform(table: str, data: pa.Table, stored: pa.Schema | None) -> pa.Table:
    """Check the rows against the stored schema (or the hints for a new table) and cast them."""
    if stored is None:
        return _first_schema(table, data)
    wanted = [f for f in stored if f.name != ROUND_COLUMN]
    hints = TYPE_HINTS.get(table, {})
    for f in wanted:  # optional product columns (hinted, not required) read as null when absent
        if (
            f.name not in data.column_names
            and f.name in hints
            and f.name not in REQUIRED.get(table, ())
        ):
            data = data.append_column(f.name, pa.nulls(data.num_rows, f.type))
    given = set(data.column_names)
    missing = [f.name for f in wanted if f.name not in given]
    if missing:
        kind = type_kind(stored.field(missing[0]).type)
        raise SchemaMismatch(
            f"table {table!r} is missing column {missing[0]!r} (stored type {kind})"
        )
    extra = sorted(given - {f.name for f in wanted})
    unknown = [name for name in extra if name not in hints]
    if unknown:
        raise SchemaMismatch(f"table {table!r} has column {unknown[0]!r}, not in the stored schema")
    # columns the product added to a table after it was created: appended, typed by their hint
    wanted += [pa.field(name, hints[name]) for name in extra]
    for f in wanted:
        have = data.schema.field(f.name).type
        if not fits(have, f.type):
            raise SchemaMismatch(
                f"table {table!r} column {f.name!r} has type {type_kind(have)}, "
                f"but the stored type is {type_kind(f.type)}"
            )
    return _cast(table, data.select([f.name for f in wanted]), pa.schema(wanted))


def _first_schema(table: str, data: pa.Table) -> pa.Table:
    """Schema of a new table: the rows' types, with nulls resolved by the table's hints."""
    for name in REQUIRED.get(table, ()):
        if name not in data.column_names:
            raise SchemaMismatch(f"table {table!r} needs column {name!r}")
    hints = TYPE_HINTS.get(table, {})
    fields = []
    for f in data.schema:
        hint = hints.get(f.name)
        if hint is not None and fits(f.type, hint):
            f = f.with_type(hint)
        elif hint is not None:
            raise SchemaMismatch(
                f"table {table!r} column {f.name!r} has type {type_kind(f.type)}, "
                f"expected {type_kind(hint)}"
            )
        if _has_null_type(f.type):
            raise SchemaMismatch(
                f"table {table!r} column {f.name!r} has no values to take a type from; "
                "give it a typed dtype (e.g. pd.Series(dtype='string')) in the first round"
            )
        fields.append(f)
    return _cast(table, data, pa.schema(fields))


def _cast(table: str, data: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for f in schema:
        try:
            columns.append(data.column(f.name).cast(f.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaMismatch(
                f"table {table!r} column {f.name!r} cannot be stored as {f.type}: {exc}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)


def with_round(data: pa.Table, round_no: int) -> pa.Table:
    """Tag every row with its round number (always the last column)."""
    return data.append_column(ROUND_COLUMN, pa.repeat(pa.scalar(round_no, pa.int64()), len(data)))


def empty_table(table: str) -> pa.Table:
    """Zero rows with the hinted columns: what a table reads as before its first rows."""
    fields = [pa.field(n, t) for n, t in TYPE_HINTS.get(table, {}).items()]
    return pa.schema([*fields, pa.field(ROUND_COLUMN, pa.int64())]).empty_table()


def content_digest(tables: Mapping[str, pa.Table], manifest_json: str) -> str:
    """sha256 over a round's input (Arrow IPC bytes per table, in name order) and manifest."""
    sha = hashlib.sha256()
    for name in sorted(tables):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, tables[name].schema) as writer:
            writer.write_table(tables[name])
        payload = sink.getvalue()
        sha.update(f"{name}\0{payload.size}\0".encode())
        sha.update(memoryview(payload))
    sha.update(manifest_json.encode())
    return sha.hexdigest()

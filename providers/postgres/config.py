"""Which tables the postgres.* actions may write, and their key columns: configuration, not params.

`PIVOT_POSTGRES_TABLES="orders:id,order_lines:order_id+line_no,crm.accounts:id"`: each entry a
table (optionally schema-qualified) and its primary key column(s) joined by `+`. A step naming any
other table, or a key that is not exactly the configured columns, is refused before any SQL is
composed. Names are plain lower-case SQL identifiers; with `psycopg.sql.Identifier` quoting them
on top, no value a model wrote ever becomes SQL text.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pivot.compensations.errors import ProviderRejected

TABLES_ENV = "PIVOT_POSTGRES_TABLES"
DSN_ENV = "PIVOT_POSTGRES_DSN"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
"""A lower-case SQL identifier (what an unquoted name folds to), at most 63 bytes as PostgreSQL allows."""
PIVOT_SCHEMA = "pivot"
"""Pivot's own tables (`steps`, `outbox`) live here; a step may never name them."""


class TablesConfigError(ValueError):
    """`PIVOT_POSTGRES_TABLES` cannot be read (the message says which entry and why)."""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    key: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


def _identifier(value: str, what: str, entry: str) -> str:
    if not IDENTIFIER.match(value):
        raise TablesConfigError(f"{TABLES_ENV}: {entry!r}: {what} {value!r} is not a lower-case SQL identifier")
    return value


def parse_tables(text: str) -> dict[str, Table]:
    """label → Table, from `PIVOT_POSTGRES_TABLES`' text."""
    tables: dict[str, Table] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, columns = entry.partition(":")
        if not sep or not columns.strip():
            raise TablesConfigError(f"{TABLES_ENV}: {entry!r} names no key column (table:column, or "
                                    "table:col1+col2)")
        schema, _, table = name.strip().rpartition(".")
        table_obj = Table(schema=_identifier(schema or "public", "schema", entry),
                          name=_identifier(table, "table", entry),
                          key=tuple(_identifier(c.strip(), "key column", entry) for c in columns.split("+")))
        if table_obj.schema == PIVOT_SCHEMA:
            raise TablesConfigError(f"{TABLES_ENV}: {entry!r}: the {PIVOT_SCHEMA} schema is Pivot's own")
        if len(set(table_obj.key)) != len(table_obj.key):
            raise TablesConfigError(f"{TABLES_ENV}: {entry!r} repeats a key column")
        tables[table_obj.label] = table_obj
    return tables


def configured_tables(environ: Mapping[str, str] | None = None) -> dict[str, Table]:
    env = os.environ if environ is None else environ
    return parse_tables(env.get(TABLES_ENV, ""))


def table_of(name: str, environ: Mapping[str, str] | None = None) -> Table:
    """The configured table a step names, or a refusal (a business error: retrying cannot help)."""
    try:
        tables = configured_tables(environ)
    except TablesConfigError as broken:
        raise ProviderRejected("tables_misconfigured", str(broken)) from None
    found = tables.get(name)
    if found is None:
        known = ", ".join(sorted(tables)) or f"none ({TABLES_ENV} is not set)"
        raise ProviderRejected("table_not_configured", f"PostgreSQL: table {name!r} is not one a saga may write; "
                               f"the configured tables are {known}", {"table": name, "configured": sorted(tables)})
    return found


def checked_columns(table: Table, columns: Mapping[str, object], what: str) -> list[str]:
    """The column names of `columns`, each a plain identifier; key columns are never written as values."""
    names = list(columns)
    for column in names:
        if not IDENTIFIER.match(column):
            raise ProviderRejected("invalid_identifier", f"PostgreSQL: {what} column {column!r} is not a lower-case "
                                   "SQL identifier", {"column": column})
    return names


def checked_key(table: Table, key: Mapping[str, object]) -> dict[str, object]:
    """The step's key values, exactly the table's configured key columns."""
    if set(key) != set(table.key):
        raise ProviderRejected("invalid_key", f"PostgreSQL: the key of {table.label} is "
                               f"{'+'.join(table.key)}; the step gave {'+'.join(key) or 'nothing'}",
                               {"expected": list(table.key), "given": list(key)})
    return {column: key[column] for column in table.key}

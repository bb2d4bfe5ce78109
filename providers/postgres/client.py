"""The connection the postgres.* actions write through, and what its failures mean to the engine.

One connection per step call (no pool to outlive a restarted server), read from `PIVOT_POSTGRES_DSN`
at request time, never stored. `lock_timeout` and `statement_timeout` bound a write that another
session blocks, so it fails as retryable instead of hanging a journaled step. Failures:
- the connection, a lock or serialization (`OperationalError`, SQLSTATE classes 08, 40, 55P03,
  57014): `ProviderUnavailable`, retried with the same key; `ambiguous`, since a connection lost
  after COMMIT was sent may have committed — the next attempt looks the step's row up first;
- a unique violation: the caller decides (the step's own key row: another attempt won);
- anything else the database refuses (a type, a constraint, an unknown column): `ProviderRejected`
  with the SQLSTATE, terminal.
The DSN carries a password: it is never part of a message (psycopg's messages name host and port).
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.postgres.config import DSN_ENV, PIVOT_SCHEMA, Table

LOCK_TIMEOUT_MS = 5_000
STATEMENT_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_S = 5

Conn = psycopg.AsyncConnection[dict[str, Any]]


def failure(error: psycopg.Error) -> Exception:
    """The engine's kind of failure for a database error."""
    lines = str(error).strip().splitlines()
    primary = error.diag.message_primary or (lines[0] if lines else type(error).__name__)
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return ProviderUnavailable(f"PostgreSQL: {primary}", ambiguous=True)
    state = error.sqlstate or "error"
    return ProviderRejected(f"postgres_{state}", f"PostgreSQL refused the write: {primary}",
                            {"sqlstate": state, **({"detail": error.diag.message_detail}
                                                   if error.diag.message_detail else {})})


class PostgresClient:
    """A database the actions write to: `PIVOT_POSTGRES_DSN` (the local stack's by default)."""

    def __init__(self, dsn_env: str = DSN_ENV):
        self.dsn_env = dsn_env

    def dsn(self) -> str:
        dsn = os.environ.get(self.dsn_env, "")
        if not dsn:
            raise ProviderRejected("postgres_not_configured", f"PostgreSQL: {self.dsn_env} is not set")
        return dsn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Conn]:
        """A connection (autocommit: each transaction is an explicit `conn.transaction()`), its
        errors translated; closed on the way out."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn(), autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S,
                options=f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}")
        except psycopg.Error as error:
            raise failure(error) from None
        try:
            yield conn
        except psycopg.errors.UniqueViolation:
            raise
        except psycopg.Error as error:
            raise failure(error) from None
        finally:
            with suppress(psycopg.Error):
                await conn.close()


def table_sql(table: Table) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.name))


def pivot_table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(PIVOT_SCHEMA), sql.Identifier(name))


def where_key(key: dict[str, object]) -> sql.Composed:
    return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(column)) for column in key)


async def row_image(conn: Conn, table: Table, key: dict[str, object], *, lock: bool = False) -> dict[str, Any] | None:
    """The row with this key as JSON (`to_jsonb`: every column, JSON-safe), or None."""
    query = sql.SQL("SELECT to_jsonb(t) AS image FROM {} AS t WHERE {}{}").format(
        table_sql(table), where_key(key), sql.SQL(" FOR UPDATE") if lock else sql.SQL(""))
    row = await (await conn.execute(query, list(key.values()))).fetchone()
    return None if row is None else dict(row["image"])

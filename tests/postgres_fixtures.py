"""The test stack's PostgreSQL, as the tests see it: the tables the postgres.* actions write (made
once per session), a direct connection for checking what the database holds (the steps table, the
outbox, the rows), and another session's writes (the concurrent writer)."""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from pivot.services.local.stack import Stack

TABLES = """
CREATE TABLE IF NOT EXISTS pg_customers (id integer PRIMARY KEY, name text NOT NULL, tier text);
CREATE TABLE IF NOT EXISTS pg_orders (
    id text PRIMARY KEY,
    customer_id integer REFERENCES pg_customers (id) DEFERRABLE INITIALLY DEFERRED,
    status text NOT NULL DEFAULT 'new',
    total numeric(12, 2),
    placed_on date,
    note text
);
CREATE TABLE IF NOT EXISTS pg_lines (order_id text, line_no integer, sku text, PRIMARY KEY (order_id, line_no));
"""
"""`pg_orders.customer_id` is checked at COMMIT (deferred): an order for a missing customer fails the
transaction after the row, the key row and the outbox event were written — the atomicity test."""


class Database:
    """A direct connection to the stack's database (autocommit), for setting up and for evidence."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.conn: psycopg.Connection[dict[str, Any]] = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)

    def rows(self, query: str, *params: object) -> list[dict[str, Any]]:
        return self.conn.execute(query, params or None).fetchall()  # type: ignore[arg-type]

    def one(self, query: str, *params: object) -> dict[str, Any] | None:
        return self.conn.execute(query, params or None).fetchone()  # type: ignore[arg-type]

    def execute(self, query: str, *params: object) -> None:
        self.conn.execute(query, params or None)  # type: ignore[arg-type]

    def steps(self, key: str) -> list[dict[str, Any]]:
        """The key row of `key` and the undo row that names it (if any)."""
        return self.rows("SELECT * FROM pivot.steps WHERE key = %s OR undoes = %s ORDER BY created_at", key, key)

    def outbox(self, *keys: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM pivot.outbox WHERE step_key = ANY(%s) ORDER BY id", list(keys))

    def order(self, order_id: str) -> dict[str, Any] | None:
        return self.one("SELECT to_jsonb(o) AS row FROM pg_orders o WHERE id = %s", order_id)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def database(stack: Stack) -> Iterator[Database]:
    db = Database(stack.postgres.dsn)
    db.execute(TABLES)
    db.execute("INSERT INTO pg_customers (id, name, tier) VALUES (1, 'Ada', 'gold'), (2, 'Grace', 'silver') "
               "ON CONFLICT DO NOTHING")
    yield db
    db.close()

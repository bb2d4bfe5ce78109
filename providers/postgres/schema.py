"""Pivot's own tables in a PostgreSQL database: `pivot.steps` (each step's key, row key, before- and
after-image) and `pivot.outbox` (the events written with the records). `pivot setup postgres`
creates them (idempotent, `--dry-run` says what it would do); the local stack does at start."""

from dataclasses import dataclass

import psycopg

from pivot.providers.postgres.config import PIVOT_SCHEMA

STEPS = "steps"
OUTBOX = "outbox"

STATEMENTS: dict[str, str] = {
    f"schema {PIVOT_SCHEMA}": f"CREATE SCHEMA IF NOT EXISTS {PIVOT_SCHEMA}",
    f"table {PIVOT_SCHEMA}.{STEPS}": f"""
        CREATE TABLE IF NOT EXISTS {PIVOT_SCHEMA}.{STEPS} (
            key          text PRIMARY KEY,
            action       text NOT NULL,
            table_name   text NOT NULL,
            row_key      jsonb NOT NULL,
            columns      text[] NOT NULL DEFAULT '{{}}',
            before_image jsonb,
            after_image  jsonb,
            undoes       text UNIQUE,
            outbox_id    bigint,
            created_at   timestamptz NOT NULL DEFAULT now()
        )""",
    f"table {PIVOT_SCHEMA}.{OUTBOX}": f"""
        CREATE TABLE IF NOT EXISTS {PIVOT_SCHEMA}.{OUTBOX} (
            id         bigserial PRIMARY KEY,
            step_key   text NOT NULL,
            topic      text NOT NULL,
            payload    jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
    f"index {PIVOT_SCHEMA}.{OUTBOX}_step_key":
        f"CREATE INDEX IF NOT EXISTS {OUTBOX}_step_key ON {PIVOT_SCHEMA}.{OUTBOX} (step_key)",
}
"""What setup creates, by the name it says; each statement is idempotent."""


@dataclass(frozen=True)
class Present:
    what: str
    exists: bool


def relation(conn: psycopg.Connection[tuple[object, ...]], schema: str, name: str) -> int | None:
    """The table's (or index's) oid, from the catalog: no privilege on its schema is needed to see it."""
    row = conn.execute("SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = %s AND c.relname = %s", (schema, name)).fetchone()
    return None if row is None else int(str(row[0]))


def present(conn: psycopg.Connection[tuple[object, ...]]) -> list[Present]:
    """Which of setup's objects exist."""
    found = []
    for what in STATEMENTS:
        kind, name = what.split(" ", 1)
        if kind == "schema":
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is not None
        else:
            exists = relation(conn, *name.split(".", 1)) is not None
        found.append(Present(what, exists))
    return found


def ensure_schema(dsn: str, *, dry_run: bool = False) -> list[tuple[str, str]]:
    """(object, "exists" | "created" | "would create") for each of Pivot's objects."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = {p.what: p.exists for p in present(conn)}
        done = []
        for what, statement in STATEMENTS.items():
            if before[what]:
                done.append((what, "exists"))
            elif dry_run:
                done.append((what, "would create"))
            else:
                conn.execute(statement)  # constant text, no input in it
                done.append((what, "created"))
        return done

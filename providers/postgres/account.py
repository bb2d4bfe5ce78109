"""`pivot doctor` and `pivot setup` for a PostgreSQL database, through the DSN the sagas use.

Doctor: the database answers (`reachable`); Pivot's own tables exist (`key carriers`: the steps
table is where a step's key lives); the role may read and write them and every configured table,
each of which exists with exactly the configured key columns as its primary key (`permissions`).
Setup creates the `pivot` schema and its two tables, idempotently (`--dry-run` says what it would
do). Messages name `PIVOT_POSTGRES_DSN`, never its value.
"""

import asyncio
from typing import Any

import psycopg

from pivot.compensations.errors import ProviderRejected
from pivot.providers.account_kit import Check, SetupStep
from pivot.providers.postgres.client import PostgresClient
from pivot.providers.postgres.config import PIVOT_SCHEMA, TABLES_ENV, TablesConfigError, configured_tables
from pivot.providers.postgres.schema import OUTBOX, STEPS, ensure_schema, present, relation

PROVIDER = "postgres"
WRITE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


class PostgresAccount:
    provider = PROVIDER

    def __init__(self, client: PostgresClient):
        self.client = client

    def _check(self, name: Any, ok: bool, detail: str, fix: str = "") -> Check:
        return Check(provider=PROVIDER, name=name, ok=ok, detail=detail, fix=fix)

    async def checks(self) -> list[Check]:
        return await asyncio.to_thread(self._checks)

    def _checks(self) -> list[Check]:
        try:
            dsn = self.client.dsn()
        except ProviderRejected as unset:
            return [self._check("credentials", False, unset.info.message,
                                f"export {self.client.dsn_env} (`pivot env` prints the local stack's)")]
        try:
            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
        except psycopg.Error as error:
            return [self._check("reachable", False, f"cannot connect with {self.client.dsn_env}: "
                                f"{str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}",
                                "check the host, port, role and password in the DSN")]
        with conn:
            version = conn.execute("SHOW server_version").fetchone()
            role = conn.execute("SELECT current_user").fetchone()
            found = [self._check("reachable", True, f"PostgreSQL {version[0] if version else '?'} answers as role "
                                 f"{role[0] if role else '?'} ({self.client.dsn_env})")]
            missing = [p.what for p in present(conn) if not p.exists]
            found.append(self._check("key carriers", not missing,
                                     f"missing: {', '.join(missing)}" if missing else
                                     f"{PIVOT_SCHEMA}.{STEPS} and {PIVOT_SCHEMA}.{OUTBOX} exist",
                                     "run `pivot setup postgres`"))
            found += self._permissions(conn, missing_pivot=bool(missing))
        return found

    def _permissions(self, conn: psycopg.Connection[tuple[Any, ...]], *, missing_pivot: bool) -> list[Check]:
        problems: list[str] = []
        if not missing_pivot:
            for own in (STEPS, OUTBOX):
                if not self._granted(conn, relation(conn, PIVOT_SCHEMA, own), "SELECT, INSERT"):
                    problems.append(f"no SELECT, INSERT on {PIVOT_SCHEMA}.{own}")
        try:
            tables = configured_tables()
        except TablesConfigError as broken:
            return [self._check("permissions", False, str(broken), f"fix {TABLES_ENV}")]
        for label, table in tables.items():
            oid = relation(conn, table.schema, table.name)
            if oid is None:
                problems.append(f"table {label} does not exist")
                continue
            if not self._granted(conn, oid, WRITE_PRIVILEGES):
                problems.append(f"no {WRITE_PRIVILEGES} on {table.schema}.{table.name}")
            key = conn.execute(
                "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary",
                (oid,)).fetchone()
            primary = sorted(key[0]) if key and key[0] else []
            if primary != sorted(table.key):
                problems.append(f"{label}'s primary key is {'+'.join(primary) or 'missing'}, "
                                f"{TABLES_ENV} says {'+'.join(table.key)}")
        detail = "; ".join(problems) if problems else (
            f"read and write on {PIVOT_SCHEMA}'s tables and {len(tables)} configured table(s)"
            + ("" if tables else f" ({TABLES_ENV} names none: no step can write yet)"))
        return [self._check("permissions", not problems, detail,
                            f"GRANT {WRITE_PRIVILEGES} to the role, or fix {TABLES_ENV}")]

    @staticmethod
    def _granted(conn: psycopg.Connection[tuple[Any, ...]], oid: int | None, privileges: str) -> bool:
        """The role holds `privileges` on the table, and USAGE on its schema (without which the grant
        is unusable)."""
        if oid is None:
            return False
        row = conn.execute("SELECT has_table_privilege(c.oid, %s) AND has_schema_privilege(c.relnamespace, 'USAGE') "
                           "FROM pg_class c WHERE c.oid = %s", (privileges, oid)).fetchone()
        return bool(row and row[0])

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        dsn = self.client.dsn()
        try:
            done = await asyncio.to_thread(ensure_schema, dsn, dry_run=dry_run)
        except psycopg.Error as error:
            raise ProviderRejected("postgres_setup_failed", f"PostgreSQL: {error.diag.message_primary or error}")\
                from None
        return [SetupStep(provider=PROVIDER, what=what, state=state) for what, state in done]  # type: ignore[arg-type]

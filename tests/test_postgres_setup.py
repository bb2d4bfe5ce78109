"""`pivot setup postgres` and `pivot doctor postgres` against a fresh database on the test stack's
PostgreSQL: doctor names what is missing (Pivot's tables, a configured table, its key, a grant),
setup creates Pivot's tables once (a dry run changes nothing), and the DSN's password is never printed."""

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pivot.services.cli import main
from pivot.services.local.stack import Stack


@pytest.fixture
def fresh_database(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty database; PIVOT_POSTGRES_DSN points at it."""
    name = f"setup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.postgres.admin_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = stack.postgres.admin_dsn(name)
    monkeypatch.setenv("PIVOT_POSTGRES_DSN", dsn)
    monkeypatch.setenv("PIVOT_POSTGRES_TABLES", "invoices:id")
    yield dsn
    with psycopg.connect(stack.postgres.admin_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def problems(report: dict[str, object]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}  # type: ignore[attr-defined]


def test_setup_creates_pivots_tables_once_and_doctor_follows(
        stack: Stack, fresh_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run(capsys, "doctor", "postgres")
    assert code == 1
    found = problems(report)
    assert set(found) == {"key carriers", "permissions"}, found
    assert "table pivot.steps" in found["key carriers"] and "table invoices does not exist" in found["permissions"]

    assert run(capsys, "setup", "postgres", "--dry-run")[0] == 0
    code, report = run(capsys, "doctor", "postgres")
    assert "key carriers" in problems(report)  # the dry run created nothing

    code, done = run(capsys, "setup", "postgres")
    assert code == 0
    assert {s["state"] for s in done["steps"]} == {"created"}, done  # type: ignore[union-attr,index]
    code, again = run(capsys, "setup", "postgres")
    assert {s["state"] for s in again["steps"]} == {"exists"}, again  # type: ignore[union-attr,index]

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (number text PRIMARY KEY)")
    code, report = run(capsys, "doctor", "postgres")
    assert problems(report) == {"permissions": "invoices's primary key is number, PIVOT_POSTGRES_TABLES says id"}
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("DROP TABLE invoices; CREATE TABLE invoices (id text PRIMARY KEY, total integer)")
    code, report = run(capsys, "doctor", "postgres")
    assert code == 0 and report["ok"], report
    assert stack.postgres.password not in json.dumps(report)


def test_doctor_names_a_role_without_grants(fresh_database: str, stack: Stack, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    role, password = f"agent_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id text PRIMARY KEY)")
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    assert run(capsys, "setup", "postgres")[0] == 0
    monkeypatch.setenv("PIVOT_POSTGRES_DSN", fresh_database.replace(f"pivot:{stack.postgres.password}@",
                                                                    f"{role}:{password}@"))
    code, report = run(capsys, "doctor", "postgres")
    assert code == 1
    assert problems(report)["permissions"] == ("no SELECT, INSERT on pivot.steps; no SELECT, INSERT on pivot.outbox; "
                                               "no SELECT, INSERT, UPDATE, DELETE on public.invoices")
    assert password not in json.dumps(report)

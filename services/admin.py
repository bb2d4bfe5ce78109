"""Restate's admin API, as operators use it: SQL introspection and invocation control."""

import json
from typing import Any

import httpx

DEFAULT_ADMIN = "http://127.0.0.1:9070"


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class AdminClient:
    def __init__(self, admin_url: str = DEFAULT_ADMIN, *, timeout_s: float = 30.0):
        self._http = httpx.Client(base_url=admin_url.rstrip("/"), timeout=timeout_s)

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def query(self, sql: str) -> list[dict[str, Any]]:
        response = self._http.post("/query", json={"query": sql}, headers={"accept": "application/json"})
        response.raise_for_status()
        rows = response.json().get("rows", [])
        return rows if isinstance(rows, list) else []

    def saga_invocation(self, run_id: str) -> dict[str, Any] | None:
        """The `SagaRun.run` invocation of a run id (there is at most one per workflow key)."""
        rows = self.query(
            "SELECT * FROM sys_invocation WHERE target_service_name = 'SagaRun' "
            f"AND target_service_key = {sql_literal(run_id)} AND target_handler_name = 'run'"
        )
        return rows[0] if rows else None

    def journal(self, invocation_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT index, entry_type, name, entry_json, entry_lite_json, appended_at FROM sys_journal "
            f"WHERE id = {sql_literal(invocation_id)} ORDER BY index"
        )

    def saga_outcomes(self) -> list[dict[str, Any]]:
        """Every saga's last published outcome (one row per run id): a plan's workflow state, or an
        open saga's record (a superset of the outcome, under the same key)."""
        return self.query(
            "SELECT service_name, service_key, value_utf8 FROM state "
            "WHERE service_name IN ('SagaRun', 'Saga') AND key = 'outcome'"
        )

    def open_saga_record(self, run_id: str) -> dict[str, Any] | None:
        """An open saga's record as its engine publishes it, with the invocation of each gated step."""
        rows = self.query("SELECT value_utf8 FROM state WHERE service_name = 'Saga' "
                          f"AND service_key = {sql_literal(run_id)} AND key = 'outcome'")
        if not rows:
            return None
        record = json.loads(str(rows[0]["value_utf8"]))
        return record if isinstance(record, dict) else None

    def open_saga_invocations(self, run_id: str) -> list[dict[str, Any]]:
        """Every invocation of an open saga, oldest first: its engine's, each call's and each gated step's."""
        record = self.open_saga_record(run_id) or {}
        ids = [s["invocation"] for s in record.get("steps", []) if s.get("invocation")]
        ids += [record["finisher"]] if record.get("finisher") else []
        where = f"(target_service_name = 'Saga' AND target_service_key = {sql_literal(run_id)})"
        if ids:
            where += f" OR id IN ({', '.join(sql_literal(i) for i in ids)})"
        return self.query(f"SELECT * FROM sys_invocation WHERE {where} ORDER BY created_at")

    def cancel(self, invocation_id: str) -> None:
        """Cancel: the saga unwinds its compensations (unlike kill, which runs nothing)."""
        self._http.patch(f"/invocations/{invocation_id}/cancel").raise_for_status()

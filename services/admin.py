"""Restate's admin API, as operators use it: SQL introspection and invocation control."""

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
        """Every saga's last published outcome, from the workflow state (one row per run id)."""
        return self.query(
            "SELECT service_key, value_utf8 FROM state WHERE service_name = 'SagaRun' AND key = 'outcome'"
        )

    def cancel(self, invocation_id: str) -> None:
        """Cancel: the saga unwinds its compensations (unlike kill, which runs nothing)."""
        self._http.patch(f"/invocations/{invocation_id}/cancel").raise_for_status()

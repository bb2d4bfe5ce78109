"""postgres.insert_record, postgres.update_record, postgres.delete_record: compensable, all three.

One transaction per write: the record's change, a row in `pivot.steps` keyed by the step's key
(the table, the row's key, its before- and after-image as `to_jsonb` renders them, the columns
written) and, when the step asks for one, a `pivot.outbox` event — all or nothing. So:
- `lookup` is a select of the step's key row: it finds a write that committed, whatever became of
  the answer, and nothing of one that did not (a lost answer is never resolved by writing again);
- a second attempt racing the first collides on the key row's primary key (`AlreadyWritten`);
- the read-back selects the row and compares it with the after-image the step's own transaction
  returned (and with the values asked);
- the undo, keyed by the compensation key (a key row with `undoes` = the forward key, unique), locks
  the row and restores the before-image only while the row still holds the step's after-image
  (insert: the whole row; update: the columns it wrote; delete: no row has the key again), else
  `CompensationConflict` (needs_attention, the other writer's change kept); it writes its own
  outbox event (topic + ".undone") in the same transaction; a second delivery finds the undo row
  and does nothing.
"""

import json
import uuid
from abc import abstractmethod
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import Action, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import AlreadyWritten, KeyCarrier, KeyedAction, Mismatch
from pivot.providers.postgres.client import Conn, PostgresClient, pivot_table, row_image, table_sql, where_key
from pivot.providers.postgres.config import Table, checked_columns, checked_key, configured_tables, table_of
from pivot.providers.postgres.schema import OUTBOX, STEPS

Scalar = str | int | float | bool | None
Found = dict[str, Any]
"""{"step": the key row, "current": the record now (or None), "event": its outbox event (or None),
"undone": whether an undo row exists for it}."""

CONFORMANCE_TABLE = "pivot_conformance"
"""The table `pivot conformance` writes to (created by its example when missing; it must be
configured in PIVOT_POSTGRES_TABLES as `pivot_conformance:id`, like any table a saga writes)."""


class OutboxEvent(BaseModel):
    """An outbox event, committed with the write."""

    model_config = ConfigDict(extra="forbid", strict=True)
    topic: str = Field(pattern=r"^[\w.:/-]{1,200}$")
    payload: dict[str, Any]


class RecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    table: str = Field(max_length=127, description="A table named in PIVOT_POSTGRES_TABLES")
    key: dict[str, Scalar] = Field(min_length=1, max_length=8, description="Primary key column → value")
    outbox: OutboxEvent | None = None


class WriteParams(RecordParams):
    values: dict[str, Scalar] = Field(min_length=1, max_length=100, description="Column → value")


def _key_text(key: dict[str, Any]) -> str:
    return "/".join(str(value) for value in key.values())


async def returned_image(conn: Conn, query: sql.Composed, params: list[Any]) -> dict[str, Any]:
    """The row a `… RETURNING to_jsonb(t) AS image` statement wrote."""
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return dict(row["image"])


async def existing_row(conn: Conn, table: Table, row_key: dict[str, object]) -> dict[str, Any]:
    """The row to change, locked until the transaction ends; refused when there is none."""
    before = await row_image(conn, table, row_key, lock=True)
    if before is None:
        raise ProviderRejected("record_not_found", f"PostgreSQL: {table.label} has no row with key "
                               f"{_key_text(row_key)}", {"table": table.label, "key": row_key})
    return before


class RecordAction(KeyedAction[RecordParams, Found]):
    """What the three actions share: the key row, the outbox, lookup, read-back and the undo's frame."""

    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    idempotency = "transaction"
    carrier: ClassVar[KeyCarrier] = KeyCarrier.stored(
        "pivot.steps.key", "a pivot.steps row keyed by the step key, committed in the write's own transaction")
    atomicity: ClassVar[str] = ("one transaction: the record, its key row (with before- and after-image) and "
                                "the outbox event")
    verb: ClassVar[str]
    """`inserted`, `updated`, `deleted`: for sentences."""

    def __init__(self, client: PostgresClient):
        self.client = client

    # -- what the step names ------------------------------------------------------------------
    def _target(self, params: RecordParams) -> tuple[Table, dict[str, object]]:
        table = table_of(params.table)
        return table, checked_key(table, params.key)

    def _columns(self, table: Table, params: RecordParams) -> list[str]:
        if not isinstance(params, WriteParams):
            return []
        columns = checked_columns(table, params.values, "a value's")
        in_key = sorted(set(columns) & set(table.key))
        if in_key:
            raise ProviderRejected("invalid_values", f"PostgreSQL: {', '.join(in_key)} is the key of {table.label}: "
                                   "give it in `key`, never in `values`", {"columns": in_key})
        return columns

    # -- lookup ---------------------------------------------------------------------------------
    async def lookup(self, params: RecordParams, key: str) -> Found | None:
        table, row_key = self._target(params)
        async with self.client.connect() as conn:
            return await self._found(conn, table, row_key, key)

    async def _found(self, conn: Conn, table: Table, row_key: dict[str, object], key: str) -> Found | None:
        step = await (await conn.execute(
            sql.SQL("SELECT s.*, u.key AS undone_by FROM {steps} s LEFT JOIN {steps} u ON u.undoes = s.key "
                    "WHERE s.key = %s").format(steps=pivot_table(STEPS)), [key])).fetchone()
        if step is None:
            return None
        event = None
        if step["outbox_id"] is not None:
            event = await (await conn.execute(
                sql.SQL("SELECT id, topic, payload FROM {} WHERE id = %s").format(pivot_table(OUTBOX)),
                [step["outbox_id"]])).fetchone()
        return {"step": {k: v for k, v in step.items() if k not in {"created_at", "undone_by"}},
                "current": await row_image(conn, table, row_key), "event": event,
                "undone": step["undone_by"] is not None}

    async def find_all(self, params: RecordParams, key: str) -> list[Found]:
        """One entry per outbox event carrying the key when the step writes one (the effect other
        systems see: two would be a double write), else the key row (its primary key allows one)."""
        found = await self.lookup(params, key)
        if found is None or params.outbox is None:
            return [] if found is None else [found]
        async with self.client.connect() as conn:
            rows = await (await conn.execute(
                sql.SQL("SELECT id FROM {} WHERE step_key = %s").format(pivot_table(OUTBOX)), [key])).fetchall()
        return [found for _ in rows]

    # -- the write ------------------------------------------------------------------------------
    @abstractmethod
    async def apply(self, conn: Conn, table: Table, row_key: dict[str, object], columns: list[str],
                    params: RecordParams) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Make the change inside the transaction; return (before-image, after-image)."""

    async def write(self, params: RecordParams, key: str) -> Found:
        table, row_key = self._target(params)
        columns = self._columns(table, params)
        async with self.client.connect() as conn:
            try:
                async with conn.transaction():
                    before, after = await self.apply(conn, table, row_key, columns, params)
                    event = await self._outbox(conn, key, params.outbox.topic, params.outbox.payload) \
                        if params.outbox else None
                    await self._key_row(conn, key, table, row_key, columns, before, after, event, undoes=None)
            except psycopg.errors.UniqueViolation as clash:
                if clash.diag.table_name == STEPS:
                    raise AlreadyWritten(f"{self.name}: another attempt of this step wrote it") from None
                raise AlreadyWritten(f"PostgreSQL: {table.label} already has a row with key {_key_text(row_key)}",
                                     code="record_exists", detail={"table": table.label, "key": row_key}) from None
            found = await self._found(conn, table, row_key, key)
        if found is None:  # committed a moment ago, in this connection's own transaction
            raise ProviderRejected("readback_mismatch", f"{self.name}: the step's key row is gone after the write")
        return found

    async def _outbox(self, conn: Conn, key: str, topic: str, payload: Any) -> dict[str, Any]:
        row = await (await conn.execute(
            sql.SQL("INSERT INTO {} (step_key, topic, payload) VALUES (%s, %s, %s) RETURNING id, topic, payload")
            .format(pivot_table(OUTBOX)), [key, topic, Jsonb(payload)])).fetchone()
        assert row is not None
        return dict(row)

    async def _key_row(self, conn: Conn, key: str, table: Table, row_key: dict[str, object], columns: list[str],
                       before: Any, after: Any, event: dict[str, Any] | None, *, undoes: str | None) -> None:
        await conn.execute(
            sql.SQL("INSERT INTO {} (key, action, table_name, row_key, columns, before_image, after_image, undoes, "
                    "outbox_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)").format(pivot_table(STEPS)),
            [key, self.name, table.label, Jsonb(row_key), columns, None if before is None else Jsonb(before),
             None if after is None else Jsonb(after), undoes, None if event is None else event["id"]])

    # -- the read-back -------------------------------------------------------------------------
    async def read_back(self, params: RecordParams, key: str, written: Found) -> Found | None:
        """The step's key row and the record again, and which asked values the record does not hold,
        compared by the database itself (`col IS NOT DISTINCT FROM $n`: each value typed as its
        column, so '2026-01-02' equals a date and '10.50' a numeric)."""
        table, row_key = self._target(params)
        async with self.client.connect() as conn:
            found = await self._found(conn, table, row_key, key)
            if found is None or found["current"] is None or not isinstance(params, WriteParams):
                return found
            columns = self._columns(table, params)
            row = await (await conn.execute(
                sql.SQL("SELECT ARRAY[{checks}]::boolean[] AS holds FROM {table} AS t WHERE {where}").format(
                    checks=sql.SQL(", ").join(sql.SQL("t.{} IS NOT DISTINCT FROM %s").format(sql.Identifier(c))
                                              for c in columns),
                    table=table_sql(table), where=where_key(row_key)),
                [*(params.values[c] for c in columns), *row_key.values()])).fetchone()
        holds = row["holds"] if row else [False] * len(columns)
        found["differs"] = [c for c, ok in zip(columns, holds, strict=True) if not ok]
        return found

    def verify(self, params: RecordParams, fresh: Found) -> JsonDict:
        step, current = fresh["step"], fresh["current"]
        label, row_key = step["table_name"], step["row_key"]
        after = step["after_image"]
        if after is None:
            if current is not None:
                raise Mismatch(f"{label} {_key_text(row_key)} is there again after the delete",
                               expected=None, actual=current)
        else:
            columns = list(after) if self.name.endswith("insert_record") else step["columns"]
            written = {c: after.get(c) for c in columns}
            now = None if current is None else {c: current.get(c) for c in columns}
            if now != written:
                raise Mismatch(f"{label} {_key_text(row_key)} does not hold what the step wrote",
                               expected=written, actual=now)
            asked = params.values if isinstance(params, WriteParams) else {}
            wrong = {c: asked[c] for c in fresh.get("differs", [])}
            if wrong:
                raise Mismatch(f"{label} {_key_text(row_key)} holds other values than asked",
                               expected=wrong, actual={c: written.get(c) for c in wrong})
        event = fresh["event"]
        return {"ref": f"postgres:{label}/{_key_text(row_key)}", "table": label, "key": row_key,
                "row": current, "outbox_id": None if event is None else event["id"]}

    def describe(self, result: JsonDict) -> str:
        event = f" with outbox event {result['outbox_id']}" if result.get("outbox_id") else ""
        return f"PostgreSQL row {result['table']} {_key_text(result['key'])} {self.verb}{event}"

    # -- the undo -------------------------------------------------------------------------------
    def is_undone(self, found: Found) -> bool:
        return bool(found["undone"])

    def already_undone(self, found: Found) -> str:
        return f"{self.name}: already undone ({found['step']['table_name']} {_key_text(found['step']['row_key'])})"

    @abstractmethod
    async def restore(self, conn: Conn, table: Table, row_key: dict[str, object], step: dict[str, Any],
                      current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        """Inside the undo's transaction, with the row locked: restore the before-image if the row
        still holds the step's after-image (else raise `CompensationConflict`); return the row after
        the undo and what was done, in words."""

    async def undo(self, params: RecordParams, found: Found, result: JsonDict | None, key: str) -> str:
        step = found["step"]
        table = table_of(step["table_name"])
        row_key = checked_key(table, step["row_key"])
        async with self.client.connect() as conn:
            try:
                async with conn.transaction():
                    current = await row_image(conn, table, row_key, lock=True)
                    restored, done = await self.restore(conn, table, row_key, step, current)
                    source = found["event"]
                    event = await self._outbox(conn, key, f"{source['topic']}.undone",
                                               {"undoes": source["payload"], "step_key": step["key"]}) \
                        if source else None
                    await self._key_row(conn, key, table, row_key, step["columns"], current, restored, event,
                                        undoes=step["key"])
            except psycopg.errors.UniqueViolation:  # a concurrent delivery of this undo committed first
                return self.already_undone(found)
        return done

    def _conflict(self, table: Table, row_key: dict[str, object], expected: Any, current: Any) -> CompensationConflict:
        what = "was deleted" if current is None else "was changed"
        return CompensationConflict(
            f"PostgreSQL row {table.label} {_key_text(row_key)} {what} by someone else since the step wrote it; "
            "it was not restored", expected=expected, current=current)

    # -- for pivot conformance ------------------------------------------------------------------
    async def _conformance_table(self) -> Table:
        async with self.client.connect() as conn:
            await conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, note text, "
                                       "amount integer)").format(sql.Identifier(CONFORMANCE_TABLE)))
        if CONFORMANCE_TABLE not in configured_tables():
            raise ProviderRejected("table_not_configured", f"conformance writes to {CONFORMANCE_TABLE}: add "
                                   f"{CONFORMANCE_TABLE}:id to PIVOT_POSTGRES_TABLES")
        return table_of(CONFORMANCE_TABLE)

    async def _seed_row(self, table: Table, row_id: str) -> None:
        async with self.client.connect() as conn:
            await conn.execute(sql.SQL("INSERT INTO {} (id, note, amount) VALUES (%s, %s, %s)").format(
                table_sql(table)), [row_id, "seeded by conformance", 1])

    async def tamper(self, params: RecordParams, found: Found) -> None:
        """Another session changes the row (or, after a delete, creates it again)."""
        table, row_key = self._target(params)
        async with self.client.connect() as conn:
            if found["current"] is None:
                await conn.execute(sql.SQL("INSERT INTO {} (id, note) VALUES (%s, %s)").format(table_sql(table)),
                                   [row_key["id"], "made again by someone else"])
            else:
                await conn.execute(sql.SQL("UPDATE {} SET note = %s WHERE {}").format(
                    table_sql(table), where_key(row_key)), ["changed by someone else", *row_key.values()])


class InsertRecord(RecordAction):
    name: ClassVar[str] = "postgres.insert_record"
    params = WriteParams
    verb: ClassVar[str] = "inserted"
    readback: ClassVar[str] = ("select the step's pivot.steps row and the record: the row equals the after-image "
                               "the step's transaction returned, and the values asked")
    compensation: ClassVar[str] = "delete the row if it is still as inserted (else needs_attention); <topic>.undone"
    not_run: ClassVar[str] = "No database row was inserted."

    async def apply(self, conn: Conn, table: Table, row_key: dict[str, object], columns: list[str],
                    params: RecordParams) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        assert isinstance(params, WriteParams)
        names = [*row_key, *columns]
        return None, await returned_image(conn, sql.SQL(
            "INSERT INTO {table} AS t ({names}) VALUES ({values}) RETURNING to_jsonb(t) AS image").format(
                table=table_sql(table), names=sql.SQL(", ").join(map(sql.Identifier, names)),
                values=sql.SQL(", ").join(sql.Placeholder() * len(names))),
            [*row_key.values(), *(params.values[c] for c in columns)])

    async def restore(self, conn: Conn, table: Table, row_key: dict[str, object], step: dict[str, Any],
                      current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        if current != step["after_image"]:
            raise self._conflict(table, row_key, step["after_image"], current)
        await conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(table_sql(table), where_key(row_key)),
                           list(row_key.values()))
        return None, f"PostgreSQL row {table.label} {_key_text(row_key)} deleted (it was inserted by the step)"

    async def example(self) -> WriteParams:
        table = await self._conformance_table()
        row_id = f"conf-{uuid.uuid4().hex[:12]}"
        return WriteParams(table=table.label, key={"id": row_id}, values={"note": "inserted by conformance",
                                                                         "amount": 12},
                           outbox=OutboxEvent(topic="conformance.inserted", payload={"id": row_id}))


class UpdateRecord(RecordAction):
    name: ClassVar[str] = "postgres.update_record"
    params = WriteParams
    verb: ClassVar[str] = "updated"
    readback: ClassVar[str] = ("select the step's pivot.steps row and the record: the columns written equal the "
                               "after-image the step's transaction returned, and the values asked")
    compensation: ClassVar[str] = ("restore the columns written if they still hold what it wrote (else "
                                   "needs_attention); <topic>.undone")
    not_run: ClassVar[str] = "No database row was updated."

    async def apply(self, conn: Conn, table: Table, row_key: dict[str, object], columns: list[str],
                    params: RecordParams) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        assert isinstance(params, WriteParams)
        before = await existing_row(conn, table, row_key)
        return before, await returned_image(conn, sql.SQL(
            "UPDATE {table} AS t SET {sets} WHERE {where} RETURNING to_jsonb(t) AS image").format(
                table=table_sql(table), where=where_key(row_key),
                sets=sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)),
            [*(params.values[c] for c in columns), *row_key.values()])

    async def restore(self, conn: Conn, table: Table, row_key: dict[str, object], step: dict[str, Any],
                      current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        columns: list[str] = step["columns"]
        wrote = {c: step["after_image"].get(c) for c in columns}
        holds = None if current is None else {c: current.get(c) for c in columns}
        if holds != wrote:
            raise self._conflict(table, row_key, wrote, holds)
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        restored = await returned_image(conn, sql.SQL(
            "UPDATE {table} AS t SET ({names}) = (SELECT {names} FROM jsonb_populate_record(NULL::{table}, %s)) "
            "WHERE {where} RETURNING to_jsonb(t) AS image").format(
                table=table_sql(table), names=names, where=where_key(row_key)),
            [Jsonb(step["before_image"]), *row_key.values()])
        before = {c: step["before_image"].get(c) for c in columns}
        return restored, (f"PostgreSQL row {table.label} {_key_text(row_key)} restored: "
                                    f"{json.dumps(before, default=str)}")

    async def example(self) -> WriteParams:
        table = await self._conformance_table()
        row_id = f"conf-{uuid.uuid4().hex[:12]}"
        await self._seed_row(table, row_id)
        return WriteParams(table=table.label, key={"id": row_id}, values={"note": "updated by conformance",
                                                                         "amount": 34},
                           outbox=OutboxEvent(topic="conformance.updated", payload={"id": row_id}))


class DeleteRecord(RecordAction):
    name: ClassVar[str] = "postgres.delete_record"
    params = RecordParams
    verb: ClassVar[str] = "deleted"
    readback: ClassVar[str] = "select the step's pivot.steps row and the record: no row has the key"
    compensation: ClassVar[str] = "insert the row again if none has its key (else needs_attention); <topic>.undone"
    not_run: ClassVar[str] = "No database row was deleted."

    async def apply(self, conn: Conn, table: Table, row_key: dict[str, object], columns: list[str],
                    params: RecordParams) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        before = await existing_row(conn, table, row_key)
        await conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(table_sql(table), where_key(row_key)),
                           list(row_key.values()))
        return before, None

    async def restore(self, conn: Conn, table: Table, row_key: dict[str, object], step: dict[str, Any],
                      current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        if current is not None:
            raise self._conflict(table, row_key, None, current)
        restored = await returned_image(conn, sql.SQL(
            "INSERT INTO {table} AS t SELECT * FROM jsonb_populate_record(NULL::{table}, %s) "
            "RETURNING to_jsonb(t) AS image").format(table=table_sql(table)), [Jsonb(step["before_image"])])
        return restored, f"PostgreSQL row {table.label} {_key_text(row_key)} inserted again as it was"

    async def example(self) -> RecordParams:
        table = await self._conformance_table()
        row_id = f"conf-{uuid.uuid4().hex[:12]}"
        await self._seed_row(table, row_id)
        return RecordParams(table=table.label, key={"id": row_id},
                            outbox=OutboxEvent(topic="conformance.deleted", payload={"id": row_id}))


def postgres_actions(client: PostgresClient) -> list[Action]:
    return [InsertRecord(client).action(), UpdateRecord(client).action(), DeleteRecord(client).action()]

"""A catalog plugin used only by the test stack (PIVOT_CATALOG_PLUGINS).

`testkit.unsafe_contact` creates a real HubSpot contact in the sandbox, then returns a result
full of values JSON cannot hold (datetime, Decimal, a pydantic model, a set). Restate serializes
a `ctx.run` result *after* the action ran; if that failed, the write would run again on every
retry. The ledger proves it runs once.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from pivot.compensations.actions import Action, CompensationReport
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind
from pivot.providers.http import Endpoint
from pivot.providers.hubspot.client import HUBSPOT_API, HubSpotClient


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str


class Echo(BaseModel):
    email: str
    at: datetime


def actions() -> list[Action]:
    client = HubSpotClient(Endpoint.from_env("hubspot", HUBSPOT_API, "HUBSPOT_TOKEN", "HubSpot"))

    async def forward(params: Params, keys: StepKeys) -> dict[str, Any]:
        found = await client.get_object("contacts", keys.forward, id_property="pivot_key", properties=["email"])
        contact = found or await client.create_object("contacts", {"email": params.email, "pivot_key": keys.forward})
        now = datetime.now(UTC)
        return {"ref": f"hubspot:contact/{contact['id']}", "id": contact["id"], "at": now,
                "amount": Decimal("12.30"), "echo": Echo(email=params.email, at=now), "tags": {"a"}}

    async def compensate(params: Params, keys: StepKeys, result: dict[str, Any] | None) -> CompensationReport:
        found = await client.get_object("contacts", keys.forward, id_property="pivot_key", properties=["email"])
        if found is None:
            return CompensationReport(state="nothing_to_undo", detail="no contact")
        await client.archive_object("contacts", str(found["id"]))
        return CompensationReport(state="compensated", detail=f"contact {found['id']} archived")

    return [Action(name="testkit.unsafe_contact", kind=StepKind.COMPENSABLE, params=Params, forward=forward,
                   compensate=compensate, key_carrier="pivot_key property", readback="none (test action)",
                   describe=lambda r: f"test contact {r['id']} created", not_run="no test contact")]

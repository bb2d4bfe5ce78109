"""A user's own Restate handler (library mode) that gates a step on the approvers it is asked for:
served by its own process next to Pivot's service, with the service's environment (so its catalog
knows the configured approvers, as Pivot's own does)."""

from typing import Any

import restate
from pydantic import BaseModel

from pivot import Saga, SagaEnded, build_catalog, identity_keys
from pivot.services.handlers.approvals import InboxGate

catalog = build_catalog()
gated = restate.Service("GatedOnboarding")


class Request(BaseModel):
    run_id: str
    email: str
    approvers: list[str]


@gated.handler()
async def onboard(ctx: restate.Context, request: Request) -> dict[str, Any]:
    try:
        async with Saga(ctx, request.run_id, catalog, gate=InboxGate(catalog)) as saga:
            await saga.step("contact", "hubspot.create_contact", {"email": request.email},
                            approval={"approvers": request.approvers, "timeout": "PT1H", "reason": "library gate"})
    except SagaEnded as ended:
        return ended.outcome.model_dump(mode="json", exclude_none=True)
    return saga.outcome.model_dump(mode="json", exclude_none=True)


app = restate.app(services=[gated], identity_keys=identity_keys())

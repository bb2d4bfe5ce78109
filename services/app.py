"""The ASGI app that hypercorn serves: `hypercorn -w 0 services.app:app`.

Request signing: when PIVOT_IDENTITY_KEYS holds Restate public keys ("publickeyv1_…",
comma-separated), the SDK answers 401 to any request not signed by that Restate server.
"""

import os

import restate
from restate.server_types import RestateAppT

from services.catalog import build_catalog
from services.handlers.alerts import webhook_alert
from services.handlers.approvals import InboxGate, approval, approvals_service, inbox
from services.handlers.repair import saga_repair_object
from services.handlers.saga_run import saga_run_workflow
from services.logs import configure_logging


def create_app() -> RestateAppT:
    configure_logging()
    keys = [k.strip() for k in os.environ.get("PIVOT_IDENTITY_KEYS", "").split(",") if k.strip()]
    catalog = build_catalog()
    workflow = saga_run_workflow(catalog, InboxGate(), webhook_alert())
    services: list[restate.Service | restate.VirtualObject | restate.Workflow] = [
        workflow, approval, inbox, approvals_service, saga_repair_object(catalog),
    ]
    return restate.app(services=services, identity_keys=keys or None)


app = create_app()

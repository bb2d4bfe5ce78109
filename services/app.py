"""The ASGI app that hypercorn serves: `hypercorn -w 0 pivot.services.app:app`.

Request signing: when PIVOT_IDENTITY_KEYS holds Restate public keys ("publickeyv1_…",
comma-separated), the SDK answers 401 to any request not signed by that Restate server.
"""

import os

import restate
from restate.server_types import RestateAppT

from pivot.compensations.actions import Catalog
from pivot.compensations.ids import check_approval_id, check_run_id
from pivot.services.catalog import build_catalog, configured_approvers
from pivot.services.handlers.alerts import webhook_alert
from pivot.services.handlers.approval_notices import notices
from pivot.services.handlers.approvals import InboxGate, approval, approvals_service, inbox
from pivot.services.handlers.ingress_guard import guard_services
from pivot.services.handlers.names import SAGA, SAGA_RUN
from pivot.services.handlers.open_saga import open_saga_workflow
from pivot.services.handlers.repair import SAGA_REPAIR, saga_repair_object
from pivot.services.handlers.saga_run import saga_run_workflow
from pivot.services.handlers.saga_step import saga_step_service
from pivot.services.logs import configure_logging

Handlers = list[restate.Service | restate.VirtualObject | restate.Workflow]


KEY_CHECKS = {SAGA_RUN: check_run_id, SAGA: check_run_id, SAGA_REPAIR: check_run_id, approval.name: check_approval_id}
"""Which id alphabet each keyed service's key must be in (the inboxes are private: Pivot keys them)."""


def pivot_services(catalog: Catalog) -> Handlers:
    """Every Restate service Pivot serves: plans, open sagas (the engine and its gated steps), approvals, repair."""
    gate, alert = InboxGate(catalog), webhook_alert()
    return [
        saga_run_workflow(catalog, gate, alert),
        open_saga_workflow(catalog, gate, alert), saga_step_service(catalog, gate),
        approval, inbox, approvals_service, notices, saga_repair_object(catalog),
    ]


def identity_keys() -> list[str] | None:
    return [k.strip() for k in os.environ.get("PIVOT_IDENTITY_KEYS", "").split(",") if k.strip()] or None


def app_services(extra: Handlers | None = None) -> Handlers:
    """What the app serves: Pivot's services and `extra`, every handler behind the ingress guard
    (extra services too: they share the ingress)."""
    # The service decides gates: with PIVOT_APPROVERS unset nobody can, so every gate is refused.
    catalog = build_catalog(approvers=configured_approvers() or frozenset())
    services = [*pivot_services(catalog), *(extra or [])]
    guard_services(services, KEY_CHECKS)
    return services


def create_app(extra: Handlers | None = None) -> RestateAppT:
    configure_logging()
    return restate.app(services=app_services(extra), identity_keys=identity_keys())


app = create_app()

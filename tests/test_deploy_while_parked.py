"""A new version of the service is deployed while a saga is parked on approval: the parked
saga finishes on the deployment it started on; new sagas go to the new one."""

import uuid

import httpx

from pivot.services.client import PivotClient
from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.stack import Stack
from tests.test_approvals import decide, park


def _pinned(stack: Stack, run_id: str) -> str:
    query = ("SELECT pinned_deployment_id FROM sys_invocation WHERE target_service_name = 'SagaRun' "
             f"AND target_service_key = '{run_id}' AND target_handler_name = 'run'")
    rows = httpx.post(f"{stack.admin_url}/query", json={"query": query},
                      headers={"accept": "application/json"}, timeout=10).json()["rows"]
    return str(rows[0]["pinned_deployment_id"]) if rows else ""


def test_parked_saga_finishes_on_its_deployment_and_new_ones_use_the_new(stack: Stack, pivot: PivotClient) -> None:
    old_run, approval = park(pivot)
    wait_until(lambda: bool(_pinned(stack, old_run)), timeout_s=30, what="the parked saga's deployment")
    old_deployment = _pinned(stack, old_run)

    port = free_port()
    v2 = ManagedProcess("pivot-service-v2", [*stack.service.argv[:-1], f"127.0.0.1:{port}"],
                        env=stack.service.env, cwd=stack.service.cwd, log_path=stack.log_dir / "service-v2.log")
    v2.start()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/discover", timeout=1).status_code in {401, 415},
                   timeout_s=30, what="the new service version")
        registered = httpx.post(f"{stack.admin_url}/deployments",
                                json={"uri": f"http://127.0.0.1:{port}", "force": True}, timeout=30)
        assert registered.status_code in {200, 201}, registered.text
        new_deployment = registered.json()["id"]
        assert new_deployment != old_deployment

        new_run = f"deploy-{uuid.uuid4().hex[:10]}"
        from pivot.services.local.demo import flagship_plan

        assert pivot.run(new_run, flagship_plan(f"{new_run}@example.com"))["status"] == "committed"
        assert _pinned(stack, new_run) == new_deployment

        decide(pivot, approval)
        assert pivot.attach(old_run)["status"] == "committed"
        assert _pinned(stack, old_run) == old_deployment
    finally:
        # Later tests register the original endpoint again and stop using this one.
        stack.register()
        v2.stop()

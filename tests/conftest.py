"""One real stack per pytest session: restate-server (fresh data dir, free loopback ports),
the provider sandboxes and the Pivot service under hypercorn -w 0. Each stopped by its pid."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.services.client import PivotClient
from pivot.services.conformance.tcp_proxy import TcpFaultProxy
from pivot.services.local.approver_tokens import LOCAL_APPROVER_NAMES, write_approver_tokens
from pivot.services.local.postgres import EmbeddedPostgres
from pivot.services.local.stack import Ports, Stack
from tests.alerts import AlertInbox
from tests.sandbox.process import running_sandbox
from tests.sandboxes import Sandboxes

# A short client timeout lets commit-then-timeout faults (hang_s > this) resolve quickly.
SERVICE_HTTP_TIMEOUT_S = "2"


# An undo that keeps failing gives up after this long (production default: days).
COMPENSATION_BUDGET_S = "3"


@pytest.fixture(scope="session")
def alerts() -> Iterator[AlertInbox]:
    with AlertInbox() as inbox:
        yield inbox


# A second Stripe account, as a named connection ("stripe.eu"): its own sandbox, its own secret.
EU_STRIPE_KEY = "sk_test_pivot_eu_connection_9f3c1d"


@pytest.fixture(scope="session")
def eu_stripe() -> Iterator[str]:
    """The sandbox behind the `eu` connection of Stripe (another account: another ledger)."""
    with running_sandbox("stripe", credentials=[EU_STRIPE_KEY]) as sandbox:
        yield sandbox.url


# The tables the postgres.* actions may write in the test stack's database (tests/postgres_fixtures.py makes them).
POSTGRES_TABLES = "pg_customers:id,pg_orders:id,pg_lines:order_id+line_no,pivot_conformance:id,orders:id"

# A browser origin the test stack trusts (PIVOT_ALLOWED_ORIGINS): every other one is refused.
ALLOWED_ORIGIN = "http://agent-console.test:8443"

# The test stack's approvers: random per session, like `pivot dev`'s (the secrets test scans for them).
APPROVER_TOKENS = {name: secrets.token_urlsafe(24) for name in LOCAL_APPROVER_NAMES}


@pytest.fixture(scope="session")
def stack_ports() -> Ports:
    return Ports.free()


@pytest.fixture(scope="session")
def postgres_proxy(stack_ports: Ports) -> Iterator[TcpFaultProxy]:
    """The service reaches the test stack's PostgreSQL through this TCP fault proxy (the crash tests
    hold a statement, or a COMMIT's answer, with it); it forwards untouched until a test adds a rule."""
    with TcpFaultProxy("127.0.0.1", stack_ports.postgres) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, alerts: AlertInbox, eu_stripe: str,
          stack_ports: Ports, postgres_proxy: TcpFaultProxy) -> Iterator[Stack]:
    base: Path = tmp_path_factory.mktemp("stack")
    write_approver_tokens(base / "approvers", APPROVER_TOKENS)
    connections = base / "connections.toml"
    connections.write_text(f'[stripe.eu]\nbase_url = "{eu_stripe}"\ncredential = "{EU_STRIPE_KEY}"\n')
    database = EmbeddedPostgres(home=base / "postgres", port=stack_ports.postgres, log_path=base / "unused.log")
    with Stack(
        ports=stack_ports,
        data_dir=base / "restate-data",
        log_dir=base / "logs",
        service_env={
            "PIVOT_HTTP_TIMEOUT_S": SERVICE_HTTP_TIMEOUT_S,
            "PIVOT_COMPENSATION_BUDGET_S": COMPENSATION_BUDGET_S,
            "PIVOT_ALERT_WEBHOOK_URL": alerts.url,
            "PIVOT_CATALOG_PLUGINS": "tests.catalog_plugin:actions",
            "PIVOT_CONNECTIONS_FILE": str(connections),
            "PIVOT_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
            "PIVOT_POSTGRES_TABLES": POSTGRES_TABLES,
            "PIVOT_POSTGRES_DSN": database.dsn_at(postgres_proxy.port),
        },
        scratch_database=True,
    ) as running:
        yield running


@pytest.fixture
def pivot(stack: Stack) -> Iterator[PivotClient]:
    with PivotClient(stack.ingress_url, admin_url=stack.admin_url, timeout_s=120) as client:
        yield client


@pytest.fixture
def sandboxes(stack: Stack) -> Iterator[Sandboxes]:
    boxes = Sandboxes(stack.sandbox_urls)
    boxes.clear_faults()
    yield boxes
    boxes.clear_faults()


@pytest.fixture
def open_saga(pivot: PivotClient) -> Iterator[str]:
    """An open saga with no step yet (aborted afterwards): one a command or an MCP server proves it
    reached the stack's ingress by finding."""
    run_id = f"opened-{secrets.token_hex(5)}"
    pivot.open(run_id)
    yield run_id
    pivot.abort(run_id)

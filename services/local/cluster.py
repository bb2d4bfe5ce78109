"""A 3-node Restate cluster on loopback, from the same pinned binary (tests and local trials).

Each node has its own data dir and ports; node 1 alone auto-provisions the cluster; metadata
and the log are replicated, with replication 2, so any one node may die (SIGKILL) and every
saga still finishes on the other two. Clients resend to a surviving node's ingress.
"""

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import ensure_restate

CLUSTER_TOML = """\
cluster-name = "pivotcluster"
roles = ["http-ingress", "admin", "worker", "log-server", "metadata-server"]
listen-mode = "tcp"
disable-telemetry = true
default-replication = 2
default-num-partitions = {partitions}

[metadata-client]
type = "replicated"
addresses = [{addresses}]

[bifrost]
default-provider = "replicated"

[default-retry-policy]
initial-interval = "50ms"
exponentiation-factor = 2.0
max-interval = "2s"
max-attempts = 500
on-max-attempts = "pause"

[worker.invoker]
concurrent-invocations-limit = 32  # per partition, as in restate.toml
"""


@dataclass
class Node:
    name: str
    node_port: int
    ingress_port: int
    admin_port: int
    process: ManagedProcess

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


@dataclass
class Cluster:
    base: Path
    identity_pem: Path
    partitions: int = 8
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
        addresses = ", ".join(f'"http://127.0.0.1:{node}/"' for node, _, _ in ports)
        config = self.base / "cluster.toml"
        self.base.mkdir(parents=True, exist_ok=True)
        config.write_text(CLUSTER_TOML.format(partitions=self.partitions, addresses=addresses))
        binary = str(ensure_restate())
        for number, (node, ingress, admin) in enumerate(ports, start=1):
            name = f"n{number}"
            env = {
                "RESTATE_NODE_NAME": name,
                "RESTATE_BASE_DIR": str(self.base / name),
                "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node}",
                "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{node}/",
                "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
                "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
                "RESTATE_AUTO_PROVISION": "true" if number == 1 else "false",
                "RESTATE_LOG_FILTER": "warn",
                "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE": str(self.identity_pem),
                "PATH": "/usr/bin:/bin",
            }
            process = ManagedProcess(f"restate-{name}", [binary, "--config-file", str(config)], env=env,
                                     cwd=self.base, log_path=self.base / f"{name}.log")
            self.nodes.append(Node(name, node, ingress, admin, process))

    def start(self, service_url: str, timeout_s: float = 120.0) -> None:
        for node in self.nodes:
            node.process.start()

        def registered() -> bool:
            for node in self.nodes:
                node.process.check_alive()
            response = httpx.post(f"{self.nodes[0].admin_url}/deployments",
                                  json={"uri": service_url, "force": True}, timeout=10)
            return response.status_code in {200, 201}

        wait_until(registered, timeout_s=timeout_s, what="a deployment registered with the cluster", interval_s=0.5)
        for node in self.nodes:  # readiness: partitions have leaders and every ingress serves a call
            wait_until(lambda node=node: httpx.post(f"{node.ingress_url}/SagaRun/readiness-probe/status", json=None,  # type: ignore[misc]
                                                    timeout=10).status_code == 200,
                       timeout_s=timeout_s, what=f"{node.name}'s ingress", interval_s=0.5)

    def stop(self) -> None:
        for node in self.nodes:
            node.process.stop()

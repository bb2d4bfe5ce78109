"""How a command says, with `--json`, that its call failed: Pivot's error body on stdout.

A script reading `pivot … --json` gets one JSON document either way: the answer, or
`{"error": {"code", "message", "status", "field"?, "run"?, "step"?, "violations"?}}` — the same
body the approval page's API and the MCP tools answer, with the same codes the ingress carries
in its metadata. The exit status says which (see the README's exit codes).
"""

import json

from pivot.services.client import PivotError


def json_failure(error: PivotError, exit_status: int) -> int:
    print(json.dumps(error.error.body(), indent=2, ensure_ascii=False))
    return exit_status

"""The bearer token Pivot's own clients send to Restate's ingress when it sits behind the
authenticating proxy (`services/local/ingress_proxy.py`).

Read from the environment (`PIVOT_INGRESS_TOKEN`) when a client is built, so each process start
picks up the current value; never taken as a command-line flag (which `ps` shows) and never
logged. The proxy checks it and strips it: Restate, which journals every request's headers,
never sees it. So it belongs only where the ingress URL is the proxy's: sent straight to Restate
it would be journaled. Unset, nothing is sent (the local stack's ingress listens on loopback only,
and the stack does not pass PIVOT_* settings on to its processes).

Only clients of the ingress send it: the admin API is never behind this proxy, and handlers
inside Restate (the pydantic-ai toolset) run their steps in their own invocation, not through
the ingress.
"""

import os
from collections.abc import Mapping

INGRESS_TOKEN_ENV = "PIVOT_INGRESS_TOKEN"


def ingress_token(environ: Mapping[str, str] = os.environ) -> str | None:
    return environ.get(INGRESS_TOKEN_ENV, "").strip() or None


def ingress_headers(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`{"authorization": "Bearer <token>"}` when PIVOT_INGRESS_TOKEN is set, else nothing."""
    token = ingress_token(environ)
    return {"authorization": f"Bearer {token}"} if token else {}

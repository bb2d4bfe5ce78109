"""The Restate services this deployment serves, by name, and how long an idle invocation stays open.

Handlers that call each other across modules do it by these names (generic calls), so no
module has to import another's handler objects.
"""

import os
from datetime import timedelta

SAGA_RUN = "SagaRun"
"""A whole plan (workflow, keyed by run id)."""
SAGA = "Saga"
"""An open saga: its engine and the calls agents make (workflow, keyed by run id)."""
SAGA_STEP = "SagaStep"
"""A gated step of an open saga (an approval), in its own invocation."""

CLAIM_HEADER = "x-pivot-claim"
"""On `SagaRun/{id}/run`: an open saga claims its run id (so that no plan can ever use it)."""

SUSPEND_AFTER = timedelta(seconds=float(os.environ.get("PIVOT_SUSPEND_AFTER_S", "12")))
"""How long an invocation that waits on nothing but Restate (an approval, a timer, another
invocation) keeps its connection before Restate suspends it. An open invocation holds one of
Restate's per-partition invocation slots (`concurrent-invocations-limit` in restate.toml) and
~100 KB of the service's memory, while a suspended one holds neither: with the server's 1-minute
default, 10,000 sagas parked on approval held the service at 677 MiB.

Restate cannot tell a parked saga from one whose provider call is slow: both are silent. A step
still running when this expires is suspended and replayed when it ends, and after a replay the
next write must assume an earlier attempt may have sent it (a lookup, and for Slack a whole
in-flight window: a 3 s invoice made the flagship take 14 s with 2 s here). So it is longer than
one provider request can take (`PIVOT_HTTP_TIMEOUT_S`, 10 s) and the slots are 32 per partition:
10,000 parked sagas held the service at 168 MiB, and they park at up to ~64/s (768 slots / 12 s).
`PIVOT_SUSPEND_AFTER_S` sets it (read when the service starts): raise it with the HTTP timeout."""

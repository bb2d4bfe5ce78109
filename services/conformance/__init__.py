"""`pivot conformance`: proof that an action keeps Pivot's guarantees against its real API.

The runner starts its own local stack, puts a fault-injecting HTTP proxy (`proxy`) between the
Pivot service and each provider the actions talk to, runs every action through the real engine
(open sagas on Restate) under each fault (`cases`), and judges what happened with the action's
own `lookup` / `find_all` (a real account has no sandbox ledger to ask).
"""

"""Stripe's list endpoints: newest first, `limit`, and cursor pagination by object id.

One implementation for customers, invoices, payment intents and refunds, so every list pages the
same way (`starting_after` walks to older objects, `ending_before` to newer ones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pivot.providers.stripe.sandbox.common import JsonDict, StripeState
from pivot.providers.stripe.sandbox.errors import missing
from pivot.providers.stripe.sandbox.forms import Params

LIST_PARAMS = frozenset({"ending_before", "expand", "limit", "starting_after"})


def list_page(
    state: StripeState,
    objects: Iterable[JsonDict],
    params: Params,
    *,
    kind: str,
    url: str,
    render: Callable[[JsonDict, list[str]], JsonDict],
) -> JsonDict:
    """One page of `objects` (already filtered) in Stripe's list envelope."""
    limit = params.integer("limit", minimum=1, maximum=100) or 10
    starting_after = params.text("starting_after") or None
    ending_before = params.text("ending_before") or None
    expand = [path.removeprefix("data.") for path in params.expand()]
    rank = state.order
    for cursor, name in ((starting_after, "starting_after"), (ending_before, "ending_before")):
        if cursor is not None and cursor not in rank:
            raise missing(kind, cursor, param=name, status=400)
    newest_first = sorted(objects, key=lambda obj: rank[obj["id"]], reverse=True)
    if starting_after is not None:
        window = [obj for obj in newest_first if rank[obj["id"]] < rank[starting_after]]
        page, has_more = window[:limit], len(window) > limit
    elif ending_before is not None:
        window = [obj for obj in newest_first if rank[obj["id"]] > rank[ending_before]]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = newest_first[:limit], len(newest_first) > limit
    return {"object": "list", "data": [render(obj, expand) for obj in page], "has_more": has_more, "url": url}

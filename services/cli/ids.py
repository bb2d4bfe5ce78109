"""Argument types for the ids a user types: checked before any request, with argparse's own error.

`pivot status ..` used to walk the ingress's URL path and end in a traceback; now every command
that takes a run, step or approval id refuses one outside `pivot.compensations.ids`' alphabet with a
usage line and exit status 2, before it connects anywhere.
"""

import argparse
from collections.abc import Callable

from pivot.compensations.ids import InvalidId, check_approval_id, check_run_id, check_step_id


def _argument(check: Callable[[str], str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return check(value)
        except InvalidId as invalid:
            raise argparse.ArgumentTypeError(str(invalid)) from None

    parse.__name__ = check.__name__.removeprefix("check_")  # argparse names the type in its errors
    return parse


run_id = _argument(check_run_id)
step_id = _argument(check_step_id)
approval_id = _argument(check_approval_id)

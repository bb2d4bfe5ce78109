"""A CI-sized soak (bench/soak.py runs the full one): random provider faults on ~20% of calls
and a SIGKILL of the service half-way; nothing lost, nothing doubled, nothing orphaned."""

import os

from bench.soak import run_soak
from pivot.services.local.stack import Stack

SOAK_SAGAS = int(os.environ.get("PIVOT_SOAK_SAGAS", "15"))


def test_soak_with_faults_and_a_crash(stack: Stack) -> None:
    report = run_soak(stack, SOAK_SAGAS, seed=11)
    print(f"\nsoak: {report}")
    assert report.fault_hits > 0
    assert sum(report.statuses.values()) == SOAK_SAGAS
    assert report.lost == [] and report.duplicates == [] and report.orphans == []
    assert report.statuses.get("committed", 0) > 0 and report.statuses.get("compensated", 0) > 0

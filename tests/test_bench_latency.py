"""The latency bench runs end to end: every side of both sagas commits through its own stack, and
the report carries the ratios and targets bench/RESULTS.md quotes.

A smoke run (one saga per side, 5 ms per provider request), in CI's long tier only: it starts a
stack of its own and runs 10 sagas, which the default suite has no minute left for.
"""

import json
import os
from pathlib import Path

import pytest

from bench.latency import SIDES, TARGETS, main
from bench.latency_plans import SAGAS

LONG_TIER = os.environ.get("PIVOT_LONG_TIER") == "1"
pytestmark = pytest.mark.skipif(not LONG_TIER, reason="CI's long tier (.ci/run, PIVOT_LONG_TIER=1) runs it")


@pytest.mark.timeout(300)
def test_every_side_of_both_sagas_commits_and_the_report_has_its_ratios(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    main(["--provider-latency-ms", "5", "--sagas", "1", "--warmup", "0", "--idle-s", "0", "--out", str(out)])
    report = json.loads(out.read_text())

    assert report["all_committed"] is True
    assert set(report["sagas"]) == set(SAGAS)
    for saga, body in report["sagas"].items():
        assert set(body["sides"]) == set(SIDES)
        for name, side in body["sides"].items():
            assert side["statuses"] == {"committed": 1}, (saga, name)
            assert side["requests_per_saga"]["total"] >= body["steps"], (saga, name)  # every step wrote
        ratios = body["ratios"]
        for key in ("pivot_over_peer", "pivot_over_raw", "pivot_sequential_over_peer", "pivot_over_pivot_sequential"):
            assert ratios["wall_median"][key] > 0, (saga, key)
        assert ratios["cpu_per_saga"].keys() >= {"peer_over_pivot", "raw_over_pivot"}
        assert ratios["open_step_over_plan_step"].keys() >= {"wall", "cpu"}
        assert "calls_ms" in body["sides"]["open"]
    assert [t["target"] for t in report["targets"]] == [t.text for t in TARGETS]
    assert all(isinstance(t["met"], bool) for t in report["targets"])

"""Every benchmark of bench/RESULTS.md in one run, then the charts.

    .venv/bin/python -m bench [--parked 10000] [--dir bench]

Runs, one after the other on this machine (each starts and stops its own stack):
engine overhead with the peer and the two-process point (results.json, ~5 min), the parallel
phase and batching (phases.json, ~1 min), an open-saga step against a plan step (open_saga.json,
~2 min), latency at 150 ms per provider request (latency.json, ~8 min), the parked sagas
(parked.json, ~15 min for 10,000),
the soak (soak.json, ~1 min); then draws charts/*.png from those files. Progress goes to stderr.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.charts import draw


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(__file__).parent)
    parser.add_argument("--parked", type=int, default=10_000, help="sagas to park (0: skip)")
    parser.add_argument("--soak", type=int, default=200, help="sagas in the soak (0: skip)")
    args = parser.parse_args()
    folder: Path = args.dir
    steps: list[tuple[str, list[str]]] = [
        ("engine overhead", ["bench.engine_overhead", "--profile", str(folder / "profile"),
                             "--out", str(folder / "results.json")]),
        ("parallel phase and batching", ["bench.phases", "--out", str(folder / "phases.json")]),
        ("open-saga step vs plan step", ["bench.open_saga", "--out", str(folder / "open_saga.json")]),
        ("latency at real provider latency", ["bench.latency", "--provider-latency-ms", "150",
                                              "--out", str(folder / "latency.json")]),
    ]
    if args.parked:
        steps.append(("parked sagas", ["bench.parked", "--sagas", str(args.parked),
                                       "--out", str(folder / "parked.json")]))
    if args.soak:
        steps.append(("soak", ["bench.soak", "--sagas", str(args.soak), "--out", str(folder / "soak.json")]))
    for title, argv in steps:
        started = time.monotonic()
        print(f"bench: {title} …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", *argv], check=True, stdout=subprocess.DEVNULL)
        print(f"bench: {title} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    for path in draw(folder):
        print(f"bench: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

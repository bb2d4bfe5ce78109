"""PNG charts of the benchmark results, drawn from the JSON files the benches write.

    .venv/bin/python -m bench.charts [--dir bench]      # reads bench/*.json, writes bench/charts/*.png

Charts are drawn only from figures already in the JSON files, so a chart can never show
something the run did not measure. A missing file skips its charts (with a message).
"""

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a CI machine

import matplotlib.pyplot as plt  # after use(): the backend must be chosen first

SIDE_LABELS = {"pivot": "Pivot SagaRun", "raw": "raw handler", "peer": "restate-saga peer"}
SIDE_COLORS = {"pivot": "#2f6fb0", "raw": "#9a9a9a", "peer": "#d08a2c"}
LATENCY_LABELS = {"pivot": "Pivot\nplan", "pivot_sequential": "Pivot plan,\none step\nat a time",
                  "open": "Pivot\nopen saga", "peer": "restate-saga\npeer", "raw": "raw\nhandler"}
LATENCY_COLORS = {**SIDE_COLORS, "pivot_sequential": "#9ab8d8", "open": "#5a9e6f"}


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        print(f"charts: {path} not found, its charts are skipped")
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def engine_charts(report: dict[str, Any], out: Path) -> list[Path]:
    sides = [name for name in SIDE_LABELS if name in report["main"]]
    written = []

    fig, (rate, latency) = plt.subplots(1, 2, figsize=(10, 4))
    rates = [report["main"][s]["sagas_per_s"] for s in sides]
    rate.bar([SIDE_LABELS[s] for s in sides], rates, color=[SIDE_COLORS[s] for s in sides])
    rate.set_title(f"Throughput, concurrency {report['settings']['concurrency']}")
    rate.set_ylabel("sagas/s")
    for index, value in enumerate(rates):
        rate.annotate(f"{value}", (index, value), ha="center", va="bottom")
    width = 0.38
    for offset, key in ((-width / 2, "p50_ms"), (width / 2, "p99_ms")):
        latency.bar([i + offset for i in range(len(sides))], [report["main"][s][key] for s in sides], width,
                    label=key.removesuffix("_ms"), color=[SIDE_COLORS[s] for s in sides],
                    alpha=1.0 if key == "p50_ms" else 0.55)
    latency.set_xticks(range(len(sides)), [SIDE_LABELS[s] for s in sides])
    latency.set_title("Latency per saga (solid p50, light p99)")
    latency.set_ylabel("ms")
    written.append(_save(fig, out / "throughput_latency.png"))

    fig, axis = plt.subplots(figsize=(6.5, 4))
    levels = [point["concurrency"] for point in report["curve"]]
    for side in sides:
        key = f"{side}_sagas_per_s"
        if all(key in point for point in report["curve"]):
            axis.plot(levels, [point[key] for point in report["curve"]], marker="o", label=SIDE_LABELS[side],
                      color=SIDE_COLORS[side])
    axis.set_xscale("log", base=2)
    axis.set_xticks(levels, [str(level) for level in levels])
    axis.set_xlabel("sagas in flight (concurrency)")
    axis.set_ylabel("sagas/s")
    axis.set_title("Scaling curve, one service process")
    axis.legend()
    written.append(_save(fig, out / "scaling_curve.png"))

    journal = {s: report["journal"][s].get("entries_per_saga", 0) for s in sides if s in report["journal"]}
    fig, axis = plt.subplots(figsize=(5.5, 3.6))
    axis.bar([SIDE_LABELS[s] for s in journal], list(journal.values()), color=[SIDE_COLORS[s] for s in journal])
    axis.set_ylabel("journal entries per saga")
    axis.set_title("Journal entries per saga (3 steps)")
    written.append(_save(fig, out / "journal_entries.png"))

    if report.get("replicas"):
        fig, axis = plt.subplots(figsize=(6, 3.8))
        points = report["replicas"]
        xs = range(len(points))
        axis.bar([x - 0.2 for x in xs], [p["one_process_sagas_per_s"] for p in points], 0.4, label="1 process",
                 color="#9ab8d8")
        axis.bar([x + 0.2 for x in xs], [p["two_processes_sagas_per_s"] for p in points], 0.4, label="2 processes",
                 color=SIDE_COLORS["pivot"])
        axis.set_xticks(list(xs), [f"concurrency {p['concurrency']}" for p in points])
        axis.set_ylabel("Pivot sagas/s")
        axis.set_title("One endpoint, one vs two service processes")
        axis.legend()
        written.append(_save(fig, out / "two_processes.png"))
    return written


def phase_charts(report: dict[str, Any], out: Path) -> list[Path]:
    fig, (phase, batch) = plt.subplots(1, 2, figsize=(10, 3.8))
    parallel = report["parallel_phase"]
    phase.bar(["4 steps in sequence", "4 steps as a group"], [parallel["sequential_s"], parallel["parallel_s"]],
              color=["#9a9a9a", SIDE_COLORS["pivot"]])
    phase.set_ylabel("saga wall time, s")
    phase.set_title(f"Parallel phase, {parallel['provider_latency_ms']} ms provider latency")
    records = report["batching_20_records"]
    labels = ["20 steps", "1 allOrNone group"]
    calls = [records["twenty_steps"]["api_calls_per_saga"], records["atomic_group"]["api_calls_per_saga"]]
    batch.bar(labels, calls, color=["#9a9a9a", SIDE_COLORS["pivot"]])
    batch.set_ylabel("Salesforce API calls")
    batch.set_title("20 records: steps vs one atomic group")
    for index, value in enumerate(calls):
        batch.annotate(f"{value:g} calls, {[records['twenty_steps'], records['atomic_group']][index]['wall_s']} s",
                       (index, value), ha="center", va="bottom")
    return [_save(fig, out / "phases_batching.png")]


def parked_charts(report: dict[str, Any], out: Path) -> list[Path]:
    moments = [("before", "rss_mib_before"), ("peak while parking", "rss_mib_peak_while_parking"),
               ("all parked", "rss_mib_parked")]
    moments = [(label, key) for label, key in moments if key in report]
    fig, axis = plt.subplots(figsize=(7, 4))
    xs = range(len(moments))
    for offset, process, color in ((-0.2, "service", SIDE_COLORS["pivot"]), (0.2, "restate", "#9a9a9a")):
        axis.bar([x + offset for x in xs], [report[key][process] for _, key in moments], 0.4,
                 label=f"{process} RSS", color=color)
    axis.axhline(250 / 1.048576, color="#c0392b", linestyle="--", label="service target (250 MB)")
    axis.set_xticks(list(xs), [label for label, _ in moments])
    axis.set_ylabel("MiB")
    axis.set_title(f"{report['sagas']:,} sagas parked on approval")
    axis.legend()
    return [_save(fig, out / "parked_memory.png")]


def latency_charts(report: dict[str, Any], out: Path) -> list[Path]:
    """Wall time per saga by side, one panel per saga: the median as the bar, p95 as the whisker."""
    sagas = report["sagas"]
    fig, axes = plt.subplots(1, len(sagas), figsize=(5.5 * len(sagas), 4.2), squeeze=False)
    for axis, (saga, body) in zip(axes[0], sagas.items(), strict=True):
        sides = [name for name in LATENCY_LABELS if name in body["sides"]]
        medians = [body["sides"][name]["wall_ms"]["median"] for name in sides]
        above = [body["sides"][name]["wall_ms"]["p95"] - median for name, median in zip(sides, medians, strict=True)]
        axis.bar(range(len(sides)), medians, yerr=[[0] * len(sides), above], capsize=4,
                 color=[LATENCY_COLORS[name] for name in sides])
        for index, (value, whisker) in enumerate(zip(medians, above, strict=True)):
            axis.annotate(f"{value:.0f}", (index, value + whisker), ha="center", va="bottom", xytext=(0, 3),
                          textcoords="offset points", fontsize=8)
        axis.set_xticks(range(len(sides)), [LATENCY_LABELS[name] for name in sides], fontsize=8)
        axis.set_ylabel("wall time per saga, ms")
        axis.margins(y=0.08)
        axis.set_title(f"{saga} ({body['steps']} steps)")
    latency_ms = report["settings"]["provider_latency_ms"]
    fig.suptitle(f"One saga at a time, every provider request held {latency_ms} ms (bar: median, whisker: p95)")
    return [_save(fig, out / "latency.png")]


def draw(folder: Path) -> list[Path]:
    out = folder / "charts"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, drawer in (("results.json", engine_charts), ("phases.json", phase_charts),
                         ("parked.json", parked_charts), ("latency.json", latency_charts)):
        report = _load(folder / name)
        if report is not None:
            written += drawer(report, out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.charts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(__file__).parent, help="folder with the JSON results")
    args = parser.parse_args()
    for path in draw(args.dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

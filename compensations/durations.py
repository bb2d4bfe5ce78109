"""Durations as people read them: "3d", "2h 5m", "45s".

Python's own `str(timedelta)` prints "3 days, 0:00:00", which reads like a clock time; every
sentence Pivot prints (outcomes, `pivot check`, the CLI's approval lists, the approval page) says a
duration this one way instead: the largest unit, and the next one when it is not zero.
"""

from datetime import timedelta

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def short_duration(span: float | timedelta) -> str:
    """`span` (seconds, or a timedelta) in at most two units: 259200 → "3d", 7500 → "2h 5m".
    Negative spans read as zero (a deadline already past is "0s" away)."""
    seconds = span.total_seconds() if isinstance(span, timedelta) else float(span)
    if 0 < seconds < 1:
        return f"{seconds:.2g}s"
    remaining = max(0, round(seconds))
    counts = []
    for unit, size in UNITS:
        counts.append((remaining // size, unit))
        remaining %= size
    first = next((i for i, (count, _) in enumerate(counts) if count), len(counts) - 1)
    shown = [f"{count}{unit}" for count, unit in counts[first:first + 2] if count]
    return " ".join(shown) or "0s"

"""How `pivot dev` hears that it should stop: Ctrl-C, SIGTERM, and the terminal closing (SIGHUP).

Its children run in sessions of their own (so a Ctrl-C meant for `pivot dev` does not kill them
mid-write before it can stop them in order), which also means no signal reaches them except what
`pivot dev` sends. SIGHUP's default action ended `pivot dev` on the spot and left all five
children running, holding their ports. Now the three signals do the same thing, and the ones after
the first are ignored, so a second Ctrl-C or a hangup during the stop cannot cut it short (each
child gets SIGTERM, then SIGKILL after ten seconds).

While the stack starts, the first signal raises KeyboardInterrupt where `pivot dev` is, whose
`with stack:` stops every child by pid. Once it is up and only watching its children, a signal only
sets a flag that the watch loop reads (`until_stopped`): an exception raised at an arbitrary point
of that loop could land inside `subprocess`'s own bookkeeping (between taking a child's wait lock
and the `try` that releases it), and the stop that follows would then wait on that lock for ever.
"""

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_asked = threading.Event()
_watching = threading.Event()


def _stop(signum: int, frame: FrameType | None) -> None:
    for each in STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    _asked.set()
    if not _watching.is_set():
        raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Make SIGINT, SIGTERM and SIGHUP stop the stack (from the main thread)."""
    for each in STOP_SIGNALS:
        signal.signal(each, _stop)


def until_stopped(interval_s: float) -> bool:
    """Called in the watch loop: True once a stop signal came (it then raises nothing), after
    waiting up to `interval_s` for one."""
    _watching.set()
    return _asked.wait(interval_s)

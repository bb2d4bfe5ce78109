"""How `pivot dev` hears that it should stop: Ctrl-C, SIGTERM, and the terminal closing (SIGHUP).

Its children run in sessions of their own (so a Ctrl-C meant for `pivot dev` does not kill them
mid-write before it can stop them in order), which also means no signal reaches them except what
`pivot dev` sends. SIGHUP's default action ended `pivot dev` on the spot and left all five
children running, holding their ports. Now the three signals do the same thing: the first one
raises KeyboardInterrupt where `pivot dev` is, whose `with stack:` stops every child by pid; the
ones after it are ignored, so a second Ctrl-C or a hangup during the stop cannot cut it short
(each child gets SIGTERM, then SIGKILL after ten seconds).
"""

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame: FrameType | None) -> None:
    for each in STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Make SIGINT, SIGTERM and SIGHUP stop the stack (from the main thread)."""
    for each in STOP_SIGNALS:
        signal.signal(each, _stop)

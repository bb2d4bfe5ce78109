"""What the engine tells a provider about the write it is making: which account, and whether it is new.

Named connections: which of several accounts of one provider a step writes to.

A step may name a `connection` (default `default`): "stripe, account eu". The name is all the
engine knows and all the journal holds. The engine sets it around a step's journaled write and
undo; the provider's HTTP layer reads it at request time and looks up that connection's base URL
and credential there (see providers/connections.py), so a credential is never journaled, stored
or logged. A step's idempotency key does not contain the connection: a key names a write, and
the account it lands in is configuration.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFAULT_CONNECTION = "default"
CONNECTION_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"

_current: ContextVar[str] = ContextVar("pivot_connection", default=DEFAULT_CONNECTION)


def current_connection() -> str:
    """The connection the provider request being made now belongs to."""
    return _current.get()


@contextmanager
def using_connection(name: str) -> Iterator[None]:
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


_first_write: ContextVar[bool] = ContextVar("pivot_first_write", default=False)


def first_write() -> bool:
    """True when no earlier attempt can have sent this step's write (see `Saga.start_write`): the
    provider may skip its lookup by key before writing, because there is nothing to find."""
    return _first_write.get()


@contextmanager
def writing_first(first: bool) -> Iterator[None]:
    token = _first_write.set(first)
    try:
        yield
    finally:
        _first_write.reset(token)

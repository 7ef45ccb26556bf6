"""Which failures are the infrastructure's (worth a platform's redelivery) rather than a bug of ours.

"Transient" is an explicit list: the database and Redis unreachable, restarting, locked or timing out, and
the network errors of a connection (refused, reset, aborted, a broken pipe, a timeout). Anything else, a
missing file (`FileNotFoundError`), a permission, a decoder's error, is not worth a retry: a caller that
retried it would loop for ever.
"""

from __future__ import annotations

import socket

from sqlalchemy import exc as sa_exc

# PostgreSQL error classes worth a retry: connection exceptions (08), operator intervention such as
# pg_terminate_backend or a restart (57P), insufficient resources (53), serialization failure, deadlock.
_RETRYABLE_SQLSTATES = ("08", "57P", "53", "40001", "40P01")
# The connection-level OS errors (ConnectionError covers refused, reset, aborted and broken pipe).
TRANSIENT_OS_ERRORS = (ConnectionError, TimeoutError, socket.gaierror)


def _sqlstate(error: BaseException | None) -> str | None:
    while error is not None:
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str):
            return state
        error = error.__cause__
    return None


def is_transient(error: BaseException) -> bool:
    """A database or Redis that is unreachable, restarting or locked: the same event will succeed later.

    The error's causes count too: a dropped connection surfaces as whatever the driver raised last (asyncpg's
    InterfaceError on a closed connection, SQLAlchemy's wrapper of it), with the real reason underneath."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_itself(error: BaseException) -> bool:
    if type(error).__module__.startswith("asyncpg") and (
        "Connection" in type(error).__name__ or type(error).__name__ in ("InterfaceError", "InternalClientError")
    ):
        return True
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    if isinstance(error, TRANSIENT_OS_ERRORS):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        state = _sqlstate(error.orig)
        if state and state.startswith(_RETRYABLE_SQLSTATES):
            return True
    try:
        from redis import exceptions as redis_exc
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(error, (redis_exc.ConnectionError, redis_exc.TimeoutError, redis_exc.BusyLoadingError))

"""The log's stream on JetStream: its settings, the connection to it, and the errors they raise.

`tryvoha.bus.jetstream` explains the invariant (stream sequence = log id) and every failure case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import APIError, NotFoundError

from tryvoha.alerts.model import Event

log = logging.getLogger(__name__)

DEFAULT_STREAM = "TRYVOHA_LOG"
DEFAULT_SUBJECT = "tryvoha.log"
DUPLICATE_WINDOW = 600.0
WRONG_LAST_SEQUENCE = 10071
STREAM_NAME_IN_USE = 10058
SUBJECTS_OVERLAP = 10065
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
EXPECTED_STREAM = "Nats-Expected-Stream"

EventsAfter = Callable[[int, int], Sequence[Event]]
T = TypeVar("T")
CLOSE_TIMEOUT = 5.0
"""Longest a connection's close may take: nats-py's close flushes and waits for the socket, which
a dead or silent server can leave waiting forever."""


class StreamConflict(RuntimeError):
    """The stream exists with a configuration the log cannot live in; an operator must decide."""

    kind = "conflict"


class StreamDiverged(RuntimeError):
    """The stream holds history the log does not: publishing on would mix two histories."""

    kind = "diverged"


class ResyncNeeded(RuntimeError):
    """The stream can no longer continue this node's copy of the log; rebuild, then follow again."""

    def __init__(self, reason: str, *, last_applied: int, epoch: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.last_applied = last_applied
        self.epoch = epoch


# Connection ------------------------------------------------------------------------------------


async def connect(
    servers: str | Sequence[str],
    *,
    name: str,
    disconnected: Callable[[], None] | None = None,
    reconnected: Callable[[], None] | None = None,
) -> NATS:
    """A connection that never gives up: it waits for a server that is down, even at start.

    Pings every 5 s so a silent peer is noticed within ~10 s; callbacks report the link state.
    A forced flush (a full outgoing buffer) waits at most `CLOSE_TIMEOUT`, never forever.
    """

    async def on_disconnected() -> None:
        if disconnected is not None:
            disconnected()

    async def on_reconnected() -> None:
        if reconnected is not None:
            reconnected()

    async def on_error(exc: Exception) -> None:
        log.debug("nats (%s): %s", name, exc)

    return await nats.connect(
        servers=[servers] if isinstance(servers, str) else list(servers),
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=2,
        flush_timeout=CLOSE_TIMEOUT,  # nats-py waits for a forced flush forever by default
        ping_interval=5,
        max_outstanding_pings=2,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )


async def bounded(call: Awaitable[T], seconds: float, what: str) -> T:
    """One await on NATS that must end: a server that never answers becomes a `TimeoutError`
    naming what was asked (every await on NATS in the relay and the feed goes through a
    timeout: this, the JetStream context's own, or a timeout scope).

    A timeout scope, never `asyncio.wait_for`, which can lose a cancel (see `tryvoha.waits`)."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        raise TimeoutError(f"{what}: no answer from NATS within {seconds:g} s") from None


async def close_connection(nc: NATS | None, seconds: float = CLOSE_TIMEOUT) -> None:
    """Close `nc` if open, giving up (logged) after `seconds`; never raises."""
    if nc is None or nc.is_closed:
        return
    try:
        async with asyncio.timeout(seconds):
            await nc.close()
    except TimeoutError:
        log.warning("nats: the connection did not close within %g s; dropped", seconds)
    except Exception as exc:
        log.debug("nats: closing: %s", exc)


async def stop_task(task: asyncio.Task[Any] | None, seconds: float, what: str) -> None:
    """Cancel `task` and wait for it at most `seconds` (a stop must never hang a shutdown)."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if not done:
            log.error("%s did not stop within %g s; left cancelled", what, seconds)


# The stream ------------------------------------------------------------------------------------


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subject: str,
    replicas: int = 1,
    *,
    duplicate_window: float = DUPLICATE_WINDOW,
    max_age: float | None = None,
) -> StreamInfo:
    """Create the log's stream, or bring the settings it owns up to date; idempotent.

    Refuses (`StreamConflict`) a stream whose subjects, storage, retention or size limits are not
    the log's, and a subject already captured by another stream: neither is fixed silently.
    """
    wanted = StreamConfig(
        name=name,
        description="tryvoha: the alert log; stream sequence = log id",
        subjects=[subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age or 0,
        num_replicas=replicas,
        duplicate_window=duplicate_window,
        allow_direct=True,
        deny_delete=True,
    )
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            return await js.add_stream(wanted)
        except APIError as exc:
            if exc.err_code == SUBJECTS_OVERLAP:
                raise StreamConflict(
                    f"subject {subject!r} is already captured by another stream; "
                    f"stream {name!r} cannot hold the log"
                ) from None
            if exc.err_code != STREAM_NAME_IN_USE:  # else created meanwhile: compare below
                _refuse(exc, f"stream {name!r} cannot be created")
            info = await js.stream_info(name)
    _refuse_conflicts(info.config, name, subject)
    if _needs_update(info.config, wanted):
        try:
            info = await js.update_stream(wanted)
        except APIError as exc:
            _refuse(exc, f"stream {name!r} cannot be updated")
    return info


def _refuse(exc: APIError, what: str) -> NoReturn:
    """JetStream said no to the configuration itself (not merely "unavailable, try later")."""
    if exc.code == 503:
        raise exc
    raise StreamConflict(f"{what}: {exc.description}") from None


def _refuse_conflicts(have: StreamConfig, name: str, subject: str) -> None:
    problems = []
    if list(have.subjects or []) != [subject]:
        problems.append(f"subjects {have.subjects} (the log needs exactly [{subject!r}])")
    if have.storage != StorageType.FILE:
        problems.append(f"storage {_value(have.storage)} (the log needs file)")
    if have.retention != RetentionPolicy.LIMITS:
        problems.append(f"retention {_value(have.retention)} (the log needs limits)")
    for field in ("max_msgs", "max_bytes", "max_msgs_per_subject"):
        value = getattr(have, field)
        if value is not None and value > 0:
            problems.append(f"{field} {value} (would drop events an edge needs)")
    if have.mirror is not None or have.sources:
        problems.append("mirror or sources (the relay must be the only writer)")
    if have.sealed:
        problems.append("sealed")
    if problems:
        raise StreamConflict(
            f"stream {name!r} exists with a configuration the log cannot use: "
            + "; ".join(problems)
            + ". Delete it or choose another stream name."
        )


def _needs_update(have: StreamConfig, wanted: StreamConfig) -> bool:
    return (
        not math.isclose(have.duplicate_window or 0, wanted.duplicate_window or 0, abs_tol=1e-3)
        or not math.isclose(have.max_age or 0, wanted.max_age or 0, abs_tol=1e-3)
        or bool(have.allow_direct) != bool(wanted.allow_direct)
        or (have.num_replicas or 1) != wanted.num_replicas
        or bool(have.deny_delete) != bool(wanted.deny_delete)
    )


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def epoch_of(info: StreamInfo) -> str:
    """The stream's identity across restarts: its creation time changes only when recreated."""
    created: datetime | None = info.created
    return created.isoformat() if created is not None else "unknown"


def error_kind(exc: BaseException) -> str:
    """A short word for a failure, for logs and the errors counter's label."""
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return kind
    unreachable = (
        ConnectionError,
        TimeoutError,
        nats.errors.TimeoutError,
        nats.errors.ConnectionClosedError,
        nats.errors.OutboundBufferLimitError,
        nats.errors.NoRespondersError,
    )
    if isinstance(exc, unreachable):
        return "unreachable"
    if isinstance(exc, APIError):
        return "refused"
    return type(exc).__name__

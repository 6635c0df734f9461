"""Tunables of the live streams (`Settings.streams`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Tunables; the defaults suit a national hub with tens of thousands of subscribers."""

    ring_size: int = 8192
    """Recent live events kept in memory; older resume points are read from the log."""
    max_buffer: int = 512 * 1024
    """Bytes a subscriber may have unread in its socket buffer before it is dropped."""
    socket_sndbuf: int = 64 * 1024
    """Kernel send buffer of a stream socket: with `max_buffer`, what one slow reader can hold."""
    heartbeat: float = 15.0
    """Seconds between heartbeats (SSE comment, WebSocket ping + heartbeat message)."""
    chunk: int = 128
    """Subscribers written between two looks at the clock during a pass (and per slice of a
    heartbeat)."""
    slice_time: float = 0.010
    """Seconds a pass writes before the loop attends to other work (then it goes on in the next
    turn): a pass over a few thousand subscribers goes out whole, ahead of the answers to the
    commands that made it; at tens of thousands, polls and new requests wait at most this."""
    burst_gap: float = 0.005
    coalesce: float = 0.002
    """When an event follows the previous one within `burst_gap` (a burst), the next pass waits
    `coalesce` so that it carries the events committed meanwhile in one write per subscriber; a
    lone event is never delayed. Kept short: commands that arrive together already share one
    transaction (group commit) and so one pass, and a pass that runs carries whatever is
    committed meanwhile into the next one; a longer wait only delays alerts that follow each
    other by a few milliseconds (at 50 / 10 ms, events 10–50 ms apart each waited 10 ms)."""
    commit_wait: float = 0.015
    """When a pass is due while the writer has commands queued for its next transaction (many
    operators at once: the first commands commit alone, the rest share the next transaction),
    the pass waits for those events, at most this many seconds, and sends the whole burst to
    each subscriber in one write instead of two passes. Only the first events of such a burst
    wait, and a lone event never does; a follower never waits (it cannot see the queue)."""
    page: int = 2000
    """Events read from the log per page while a subscriber catches up."""
    drop_grace: float = 10.0
    """Seconds a dropped subscriber gets to read its final message before the socket is cut."""

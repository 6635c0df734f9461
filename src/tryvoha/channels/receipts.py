"""Delivery receipts of the live channels: per event, when each channel handed it to the network
and how many live subscribers it reached.

A dispatcher who just sent an alert needs to know it went out ("reached 18,950 stream subscribers
in 190 ms"), and after a retraction that the correction went everywhere. Streams and MQTT keep no
durable record of what they sent, so the channels report here as they hand events over; webhooks
need nothing here, their outbox is durable (`store/webhooks.py`) and is read for the receipt.

Bounded: the receipts of the newest `keep` events are kept (`TRYVOHA_RECEIPTS_KEEP`, 100 to
100,000, default 1,000); for older events only the durable webhook outbox answers. Receipts live
in the process that sent the events and are lost on a restart.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

KEEP_RANGE = (100, 100_000)
DEFAULT_KEEP = 1000
MAX_FORWARD = 10_000
"""Hand-overs a stream follower holds for the hub between two reports; older ones are dropped."""


@dataclass(slots=True)
class ChannelReceipt:
    """One channel's hand-overs of one event. Times are seconds since the epoch."""

    first_at: float
    last_at: float
    reached: int = 0
    """Live subscribers it was written to (streams); 0 for a channel without subscribers."""
    handovers: int = 1


@dataclass(slots=True)
class EventReceipts:
    recorded_at: float
    channels: dict[str, ChannelReceipt] = field(default_factory=dict)


class DeliveryReceipts:
    """The receipts of the newest `keep` events, by log id; thread-safe (the MQTT client and the
    event loop both report)."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        low, high = KEEP_RANGE
        if not low <= keep <= high:
            raise ValueError(f"receipts are kept for {low} to {high} events, not {keep}")
        self.keep = keep
        self._events: OrderedDict[int, EventReceipts] = OrderedDict()
        self._lock = threading.Lock()

    def handed(
        self,
        channel: str,
        event_id: int,
        recorded_at: float,
        reached: int = 0,
        at: float | None = None,
    ) -> None:
        """`channel` handed event `event_id` (committed at `recorded_at`) to the network, to
        `reached` more live subscribers."""
        now = time.time() if at is None else at
        with self._lock:
            found = self._events.get(event_id)
            if found is None:
                full = len(self._events) >= self.keep
                if full and event_id < next(iter(self._events)):
                    return  # older than everything kept: its receipt is already gone
                found = self._events[event_id] = EventReceipts(recorded_at)
                if len(self._events) > self.keep:
                    self._events.popitem(last=False)
            receipt = found.channels.get(channel)
            if receipt is None:
                found.channels[channel] = ChannelReceipt(now, now, reached)
            else:
                receipt.last_at = max(receipt.last_at, now)
                receipt.reached += reached
                receipt.handovers += 1

    def of(self, event_id: int) -> EventReceipts | None:
        """A copy of the receipts of one event, or None when nothing was handed over (yet) or
        it is older than the ones kept."""
        with self._lock:
            found = self._events.get(event_id)
            if found is None:
                return None
            channels = {
                name: ChannelReceipt(r.first_at, r.last_at, r.reached, r.handovers)
                for name, r in found.channels.items()
            }
            return EventReceipts(found.recorded_at, channels)

    @property
    def oldest(self) -> int | None:
        """The oldest log id with a receipt kept."""
        with self._lock:
            return next(iter(self._events), None)


class ForwardingReceipts(DeliveryReceipts):
    """A stream follower's receipts (`--workers`): each hand-over is also queued for the hub,
    which adds it to its own (`tryvoha.channels.streams.workers`), so a receipt counts the
    subscribers of every process."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        super().__init__(keep)
        self.pending: deque[tuple[str, int, float, int, float]] = deque(maxlen=MAX_FORWARD)

    def handed(
        self,
        channel: str,
        event_id: int,
        recorded_at: float,
        reached: int = 0,
        at: float | None = None,
    ) -> None:
        now = time.time() if at is None else at
        super().handed(channel, event_id, recorded_at, reached, now)
        self.pending.append((channel, event_id, recorded_at, reached, now))

    def take(self, limit: int) -> list[tuple[str, int, float, int, float]]:
        """Up to `limit` queued hand-overs, oldest first, removed from the queue."""
        out: list[tuple[str, int, float, int, float]] = []
        while self.pending and len(out) < limit:
            out.append(self.pending.popleft())
        return out

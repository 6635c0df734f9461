"""CAP messages and feeds of one hub: rendered on first request, signed, cached.

A message is a pure function of its event and the alert's earlier events, so it is rendered and
signed once and then served from memory (and by HTTP caches, forever). A feed is a function of the
log, cached per log id for each region and status filter; it is built on the event loop when
every event it shows is in memory (the recent ones, and the older ones of alerts in force once
read), and off it otherwise.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from tryvoha.alerts.model import Alert, Event, EventKind
from tryvoha.channels.cap.feeds import FeedBuilder, FeedRequest
from tryvoha.channels.cap.message import OVER, CapIdentity, CapRenderer, Earlier
from tryvoha.channels.cap.schema import validate
from tryvoha.channels.cap.xmlsig import CapSigner
from tryvoha.readmodel import ReadModel
from tryvoha.signing.capkey import CapKeySource, CapSigningKey

MESSAGE_CACHE = 2048
FEED_CACHE = 256
RECENT_EVENTS = 5000
OLDER_EVENTS = 1024
"""Events of long-open alerts (older than the recent ones) kept after one read."""


@dataclass(frozen=True, slots=True)
class Feed:
    log_id: int
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """What a feed needs from the hub's state, taken on the event loop at one log id."""

    log_id: int
    in_force: tuple[Alert, ...]
    recent: tuple[Event, ...]


class CapService:
    def __init__(self, hub: ReadModel, identity: CapIdentity, keys: CapKeySource) -> None:
        self.hub = hub
        self.identity = identity
        self.keys = keys
        self.renderer = CapRenderer(identity, hub.catalogue)
        self.feeds = FeedBuilder(identity, hub.catalogue)
        self._signer: tuple[CapSigningKey, CapSigner] | None = None
        self._messages: OrderedDict[int, bytes] = OrderedDict()
        self._feeds: OrderedDict[str, Feed] = OrderedDict()
        self._recent: OrderedDict[int, Event] = OrderedDict()
        self._older: OrderedDict[int, Event] = OrderedDict()
        self._primed = False
        self._lock = threading.Lock()
        hub.subscribe(self._on_event)

    # Messages ----------------------------------------------------------------------------------

    def _cap_signer(self) -> CapSigner:
        key = self.keys.get()
        if self._signer is None or self._signer[0] is not key:
            self._signer = (key, CapSigner(key))
        return self._signer[1]

    def message(self, log_id: int) -> bytes | None:
        """The signed CAP document of event `log_id`, or None if the log has no such event.
        Blocking (store reads, signing): run it off the event loop."""
        with self._lock:
            cached = self._messages.get(log_id)
            if cached is not None:
                self._messages.move_to_end(log_id)
                return cached
        if not 0 < log_id <= self.hub.last_event_id:
            return None
        found = self.hub.store.events_after(log_id - 1, 1)
        if not found or found[0].id != log_id or not found[0].is_public:
            return None  # no such event, or a proposal's: never public
        event = found[0]
        root = self.renderer.build(event, self.earlier(event))
        validate(root)
        data = self._cap_signer().sign(root)
        with self._lock:
            self._messages[log_id] = data
            if len(self._messages) > MESSAGE_CACHE:
                self._messages.popitem(last=False)
        return data

    def earlier(self, event: Event) -> list[Earlier]:
        """The alert's events before `event` (read by the log's index of alerts)."""
        if event.kind is EventKind.DECLARED:
            return []
        found = self.hub.store.alert_events(event.alert_id, event.id)
        return [Earlier(e.id, e.kind.value, e.occurred_at, e.recorded_at) for e in found]

    # Feeds ------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._recent[event.id] = event
            if len(self._recent) > RECENT_EVENTS:
                self._recent.popitem(last=False)

    @property
    def primed(self) -> bool:
        """The recent events were read once (`prime` has nothing left to do)."""
        return self._primed

    def prime(self) -> None:
        """Read the latest live events once, so a restarted hub's feeds show recent ends
        (blocking: call it off the event loop before the first `snapshot`)."""
        if self._primed:
            return
        head = self.hub.store.last_event_id
        loaded = self.hub.store.events_after(max(0, head - RECENT_EVENTS), RECENT_EVENTS)
        with self._lock:
            merged = {e.id: e for e in loaded if e.is_broadcast}
            merged.update(self._recent)
            self._recent = OrderedDict(sorted(merged.items())[-RECENT_EVENTS:])
            self._primed = True

    def matches(self, request: FeedRequest, region_id: str, status: str) -> bool:
        if status not in request.statuses:
            return False
        if request.region_id is None:
            return True
        catalogue = self.hub.catalogue
        return catalogue.is_within(region_id, request.region_id) or catalogue.is_within(
            request.region_id, region_id
        )

    def snapshot(self, request: FeedRequest) -> FeedSnapshot:
        """On the event loop: the open alerts and recent ends the feed shows, at one log id."""
        in_force = tuple(
            a for a in self.hub.open_alerts() if self.matches(request, a.region_id, a.status.value)
        )
        with self._lock:
            recent = tuple(
                e
                for e in reversed(self._recent.values())
                if e.kind.value in OVER and self.matches(request, e.region_id, e.status.value)
            )
        return FeedSnapshot(self.hub.last_event_id, in_force, recent)

    def cached_feed(self, request: FeedRequest) -> Feed | None:
        found = self._feeds.get(request.key)
        if found is not None and found.log_id == self.hub.last_event_id:
            return found
        return None

    def feed_at_hand(self, request: FeedRequest) -> Feed | None:
        """On the event loop: the cached feed at the current log id, or one built now when every
        event it shows is in memory; None when it needs the store (then `feed` off the loop)."""
        found = self.cached_feed(request)
        if found is not None:
            return found
        snapshot = self.snapshot(request)
        return self.feed(request, snapshot) if self.in_memory(snapshot) else None

    def in_memory(self, snapshot: FeedSnapshot) -> bool:
        """Every event the snapshot's feed shows is in memory: `feed` reads nothing, and is
        cheap enough to run on the event loop."""
        with self._lock:
            return all(
                a.last_event_id in self._recent or a.last_event_id in self._older
                for a in snapshot.in_force
            )

    def feed(self, request: FeedRequest, snapshot: FeedSnapshot) -> Feed:
        """The Atom feed at the snapshot's log id (blocking unless `in_memory`: store reads for
        old alerts)."""
        events = self._events([a.last_event_id for a in snapshot.in_force])
        in_force = sorted(events, key=lambda e: e.id, reverse=True)
        catalogue = self.hub.catalogue
        where = "Україна / Ukraine"
        if request.region_id is not None:
            region = catalogue.get(request.region_id)
            where = f"{region.label('uk')} / {region.label('en')}"
        title = f"Тривога / tryvoha {self.identity.hub_id}: CAP, {where}"
        head = self.hub.last_recorded_at or self.hub.started_at
        body = self.feeds.build(request, in_force, snapshot.recent, head, title)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        feed = Feed(snapshot.log_id, body, etag)
        with self._lock:
            self._feeds[request.key] = feed
            self._feeds.move_to_end(request.key)
            if len(self._feeds) > FEED_CACHE:
                self._feeds.popitem(last=False)
        return feed

    def _events(self, ids: Sequence[int]) -> list[Event]:
        out: list[Event] = []
        for log_id in ids:
            with self._lock:
                event = self._recent.get(log_id) or self._older.get(log_id)
            if event is None:
                found = self.hub.store.events_after(log_id - 1, 1)
                if not found:
                    continue
                event = found[0]
                with self._lock:
                    self._older[log_id] = event
                    if len(self._older) > OLDER_EVENTS:
                        self._older.popitem(last=False)
            out.append(event)
        return out

"""Atom indexes of CAP messages, the form feed aggregators read (OASIS "CAP Feeds" practice, as
Google Public Alerts takes them): one entry per message, linking to the full, signed CAP file
(`type="application/cap+xml"`). A feed holds every message in force (the latest message of each
open alert) and then the most recent all-clears and cancellations, as many as fit in
`MAX_FEED_BYTES`, so an aggregator sees an alert end as well as begin.

An entry is a function of its event alone, so each is serialised once and kept (`ENTRY_CACHE`);
a feed at a new log id is its head and the kept entries put together, cheap enough for the event
loop while pollers ask for it right after every commit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from tryvoha.alerts.model import Event
from tryvoha.channels.cap.message import (
    HEADLINE,
    STATUSES,
    CapIdentity,
    identifier,
)
from tryvoha.channels.cap.texts import DRILL_PREFIX, THREATS
from tryvoha.regions import Catalogue

ATOM = "http://www.w3.org/2005/Atom"
CAP_TYPE = "application/cap+xml"
MAX_FEED_BYTES = 90_000
"""Aggregators ask for feeds under 100 KB; recent entries stop here. Messages in force are never
left out (a feed over the budget needs hundreds of alerts in force in one region's tree)."""
MAX_RECENT = 50
ENTRY_CACHE = 4096
"""Serialised entries kept: more than a feed of every region can show at once."""
ENTRY_NAMESPACE = f' xmlns="{ATOM}"'.encode()
FEED_END = b"</feed>"


def atom_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class FeedRequest:
    region_id: str | None
    statuses: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.region_id or 'all'}:{'+'.join(self.statuses)}"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


class FeedBuilder:
    def __init__(self, identity: CapIdentity, catalogue: Catalogue) -> None:
        self.identity = identity
        self.catalogue = catalogue
        self._entries: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def message_url(self, log_id: int) -> str:
        return f"{self.identity.public_url.rstrip('/')}/api/v1/cap/{log_id}.xml"

    def feed_url(self, request: FeedRequest) -> str:
        query = [f"region={request.region_id}"] if request.region_id else []
        query += [f"status={s}" for s in request.statuses]
        base = f"{self.identity.public_url.rstrip('/')}/api/v1/cap/feed.atom"
        return base + ("?" + "&".join(query) if query else "")

    def entry(self, event: Event) -> etree._Element:
        kind = event.kind.value
        threat = THREATS[event.threat]
        entry = etree.Element(f"{{{ATOM}}}entry", nsmap={None: ATOM})
        _el(entry, "id", identifier(self.identity.hub_id, event.id))
        titles = []
        for lang in ("uk", "en"):
            prefix = DRILL_PREFIX.get(event.status.value, {}).get(lang, "")
            area = self.catalogue.get(event.region_id).label(lang)
            titles.append(prefix + HEADLINE[kind][lang].format(event=threat.event[lang], area=area))
        _el(entry, "title", " / ".join(titles))
        _el(entry, "updated", atom_time(event.recorded_at))
        _el(entry, "category", term=STATUSES[event.status.value], label="status")
        _el(entry, "link", rel="alternate", type=CAP_TYPE, href=self.message_url(event.id))
        return entry

    def entry_bytes(self, event: Event) -> bytes:
        """The entry as it appears inside a feed (the feed declares the Atom namespace)."""
        with self._lock:
            found = self._entries.get(event.id)
            if found is not None:
                self._entries.move_to_end(event.id)
                return found
        data = etree.tostring(self.entry(event), encoding="UTF-8")
        data = data.replace(ENTRY_NAMESPACE, b"", 1)
        with self._lock:
            self._entries[event.id] = data
            if len(self._entries) > ENTRY_CACHE:
                self._entries.popitem(last=False)
        return data

    def build(
        self,
        request: FeedRequest,
        in_force: Sequence[Event],
        recent: Sequence[Event],
        head: datetime,
        title: str,
    ) -> bytes:
        """`head` (the log's latest time) dates a feed with no entries; otherwise its newest entry
        does, so a feed whose entries did not change keeps its bytes and its ETag."""
        feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
        feed.set("{http://www.w3.org/XML/1998/namespace}lang", "uk")
        _el(feed, "id", f"urn:tryvoha:{self.identity.hub_id}:feed:{request.key}")
        _el(feed, "title", title)
        updated = _el(feed, "updated", atom_time(head))
        author = _el(feed, "author")
        _el(author, "name", self.identity.sender)
        _el(feed, "link", rel="self", type="application/atom+xml", href=self.feed_url(request))
        _el(feed, "link", rel="alternate", type="text/html", href=self.identity.public_url)
        _el(feed, "generator", "tryvoha")
        entries = [self.entry_bytes(event) for event in in_force]
        size = len(etree.tostring(feed, xml_declaration=True, encoding="UTF-8"))
        size += sum(map(len, entries))
        added = 0
        for event in recent[:MAX_RECENT]:
            entry = self.entry_bytes(event)
            if size + len(entry) > MAX_FEED_BYTES:
                break
            size += len(entry)
            entries.append(entry)
            added += 1
        shown = [*in_force, *recent[:added]]
        updated.text = atom_time(max((e.recorded_at for e in shown), default=head))
        document = etree.tostring(feed, xml_declaration=True, encoding="UTF-8")
        assert document.endswith(FEED_END)
        return b"".join([document[: -len(FEED_END)], *entries, FEED_END])

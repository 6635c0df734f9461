"""`Last-Modified` for the alerts.in.ua surface: strictly later on every change of the log.

HTTP dates have one-second resolution and the clients answer 304 by echoing the string, so two
changes in one second must not share a value. Each new log id gets the time of its head, or one
second after the previous value when that is not later. The last value is kept in the store's
meta table, so a restart never hands out a value a client already holds for other content.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

from tryvoha.readmodel import ReadModel

if TYPE_CHECKING:
    from tryvoha.hub import Hub

META_KEY = "compat.last_modified"


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


class ModifiedClock:
    def __init__(self, hub: ReadModel, writer: Hub | None = None) -> None:
        """The `writer` saves the newest value in its meta table; a node that only follows the
        log starts from what the writer saved."""
        self.hub = hub
        self.writer = writer
        self._log_id = -1
        self._value = datetime.fromtimestamp(0, UTC)
        self._text = b""
        stored = hub.store.get_meta(META_KEY)
        if stored:
            log_id, _, stamp = stored.partition(" ")
            self._log_id = int(log_id)
            self._value = datetime.fromtimestamp(int(stamp), UTC)
            self._text = http_date(self._value).encode()
        self._unsaved: str | None = None
        self._writer: asyncio.Task[None] | None = None

    def current(self) -> tuple[datetime, bytes]:
        """The value at the hub's current log id, as a datetime and as the header bytes."""
        hub = self.hub
        if hub.last_event_id != self._log_id:
            head = hub.last_recorded_at or hub.started_at
            value = head.astimezone(UTC).replace(microsecond=0)
            if value <= self._value:
                value = self._value + timedelta(seconds=1)
            self._log_id, self._value = hub.last_event_id, value
            self._text = http_date(value).encode()
            self._persist()
        return self._value, self._text

    def _persist(self) -> None:
        """Save the newest value off the event loop; one write at a time, newest wins."""
        if self.writer is None:
            return
        self._unsaved = f"{self._log_id} {int(self._value.timestamp())}"
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.writer.store.set_meta(META_KEY, self._unsaved)
            self._unsaved = None
            return
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())

    async def _write(self) -> None:
        assert self.writer is not None
        while self._unsaved is not None:
            record, self._unsaved = self._unsaved, None
            await self.writer.write(self.writer.store.set_meta, META_KEY, record)

    def meta_time(self) -> str:
        """`meta.last_updated_at`: the same instant, as alerts.in.ua writes it."""
        value, _ = self.current()
        return value.strftime("%Y/%m/%d %H:%M:%S +0000")

"""An edge's private copy of the log when it has no database: the store its reads use.

Without `--db` an edge still answers everything that reads the log from a store (a stream
resumed from further back than the broadcaster's ring, an ended alert, the raw log) from this
copy: a SQLite file in a private temporary folder, removed when the edge stops, filled with
exactly the events the edge applied, in order. It is a cache of the stream, so it is written
without fsync; a crash loses it, and the next start folds the stream again.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tryvoha.alerts.model import Event
from tryvoha.store import SqlStore

log = logging.getLogger(__name__)


class Replica:
    """The copy's store (`store`, given to the edge's `LogView`) and `copy(events)` to extend it.

    `copy` runs in one thread at a time; reads may run beside it (SQLite WAL)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tryvoha-edge-", dir=folder))
        url = f"sqlite:///{self.folder / 'replica.db'}"
        self.store = SqlStore(url)
        self.store.without_fsync()
        self._lock = threading.Lock()

    @property
    def last_id(self) -> int:
        return self.store.last_event_id

    def copy(self, batch: Sequence[Event]) -> None:
        """Append events the log committed elsewhere, with their own ids; gapless, in order
        (events the copy already holds are skipped, so overlapping batches are harmless)."""
        with self._lock:
            last = self.store.last_event_id
            self.store.copy_events([e for e in batch if e.id > last])

    def close(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

"""Import a data set into the log: each row becomes a DECLARED and an ENDED event.

Rows are checked before anything is written (known place, end after start, no overlap with an
alert of the same place and threat, in the file or already in the log); the good rows go in
through `Hub.append_history`, in large batches, so imported events fold into the same state and
are never delivered to live listeners.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tryvoha.alerts.model import AlertStatus, EventDraft, EventKind, Threat
from tryvoha.history.sources import (
    OFFICIAL,
    READERS,
    HistoryRow,
    RowProblem,
    originator_of,
    row_key,
    source_of,
)
from tryvoha.hub import Hub
from tryvoha.store.timeutil import to_us

BATCH_ROWS = 10_000
Progress = Callable[[int, int], None]
"""Called with (rows done, rows to write)."""


@dataclass(frozen=True, slots=True)
class PermanentAlert:
    """An alert the data sets leave out because it never ended (occupied territory)."""

    name: str
    region_id: str
    started_at: datetime
    notes: str


PERMANENT_ALERTS = (
    PermanentAlert(
        "luhansk",
        "UA44000000000018893",
        datetime(2022, 4, 4, 16, 45, tzinfo=UTC),
        "permanent alert: Luhanska oblast has been under alert without interruption since "
        "2022-04-04 (not in the data set, which lists finished alerts only)",
    ),
    PermanentAlert(
        "crimea",
        "UA01000000000013043",
        datetime(2022, 12, 10, 22, 22, tzinfo=UTC),
        "permanent alert: the Autonomous Republic of Crimea has been under alert without "
        "interruption since 2022-12-10 (not in the data set, which lists finished alerts only)",
    ),
)


@dataclass(slots=True)
class ImportReport:
    dataset: str
    rows: int = 0
    imported: int = 0
    already: int = 0
    permanent: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    events: int = 0
    first_event_id: int | None = None
    last_event_id: int | None = None

    def summary(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "imported": self.imported,
            "already_imported": self.already,
            "permanent_alerts_added": self.permanent,
            "problems": len(self.problems),
            "events": self.events,
            "first_event_id": self.first_event_id,
            "last_event_id": self.last_event_id,
        }


def read_rows(
    dataset: str, path: str | Path, hub: Hub
) -> tuple[list[HistoryRow], list[RowProblem]]:
    if dataset not in READERS:
        raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(READERS)}")
    good: list[HistoryRow] = []
    bad: list[RowProblem] = []
    for item in READERS[dataset](path, hub.catalogue):
        if isinstance(item, HistoryRow):
            good.append(item)
        else:
            bad.append(item)
    return good, bad


async def import_file(
    hub: Hub,
    dataset: str,
    path: str | Path,
    progress: Progress | None = None,
    permanent: bool | None = None,
) -> ImportReport:
    """Import one data set file; rows already in the log are skipped, bad rows reported.

    `permanent` adds the two never-ended alerts (default: with the official data set).
    """
    rows, problems = read_rows(dataset, path, hub)
    report = ImportReport(dataset, rows=len(rows) + len(problems), problems=problems)
    source = source_of(dataset)
    done = await hub.read(hub.store.imported_keys, source)
    fresh = [r for r in rows if r.key not in done]
    report.already = len(rows) - len(fresh)
    accepted, overlaps = await hub.read(_without_overlaps, hub, fresh)
    report.problems.extend(overlaps)
    report.problems.sort(key=lambda p: p.line)
    if permanent if permanent is not None else dataset == OFFICIAL:
        extra = _permanent_drafts(hub, source, done, accepted)
    else:
        extra = []
    total = len(accepted)
    originator = originator_of(dataset)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, BATCH_ROWS):
        chunk = accepted[start : start + BATCH_ROWS]
        appended = await hub.append_history(_drafts(chunk, source, originator))
        _note(report, appended)
        report.imported += len(chunk)
        if progress is not None:
            progress(report.imported, total)
    if extra:
        _note(report, await hub.append_history(extra))
        report.permanent = len(extra)
    return report


def _note(report: ImportReport, appended: Sequence) -> None:
    if not appended:
        return
    report.events += len(appended)
    if report.first_event_id is None:
        report.first_event_id = appended[0].id
    report.last_event_id = appended[-1].id


def _drafts(rows: Iterable[HistoryRow], source: str, originator: str) -> list[EventDraft]:
    drafts: list[EventDraft] = []
    for k, row in enumerate(rows, 1):
        drafts.append(
            EventDraft(
                kind=EventKind.DECLARED,
                region_id=row.region_id,
                threat=Threat.AIR_RAID,
                status=AlertStatus.ACTUAL,
                occurred_at=row.started_at,
                originator=originator,
                notes=row.notes,
                alert_id=-k,
                source=source,
                idempotency_key=row.key,
            )
        )
        drafts.append(
            EventDraft(
                kind=EventKind.ENDED,
                region_id=row.region_id,
                threat=Threat.AIR_RAID,
                status=AlertStatus.ACTUAL,
                occurred_at=row.ended_at,
                originator=originator,
                notes=row.notes,
                alert_id=-k,
                source=source,
                idempotency_key=row.key + ":end",
            )
        )
    return drafts


def _permanent_drafts(
    hub: Hub, source: str, done: set[str], accepted: list[HistoryRow]
) -> list[EventDraft]:
    """Declarations of the never-ended alerts, unless already in the log or contradicted."""
    drafts = []
    for alert in PERMANENT_ALERTS:
        key = row_key(alert.region_id, alert.started_at, None)
        if key in done or alert.region_id not in hub.catalogue:
            continue
        if hub.state.open_alert(alert.region_id, Threat.AIR_RAID, AlertStatus.ACTUAL):
            continue
        if any(r.region_id == alert.region_id and r.ended_at > alert.started_at for r in accepted):
            continue
        log = _LogIntervals(_existing_intervals(hub, [alert.region_id]).get(alert.region_id, []))
        if log.overlapping(to_us(alert.started_at), _OPEN) is not None:
            continue
        drafts.append(
            EventDraft(
                kind=EventKind.DECLARED,
                region_id=alert.region_id,
                threat=Threat.AIR_RAID,
                status=AlertStatus.ACTUAL,
                occurred_at=alert.started_at,
                originator=originator_of(OFFICIAL),
                notes=alert.notes,
                source=source,
                idempotency_key=key,
            )
        )
    return drafts


def _without_overlaps(
    hub: Hub, rows: list[HistoryRow]
) -> tuple[list[HistoryRow], list[RowProblem]]:
    """Keep rows that overlap neither an alert already in the log nor an earlier row."""
    by_region: dict[str, list[HistoryRow]] = defaultdict(list)
    for row in rows:
        by_region[row.region_id].append(row)
    existing = _existing_intervals(hub, list(by_region))
    accepted: list[HistoryRow] = []
    problems: list[RowProblem] = []
    for region_id, region_rows in by_region.items():
        clash_with_log = _LogIntervals(existing.get(region_id, []))
        region_rows.sort(key=lambda r: (r.started_at, r.line))
        cover_end, cover_line = -1, 0
        for row in region_rows:
            start, end = to_us(row.started_at), to_us(row.ended_at)
            alert_id = clash_with_log.overlapping(start, end)
            if alert_id is not None:
                reason = f"overlaps alert {alert_id} already in the log (same place and threat)"
            elif cover_end > start:
                reason = f"overlaps the alert of line {cover_line} (same place and threat)"
            else:
                accepted.append(row)
                cover_end, cover_line = end, row.line
                continue
            problems.append(RowProblem(row.line, reason))
    accepted.sort(key=lambda r: (r.started_at, r.line))
    return accepted, problems


class _LogIntervals:
    """Alerts of one place already in the log, sorted by start, with a running max of ends."""

    def __init__(self, intervals: list[tuple[int, int, int]]) -> None:
        intervals.sort()
        self.starts = [i[0] for i in intervals]
        self.max_end: list[tuple[int, int]] = []
        best = (-1, 0)
        for _, end, alert_id in intervals:
            best = max(best, (end, alert_id))
            self.max_end.append(best)

    def overlapping(self, start: int, end: int) -> int | None:
        """The id of an alert that overlaps [start, end), if any."""
        k = bisect_left(self.starts, end)
        if k and self.max_end[k - 1][0] > start:
            return self.max_end[k - 1][1]
        return None


_OPEN = 2**62


def _existing_intervals(hub: Hub, region_ids: list[str]) -> dict[str, list[tuple[int, int, int]]]:
    """(start, end, alert id) of the log's actual air-raid alerts of these places (µs; an open
    alert ends at `_OPEN`)."""
    out: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for region_id, started, ended, alert_id in hub.store.alert_spans(
        region_ids, Threat.AIR_RAID, AlertStatus.ACTUAL
    ):
        out[region_id].append((started, _OPEN if ended is None else ended, alert_id))
    return out


def has_imported_history(hub: Hub) -> bool:
    """True when the log holds any imported (non-live) event."""
    return hub.store.any_event_from("import:")


__all__ = [
    "PERMANENT_ALERTS",
    "ImportReport",
    "has_imported_history",
    "import_file",
    "read_rows",
]

"""Readers of the public alert data sets: each CSV row becomes a region, a start and an end.

Rows are resolved to regions of the catalogue by their English names; a row that cannot be read
becomes a `RowProblem` naming its line and the reason, never an exception.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tryvoha.alerts import ranges
from tryvoha.regions import AmbiguousRegion, Catalogue, Level, UnknownRegion

OFFICIAL = "official"
VOLUNTEER = "volunteer"
DATASET_ORIGIN = "ukrainian-air-raid-sirens-dataset"
"""github.com/Vadimkin/ukrainian-air-raid-sirens-dataset (MIT, Vadym Klymenko)."""


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One past alert read from a data set; `key` identifies it across re-imports."""

    line: int
    region_id: str
    started_at: datetime
    ended_at: datetime
    key: str
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


def source_of(dataset: str) -> str:
    return f"import:{dataset}"


def originator_of(dataset: str) -> str:
    return f"{DATASET_ORIGIN}/{dataset}"


def row_key(region_id: str, started_at: datetime, ended_at: datetime | None) -> str:
    """Same alert, same key: re-importing a file (even reordered) adds nothing."""
    end = "open" if ended_at is None else ended_at.isoformat()
    text = f"{region_id}|{started_at.isoformat()}|{end}"
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def open_text(path: str | Path) -> io.TextIOBase:
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def parse_time(text: str, field: str = "time") -> datetime:
    """A data set's time, in UTC; `ValueError` when unreadable or outside the hub's range
    (2000-01-01T00:00Z to 5 minutes from now: a past alert cannot lie in the future)."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:  # the data sets are documented as UTC
        value = value.replace(tzinfo=UTC)
    latest = min(ranges.LATEST, datetime.now(UTC) + ranges.MAX_FUTURE)
    return ranges.check_time(value, field, latest).astimezone(UTC)


RESOLVER_CACHE = 4096
"""Distinct name chains remembered; the data sets repeat about 200."""
CACHED_CHAIN = 400
"""Characters of a chain worth remembering: real names are short, a longer one is resolved anew."""


class _Resolver:
    """Name → region id, cached per distinct name chain (the files repeat ~200 chains); the
    cache is a bounded LRU, so a file of ever new names costs no memory beyond it."""

    def __init__(self, catalogue: Catalogue, size: int = RESOLVER_CACHE) -> None:
        self.catalogue = catalogue
        self.size = size
        self._cache: OrderedDict[tuple[str, ...], str | Exception] = OrderedDict()

    def __call__(self, *chain: str) -> str:
        found = self._cache.get(chain)
        if found is None:
            try:
                found = self._resolve(*chain)
            except (UnknownRegion, AmbiguousRegion) as exc:
                found = exc
            if sum(map(len, chain)) <= CACHED_CHAIN:
                self._cache[chain] = found
                if len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(chain)
        if isinstance(found, Exception):
            raise found.with_traceback(None)  # a cached refusal must not pile up tracebacks
        return found

    def _resolve(self, level: str, oblast: str, raion: str = "", hromada: str = "") -> str:
        cat = self.catalogue
        try:
            region = cat.resolve(oblast, level=Level.OBLAST)
            if level in ("raion", "hromada"):
                region = cat.resolve(raion, level=Level.RAION, within=region)
            if level == "hromada":
                region = cat.resolve(hromada, level=Level.HROMADA, within=region)
            return region.id
        except (UnknownRegion, AmbiguousRegion):
            # A chain with its names in the wrong columns still names one place.
            region = cat.resolve_path(oblast, raion, hromada)
            if region.level.value != level:
                raise
            return region.id


def _check_level(level: str) -> None:
    if level not in ("oblast", "raion", "hromada"):
        raise ValueError(f"unknown level {level!r} (expected oblast, raion or hromada)")


def read_official(path: str | Path, catalogue: Catalogue) -> Iterator[HistoryRow | RowProblem]:
    """`oblast,raion,hromada,level,started_at,finished_at,source` (English names, UTC)."""
    resolve = _Resolver(catalogue)
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        _need_columns(reader, ("oblast", "raion", "hromada", "level", "started_at", "finished_at"))
        for line, rec in _numbered(reader):
            try:
                level = (rec["level"] or "").strip()
                _check_level(level)
                names = [(rec[c] or "").strip() for c in ("oblast", "raion", "hromada")]
                region_id = _region(resolve, level, *names)
                yield _row(line, region_id, rec["started_at"], rec["finished_at"])
            except _Problem as exc:
                yield RowProblem(line, str(exc))
            except ValueError as exc:
                yield RowProblem(line, str(exc))


def read_volunteer(path: str | Path, catalogue: Catalogue) -> Iterator[HistoryRow | RowProblem]:
    """`region,started_at,finished_at,naive`: oblast level; `naive` ends are estimates."""
    resolve = _Resolver(catalogue)
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        _need_columns(reader, ("region", "started_at", "finished_at"))
        for line, rec in _numbered(reader):
            try:
                region_id = _region(resolve, "oblast", (rec["region"] or "").strip())
                naive = (rec.get("naive") or "").strip().lower() == "true"
                notes = "end not reported; estimated as start + 30 min" if naive else None
                yield _row(line, region_id, rec["started_at"], rec["finished_at"], notes)
            except (_Problem, ValueError) as exc:
                yield RowProblem(line, str(exc))


READERS = {OFFICIAL: read_official, VOLUNTEER: read_volunteer}


class _Problem(Exception):
    pass


def _need_columns(reader: csv.DictReader, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"not this data set: missing columns {', '.join(missing)}")


def _numbered(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Each record with the file line it starts on, as `DictReader` would give it (blank lines
    skipped, missing fields None): a quoted field may hold line breaks, so counting records
    would drift from the file's lines."""
    names = list(reader.fieldnames or ())
    rows = reader.reader
    end = rows.line_num
    for row in rows:
        start, end = end + 1, rows.line_num
        if row:
            yield start, {name: row[i] if i < len(row) else None for i, name in enumerate(names)}


def _region(resolve: _Resolver, level: str, *names: str) -> str:
    try:
        return resolve(level, *names)
    except (UnknownRegion, AmbiguousRegion) as exc:
        place = " / ".join(n for n in names if n)
        raise _Problem(f"unknown place {place!r} ({level}): {exc}") from None


def _row(
    line: int, region_id: str, start: str | None, end: str | None, notes: str | None = None
) -> HistoryRow:
    try:
        started_at = parse_time(start or "", "started_at")
        ended_at = parse_time(end or "", "finished_at")
    except ranges.OutOfRange as exc:
        raise _Problem(exc.message) from None
    except ValueError:
        raise _Problem(f"unreadable time {(start or '')[:40]!r} / {(end or '')[:40]!r}") from None
    if ended_at <= started_at:
        raise _Problem(
            f"ends before it starts ({ended_at.isoformat()} <= {started_at.isoformat()})"
        )
    return HistoryRow(
        line, region_id, started_at, ended_at, row_key(region_id, started_at, ended_at), notes
    )

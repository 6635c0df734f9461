"""`tryvoha attacks import`: the data set into the store's ledger, idempotently.

Re-importing the same file adds nothing; a row whose values changed upstream is updated in place
(its key is its window, model, channel and place among rows sharing those, never its figures);
rows that no longer appear in the file are kept and counted, or removed with `prune`. Bad rows
are listed with their line numbers and left out; `strict` refuses the whole file instead. A file
that is not this data set changes nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tryvoha.history.attacks import source as src
from tryvoha.history.attacks.weapons import KIND_OF, Kind, classify
from tryvoha.history.sources import RowProblem
from tryvoha.store import SqlStore
from tryvoha.store import attacks as ledger_store
from tryvoha.store.attacks import CoverInput, WriteCounts
from tryvoha.store.timeutil import to_us

REFERENCE_NAME = "missiles_and_uavs.csv"
Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total)."""


@dataclass(slots=True)
class AttacksImport:
    file: str
    weapons_file: str
    records: int = 0
    read: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[RowProblem] = field(default_factory=list)
    counts: WriteCounts = field(default_factory=WriteCounts)
    models: int = 0
    split_rows: int = 0
    licence: str = src.LICENCE
    attribution: str = src.ATTRIBUTION

    def summary(self) -> dict[str, Any]:
        c = self.counts
        return {
            "file": self.file,
            "weapons_file": self.weapons_file,
            "records": self.records,
            "read": self.read,
            "problems": len(self.problems),
            "notes": len(self.notes),
            "added": c.added,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "removed": c.removed,
            "not_in_file": c.not_in_file,
            "attacks_added": c.attacks_added,
            "rows_covered_by_national_reports": c.covered,
            "split_rows": self.split_rows,
            "weapon_models": self.models,
            "licence": self.licence,
            "attribution": self.attribution,
        }


def default_reference(path: str | Path) -> Path:
    return Path(path).with_name(REFERENCE_NAME)


def import_attacks(
    store: SqlStore,
    path: str | Path,
    weapons: str | Path | None = None,
    *,
    progress: Progress | None = None,
    strict: bool = False,
    prune: bool = False,
    licence: str = src.LICENCE,
    attribution: str = src.ATTRIBUTION,
    now: datetime | None = None,
) -> AttacksImport:
    """Read both files completely, then write in one transaction; raises `AttacksFileError`
    (nothing written) for a file that is not the data set, or any bad row when `strict`."""
    weapons_path = Path(weapons) if weapons is not None else default_reference(path)
    if weapons is None and not weapons_path.is_file():
        raise src.AttacksFileError(
            f"no weapon reference beside {Path(path).name} (looked for {weapons_path}); "
            "pass it with --weapons PATH"
        )
    reference = src.read_reference(weapons_path)
    read = src.read_attacks(path, reference.models)
    report = AttacksImport(
        str(path),
        str(weapons_path),
        read.records,
        len(read.rows),
        read.problems,
        reference.notes + read.notes,
        licence=licence,
        attribution=attribution,
    )
    if strict and read.problems:
        first = read.problems[0]
        raise src.AttacksFileError(
            f"{len(read.problems)} rows cannot be read (first: line {first.line}: "
            f"{first.reason}); nothing imported"
        )
    total = len(read.rows)
    if progress is not None:
        progress("read", total, total)
    attacks_by_key: dict[str, dict[str, Any]] = {}
    rows, parts = [], {}
    for row in read.rows:
        if row.attack_key not in attacks_by_key:
            attacks_by_key[row.attack_key] = _attack_record(row)
        rows.append(_row_record(row))
        if row.parts:
            parts[row.key] = [_part_record(p) for p in row.parts]
    report.split_rows = len(parts)
    models = [
        {
            "model": ref.model,
            "category": ref.category,
            "weapon_class": classify(ref.model, reference.models).weapon_class.value,
            "details": orjson.dumps(dict(ref.details)).decode(),
        }
        for ref in reference.models.values()
    ]
    report.models = len(models)
    record = {
        "imported_at": to_us(now or datetime.now(UTC)),
        "dataset": src.DATASET,
        "file_name": Path(path).name[:300],
        "file_sha256": read.sha256,
        "weapons_file_name": weapons_path.name[:300],
        "weapons_sha256": reference.sha256,
        "records": read.records,
        "problems": len(read.problems),
        "licence": licence,
        "licence_url": src.LICENCE_URL,
        "attribution": attribution,
        "source_url": src.SOURCE_URL,
    }
    report.counts = ledger_store.apply_import(
        store,
        models=models,
        attack_records=list(attacks_by_key.values()),
        rows=rows,
        parts=parts,
        record=record,
        cover=cover,
        prune=prune,
    )
    if progress is not None:
        progress("write", total, total)
    return report


def _attack_record(row: src.AttackRow) -> dict[str, Any]:
    w = row.window
    return {
        "key": row.attack_key,
        "starts_at": to_us(w.start),
        "ends_at": to_us(w.end),
        "start_text": w.start_text,
        "end_text": w.end_text,
        "date_only": w.date_only,
        "channel": row.channel[:200],
        "reporter": row.reporter.label[:200],
        "level": row.reporter.level,
        "report_day": w.report_day.isoformat(),
        "start_day": w.start_day.isoformat(),
        "night_day": w.night.isoformat(),
    }


def _row_record(row: src.AttackRow) -> dict[str, Any]:
    c = row.classified
    return {
        "key": row.key,
        "attack_key": row.attack_key,
        "line": row.line,
        "digest": row.digest,
        "model": row.model[:200],
        "weapon_class": c.weapon_class.value,
        "classes": ",".join(x.value for x in c.classes)[:200],
        "kind": c.kind.value,
        "split": bool(row.parts),
        **row.counts,
        **row.texts,
        **row.details,
        "post": row.post,
        "covered_by": None,
    }


def _part_record(part: src.Part) -> dict[str, Any]:
    return {
        "model": part.model[:200],
        "weapon_class": part.weapon_class.value,
        "kind": KIND_OF[part.weapon_class].value,
        "launched": part.launched,
        "launch_place": part.launch_place,
    }


# Keeping sources apart --------------------------------------------------------------------------

COVER_RULE = (
    "A regional or other report's row is not added to the national figures when a national "
    "report's window overlaps its window and that national report counts weapons of the same "
    "kind (drones, missiles or bombs): the Air Force's national tally already holds what its "
    "regional commands shot down. Rows of a kind no overlapping national report mentions are "
    "added. Windows given by date only span the whole Kyiv day."
)
_LONGEST = int(src.MAX_WINDOW.total_seconds()) * 1_000_000


def cover(inputs: list[CoverInput]) -> dict[int, int | None]:
    """For every row: the national attack whose report already counts it, or None.

    National rows are never covered. A row of mixed or unknown kind is covered by an
    overlapping national report of any kind."""
    national: dict[str, list[tuple[int, int, int]]] = {}
    for i in inputs:
        if i.level == src.NATIONAL:
            national.setdefault(i.kind, []).append((i.starts_at, i.ends_at, i.attack_id))
    indexed = {}
    for kind, windows in national.items():
        unique = sorted(set(windows))
        indexed[kind] = ([w[0] for w in unique], unique)
    everything = sorted({w for ws in national.values() for w in ws})
    indexed["*"] = ([w[0] for w in everything], everything)
    out: dict[int, int | None] = {}
    for i in inputs:
        if i.level == src.NATIONAL:
            out[i.row_id] = None
            continue
        key = i.kind if i.kind in (k.value for k in (Kind.DRONE, Kind.MISSILE, Kind.BOMB)) else "*"
        starts, windows = indexed.get(key, ([], []))
        out[i.row_id] = _first_overlap(starts, windows, i.starts_at, i.ends_at)
    return out


def _first_overlap(
    starts: list[int], windows: list[tuple[int, int, int]], s: int, e: int
) -> int | None:
    hi = bisect_right(starts, e)
    lo = bisect_right(starts, s - _LONGEST - 1)
    for ws, we, attack_id in windows[lo:hi]:
        if overlaps(ws, we, s, e):
            return attack_id
    return None


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Windows overlap when they share some time; a window of no length (one instant) overlaps
    a window that holds that instant, its ends included."""
    if a_start == a_end or b_start == b_end:
        return a_start <= b_end and b_start <= a_end
    return a_start < b_end and b_start < a_end


__all__ = ["COVER_RULE", "AttacksImport", "cover", "import_attacks", "overlaps"]

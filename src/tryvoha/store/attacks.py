"""The attacks ledger in the store: every SQL statement over its tables, on SQLite and PostgreSQL.

The importer hands over plain column dicts; `apply_import` writes them in one transaction (a
failure leaves the ledger as it was). Readers get plain dicts back. Figures by class and model
come from *lines*: a row as it is, or, for a combined row the data set splits, one line per
model with its launched count plus one line with the row's other figures (shot down, lost…),
which the data set does not split; so every figure adds up to the rows' own sums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Connection

from tryvoha.store.schema import (
    alerts,
    attack_imports,
    attack_models,
    attack_parts,
    attack_rows,
    attacks,
)
from tryvoha.store.sql import SqlStore

CHUNK = 500
DAY_COLUMNS = {"report": "report_day", "start": "start_day", "night": "night_day"}
FIGURES = ("launched", "destroyed", "lost", "in_air", "shaheds", "hit_places", "debris_places")
_ATTACK_FIELDS = (
    "starts_at",
    "ends_at",
    "start_text",
    "end_text",
    "date_only",
    "channel",
    "reporter",
    "level",
    "report_day",
    "start_day",
    "night_day",
)


@dataclass(frozen=True, slots=True)
class CoverInput:
    """What the rule that keeps sources apart needs of each row."""

    row_id: int
    attack_id: int
    level: str
    kind: str
    starts_at: int
    ends_at: int
    covered_by: int | None


@dataclass(slots=True)
class WriteCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    not_in_file: int = 0
    attacks_added: int = 0
    covered: int = 0
    import_id: int = 0


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows: a date range on one of the day columns (Kyiv dates, both ends included),
    reporting levels, only rows counted under 'all sources', and a class or kind."""

    basis: str = "report"
    since: str | None = None
    until: str | None = None
    levels: tuple[str, ...] = ("national",)
    counted_only: bool = False
    selection: tuple[str, str] | None = None


def _dicts(result: Any) -> list[dict[str, Any]]:
    """Result rows as plain dicts (zipping the keys once is twice as fast as row mappings)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


# Writing ----------------------------------------------------------------------------------------


def apply_import(
    store: SqlStore,
    *,
    models: Sequence[dict[str, Any]],
    attack_records: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    parts: dict[str, list[dict[str, Any]]],
    record: dict[str, Any],
    cover: Callable[[list[CoverInput]], dict[int, int | None]],
    prune: bool = False,
) -> WriteCounts:
    """Bring the ledger in line with one file: new rows in, changed rows updated, unchanged rows
    left alone; rows no longer in the file are kept (counted) or, with `prune`, removed.

    `rows` carry `attack_key` (the key of their attack in `attack_records`); `parts` maps a row
    key to its split parts. `cover` decides every row's `covered_by` over the whole ledger."""
    counts = WriteCounts()
    with store.engine.begin() as conn:
        conn.execute(delete(attack_models))
        if models:
            conn.execute(insert(attack_models), list(models))
        ids = _write_attacks(conn, attack_records, counts)
        row_ids = _write_rows(conn, rows, ids, parts, counts, prune)
        counts.not_in_file = 0 if prune else _count_rows(conn) - len(row_ids)
        if prune:
            gone = select(attack_rows.c.attack_id)
            conn.execute(delete(attacks).where(attacks.c.id.not_in(gone)))
        counts.covered = _apply_cover(conn, cover)
        values = {**record, **_record_counts(counts)}
        inserted = conn.execute(insert(attack_imports).values(**values)).inserted_primary_key
        assert inserted is not None
        counts.import_id = inserted[0]
    return counts


def _record_counts(counts: WriteCounts) -> dict[str, int]:
    return {
        "added": counts.added,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "removed": counts.removed,
    }


def _write_attacks(
    conn: Connection, records: Sequence[dict[str, Any]], counts: WriteCounts
) -> dict[str, int]:
    current = {r.key: r for r in conn.execute(select(attacks))}
    new = [a for a in records if a["key"] not in current]
    changed = [
        {"b_key": a["key"], **{f: a[f] for f in _ATTACK_FIELDS}}
        for a in records
        if a["key"] in current
        and any(getattr(current[a["key"]], f) != a[f] for f in _ATTACK_FIELDS)
    ]
    if new:
        conn.execute(insert(attacks), new)
    if changed:
        conn.execute(update(attacks).where(attacks.c.key == bindparam("b_key")), changed)
    counts.attacks_added = len(new)
    return {key: attack_id for key, attack_id in conn.execute(select(attacks.c.key, attacks.c.id))}


def _write_rows(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    attack_ids: dict[str, int],
    parts: dict[str, list[dict[str, Any]]],
    counts: WriteCounts,
    prune: bool,
) -> set[int]:
    query = select(attack_rows.c.key, attack_rows.c.id, attack_rows.c.digest, attack_rows.c.line)
    current = {key: (row_id, digest, line) for key, row_id, digest, line in conn.execute(query)}
    new, changed, moved = [], [], []
    for row in rows:
        values = {k: v for k, v in row.items() if k != "attack_key"}
        values["attack_id"] = attack_ids[row["attack_key"]]
        known = current.get(row["key"])
        if known is None:
            new.append(values)
        elif known[1] != row["digest"]:
            changed.append({"b_key": row["key"], **values})
        elif known[2] != row["line"]:
            moved.append({"b_key": row["key"], "line": row["line"]})
    counts.added, counts.updated = len(new), len(changed)
    counts.unchanged = len(rows) - len(new) - len(changed)
    if new:
        conn.execute(insert(attack_rows), new)
    by_key = attack_rows.c.key == bindparam("b_key")
    for batch in (changed, moved):
        if batch:
            conn.execute(update(attack_rows).where(by_key), batch)
    file_keys = {row["key"] for row in rows}
    new_ids = _ids_of(conn, [r["key"] for r in new])
    touched = {**new_ids, **{r["b_key"]: current[r["b_key"]][0] for r in changed}}
    if changed:
        _delete_parts(conn, [current[r["b_key"]][0] for r in changed])
    part_rows = [
        {**part, "row_id": row_id} for key, row_id in touched.items() for part in parts.get(key, ())
    ]
    if part_rows:
        conn.execute(insert(attack_parts), part_rows)
    stale = [row_id for key, (row_id, _, _) in current.items() if key not in file_keys]
    if prune and stale:
        _delete_parts(conn, stale)
        for start in range(0, len(stale), CHUNK):
            conn.execute(
                delete(attack_rows).where(attack_rows.c.id.in_(stale[start : start + CHUNK]))
            )
        counts.removed = len(stale)
    return {row_id for key, (row_id, _, _) in current.items() if key in file_keys} | set(
        new_ids.values()
    )


def _ids_of(conn: Connection, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        query = select(attack_rows.c.key, attack_rows.c.id).where(attack_rows.c.key.in_(chunk))
        found.update((key, row_id) for key, row_id in conn.execute(query))
    return found


def _delete_parts(conn: Connection, row_ids: list[int]) -> None:
    for start in range(0, len(row_ids), CHUNK):
        chunk = row_ids[start : start + CHUNK]
        conn.execute(delete(attack_parts).where(attack_parts.c.row_id.in_(chunk)))


def _count_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(attack_rows)).scalar_one())


def _apply_cover(
    conn: Connection, cover: Callable[[list[CoverInput]], dict[int, int | None]]
) -> int:
    query = select(
        attack_rows.c.id,
        attacks.c.id,
        attacks.c.level,
        attack_rows.c.kind,
        attacks.c.starts_at,
        attacks.c.ends_at,
        attack_rows.c.covered_by,
    ).join(attacks, attacks.c.id == attack_rows.c.attack_id)
    inputs = [CoverInput(*r) for r in conn.execute(query)]
    wanted = cover(inputs)
    changes = [
        {"b_id": i.row_id, "covered_by": wanted.get(i.row_id)}
        for i in inputs
        if wanted.get(i.row_id) != i.covered_by
    ]
    if changes:
        conn.execute(update(attack_rows).where(attack_rows.c.id == bindparam("b_id")), changes)
    return sum(1 for v in wanted.values() if v is not None)


# Reading ----------------------------------------------------------------------------------------


def latest_import(store: SqlStore) -> dict[str, Any] | None:
    query = select(attack_imports).order_by(attack_imports.c.id.desc()).limit(1)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else dict(row._mapping)


def ledger_size(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        n_attacks = conn.execute(select(func.count()).select_from(attacks)).scalar_one()
        n_rows = conn.execute(select(func.count()).select_from(attack_rows)).scalar_one()
    return {"attacks": int(n_attacks), "rows": int(n_rows)}


def list_attacks(
    store: SqlStore, f: Filters, after: tuple[int, int] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Attacks with at least one row the filters select, by window start then id; `after` is
    the (starts_at, id) of the last attack of the previous page."""
    conditions = _attack_conditions(f)
    if f.counted_only or f.selection is not None:
        conditions.append(_has_rows(f))
    if after is not None:
        starts, attack_id = after
        conditions.append(
            or_(
                attacks.c.starts_at > starts,
                and_(attacks.c.starts_at == starts, attacks.c.id > attack_id),
            )
        )
    query = (
        select(attacks).where(*conditions).order_by(attacks.c.starts_at, attacks.c.id).limit(limit)
    )
    with store.engine.connect() as conn:
        return _dicts(conn.execute(query))


def _has_rows(f: Filters) -> Any:
    """The attack has a row counted under the filters, of their class or kind (or a combined
    row one of whose models is)."""
    r, p = attack_rows, attack_parts
    where: list[Any] = [r.c.attack_id == attacks.c.id]
    if f.counted_only:
        where.append(r.c.covered_by.is_(None))
    if f.selection is not None:
        column, value = f.selection
        name = "weapon_class" if column == "class" else "kind"
        part = exists(select(p.c.id).where(p.c.row_id == r.c.id, p.c[name] == value))
        where.append(or_(r.c[name] == value, and_(r.c.split == true(), part)))
    return exists(select(r.c.id).where(*where))


def _attack_conditions(f: Filters) -> list[Any]:
    day = attacks.c[DAY_COLUMNS[f.basis]]
    out: list[Any] = [attacks.c.level.in_(f.levels)]
    if f.since is not None:
        out.append(day >= f.since)
    if f.until is not None:
        out.append(day <= f.until)
    return out


def _line_filters(f: Filters, lines: Any) -> list[Any]:
    out: list[Any] = []
    if f.counted_only:
        out.append(lines.c.covered_by.is_(None))
    if f.selection is not None:
        column, value = f.selection
        out.append(lines.c.weapon_class == value if column == "class" else lines.c.kind == value)
    return out


def get_attacks(store: SqlStore, attack_ids: Iterable[int]) -> list[dict[str, Any]]:
    ids = list(attack_ids)
    found: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            query = select(attacks).where(attacks.c.id.in_(ids[start : start + CHUNK]))
            found.extend(_dicts(conn.execute(query)))
    return found


def rows_of(store: SqlStore, attack_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Each attack's rows (in file order), each with its split `parts` (possibly empty)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in attack_ids}
    ids = list(attack_ids)
    with store.engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            query = (
                select(attack_rows)
                .where(attack_rows.c.attack_id.in_(chunk))
                .order_by(attack_rows.c.attack_id, attack_rows.c.line, attack_rows.c.id)
            )
            rows = _dicts(conn.execute(query))
            split = [r["id"] for r in rows if r["split"]]
            parts: dict[int, list[dict[str, Any]]] = {}
            if split:
                query = (
                    select(attack_parts)
                    .where(attack_parts.c.row_id.in_(split))
                    .order_by(attack_parts.c.id)
                )
                for part in _dicts(conn.execute(query)):
                    parts.setdefault(part["row_id"], []).append(part)
            for r in rows:
                r["parts"] = parts.get(r["id"], [])
                out[r["attack_id"]].append(r)
    return out


def _lines() -> Any:
    """Rows that are not split, the parts of split rows (launched only) and the rest of each
    split row (every figure but launched), as one relation with the same columns."""
    r, p = attack_rows, attack_parts
    blank = cast(null(), Integer)
    others = [r.c[name] for name in FIGURES[1:]]
    common = [r.c.covered_by, r.c.attack_id]
    whole = select(
        r.c.id.label("row_id"),
        literal("row").label("piece"),
        r.c.model,
        r.c.weapon_class,
        r.c.kind,
        r.c.launched,
        *others,
        *common,
    ).where(r.c.split == false())
    pieces = select(
        r.c.id,
        literal("part"),
        p.c.model,
        p.c.weapon_class,
        p.c.kind,
        p.c.launched,
        *(blank.label(name) for name in FIGURES[1:]),
        *common,
    ).join(r, r.c.id == p.c.row_id)
    rest = select(
        r.c.id,
        literal("rest"),
        r.c.model,
        r.c.weapon_class,
        r.c.kind,
        blank.label("launched"),
        *others,
        *common,
    ).where(r.c.split == true())
    return union_all(whole, pieces, rest).subquery("lines")


def totals(store: SqlStore, f: Filters, by: str, then: str | None = None) -> list[dict[str, Any]]:
    """Sums of every figure per group: a day, month or year of the chosen date basis, a weapon
    class or model, a reporter or reporting level; `all` gives one row for everything. `then`
    splits each group again (e.g. month, then class) into `key2`."""
    lines = _lines()
    day = attacks.c[DAY_COLUMNS[f.basis]]
    keys = {
        "day": day,
        "month": func.substr(day, 1, 7),
        "year": func.substr(day, 1, 4),
        "class": lines.c.weapon_class,
        "model": lines.c.model,
        "reporter": attacks.c.reporter,
        "level": attacks.c.level,
        "all": func.min(day),
    }
    key = keys[by]
    second = [] if then is None else [keys[then].label("key2")]
    sums = [func.sum(lines.c[name]).label(name) for name in FIGURES]
    unlaunched = case((and_(lines.c.piece == "row", lines.c.launched.is_(None)), lines.c.row_id))
    query = (
        select(
            key.label("key"),
            *second,
            func.count(func.distinct(attacks.c.id)).label("attacks"),
            func.count(func.distinct(lines.c.row_id)).label("rows"),
            *sums,
            func.sum(case((lines.c.shaheds.is_not(None), lines.c.launched), else_=0)).label(
                "launched_with_shaheds"
            ),
            func.count(func.distinct(case((lines.c.shaheds.is_not(None), lines.c.row_id)))).label(
                "rows_with_shaheds"
            ),
            func.count(func.distinct(unlaunched)).label("rows_without_launched"),
        )
        .select_from(lines.join(attacks, attacks.c.id == lines.c.attack_id))
        .where(*_attack_conditions(f), *_line_filters(f, lines))
    )
    if by != "all":
        grouping = [key] if then is None else [key, keys[then]]
        query = query.group_by(*grouping).order_by(*grouping)
    with store.engine.connect() as conn:
        found = _dicts(conn.execute(query))
    return [row for row in found if row["rows"]]


def lines_of_period(store: SqlStore, since: str, until: str) -> list[dict[str, Any]]:
    """Every line (see `_lines`) of the attacks filed under [since, until] on any date basis,
    with its attack's level and day columns: the raw material for comparing readings in one
    pass."""
    lines = _lines()
    columns = [attacks.c[c] for c in DAY_COLUMNS.values()]
    query = (
        select(lines, attacks.c.level, *columns)
        .select_from(lines.join(attacks, attacks.c.id == lines.c.attack_id))
        .where(or_(*(and_(c >= since, c <= until) for c in columns)))
    )
    with store.engine.connect() as conn:
        return _dicts(conn.execute(query))


# The alert record beside the ledger ----------------------------------------------------------


def alert_record_spans(store: SqlStore) -> list[tuple[str, int, int | None]]:
    """Per source of the alert log: the first start and the last end of its actual air-raid
    alerts (None when none has ended). They change only when the log moves on."""
    query = (
        select(alerts.c.source, func.min(alerts.c.started_at), func.max(alerts.c.ended_at))
        .where(alerts.c.threat == "air_raid", alerts.c.status == "actual")
        .group_by(alerts.c.source)
    )
    with store.engine.connect() as conn:
        return [
            (str(source), int(first), None if last is None else int(last))
            for source, first, last in conn.execute(query)
            if first is not None
        ]

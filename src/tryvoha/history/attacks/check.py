"""Checking a quoted figure: what the data gives under every reading, and how far the quote is.

A number in the news ("a record 5,337 drones in June") rests on choices it rarely states: which
date an attack counts on (the morning report, the day it began, the night), whose reports
(the national Air Force tally, or the regional commands too), which weapons (Shahed-type drones
with their decoys, without them, every drone). `check` computes the figure under each of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tryvoha.history.attacks import ledger
from tryvoha.history.attacks.weapons import GROUPS, KIND_OF, LABELS, WeaponClass, selection
from tryvoha.store import SqlStore
from tryvoha.store import attacks as ledger_store

FIGURES = {
    "launched": "launched",
    "neutralised": "neutralised (shot down + locationally lost)",
    "shot_down": "shot down",
    "lost_locally": "locationally lost",
    "in_air": "still in the air at the report",
}
MAX_QUOTED = 10_000_000
SHAHEDS_ONLY = "shaheds_only"
ADDED_UP = "added_up"
ADDED_UP_TEXT = (
    "every report added up as published (national, regional and other rows together): what a "
    "regional command reports of a night the national report already counts is counted twice; "
    "not a reading of the ledger, shown only because quotes are sometimes made this way"
)


@dataclass(frozen=True, slots=True)
class Period:
    since: date
    until: date
    label: str


_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_period(text: str) -> Period:
    """`2025`, `2025-06`, `2025-07-04`, or `2025-06-01..2025-06-15` (Kyiv dates, inclusive)."""
    value = text.strip()
    if ".." in value:
        a, b = value.split("..", 1)
        since, until = ledger.parse_day(a, "period start"), ledger.parse_day(b, "period end")
        if until < since:
            raise ledger.LedgerError(f"the period {value!r} ends before it starts")
        return Period(since, until, value)
    found = _PERIOD.match(value)
    if not found:
        raise ledger.LedgerError(
            f"period must be YYYY, YYYY-MM, YYYY-MM-DD or FROM..TO, not {value[:40]!r}"
        )
    year, month, day_of_month = found.groups()
    y = int(year)
    try:
        if month is None:
            since, until = date(y, 1, 1), date(y, 12, 31)
        elif day_of_month is None:
            m = int(month)
            since = date(y, m, 1)
            until = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
        else:
            since = until = date(y, int(month), int(day_of_month))
    except ValueError as exc:
        raise ledger.LedgerError(f"period {value!r} is not a real date: {exc}") from None
    for day in (since, until):
        if not ledger.FIRST_DAY <= day <= ledger.LAST_DAY:
            raise ledger.LedgerError(
                f"period must lie within {ledger.FIRST_DAY}..{ledger.LAST_DAY}"
            )
    return Period(since, until, value)


def weapon_readings(what: str) -> list[tuple[str | None, str]]:
    """(weapons selection, description) to try for `drones`, `missiles`, `all` or a class."""
    every = (None, "every weapon")
    if what == "drones":
        return [
            ("attack_drone", "Shahed-type attack drones, decoys included"),
            (SHAHEDS_ONLY, "attack Shaheds only, decoys left out (where the report splits them)"),
            ("drones", "every drone (Shahed-type, strike, reconnaissance, unknown)"),
            every,
        ]
    if what == "missiles":
        return [("missiles", GROUPS["missiles"]), every]
    if what == "all":
        return [every]
    kind, value = selection(what)
    if kind == "kind":
        return [(value + "s", GROUPS[value + "s"]), every]
    cls = WeaponClass(value)
    group = KIND_OF[cls].value + "s"
    out: list[tuple[str | None, str]] = [(value, LABELS[cls])]
    if group in GROUPS:
        out.append((group, GROUPS[group]))
    return [*out, every]


def check(
    store: SqlStore,
    period: Period,
    what: str = "all",
    figure: str = "launched",
    quoted: int | None = None,
) -> dict[str, Any]:
    if figure not in FIGURES:
        raise ledger.LedgerError(f"figure must be one of {', '.join(FIGURES)}, not {figure!r}")
    if quoted is not None and not 0 <= quoted <= MAX_QUOTED:
        raise ledger.LedgerError(f"quoted must be a whole number from 0 to {MAX_QUOTED:,}")
    try:
        weapons = weapon_readings(what.strip().lower())
    except ValueError as exc:
        raise ledger.LedgerError(str(exc)) from None
    terms = ledger.licence(store)
    since, until = period.since.isoformat(), period.until.isoformat()
    found = ledger_store.lines_of_period(store, since, until)
    groups = {
        basis: _groups(x for x in found if since <= x[ledger_store.DAY_COLUMNS[basis]] <= until)
        for basis in ledger.BASES
    }
    readings = []
    for weapon, described in weapons:
        if weapon == SHAHEDS_ONLY and figure != "launched":
            continue
        for basis in ledger.BASES:
            for sources in ("national", "all", ADDED_UP):
                total = _sums(groups[basis], weapon, sources)
                context = (weapon is None and what != "all") or sources == ADDED_UP
                readings.append(
                    _reading(context, total, weapon, described, basis, sources, figure, quoted)
                )
    if quoted is not None:
        readings.sort(key=lambda r: (r["context"], r["value"] is None, abs(r["difference"] or 0)))
    return {
        "period": {
            "label": period.label,
            "from": period.since.isoformat(),
            "to": period.until.isoformat(),
        },
        "what": what,
        "figure": figure,
        "quoted": quoted,
        "readings": readings,
        "verdict": verdict(readings, quoted, figure),
        "definitions": {
            "basis": ledger.BASIS_TEXT,
            "sources": {
                **{k: ledger.SOURCES_TEXT[k] for k in ("national", "all")},
                ADDED_UP: ADDED_UP_TEXT,
            },
            "context": "readings of every weapon in a narrower check, and added_up readings, "
            "explain a quote; the verdict compares with them only when no other reading fits",
            "figure": FIGURES[figure],
            "difference": "quoted − value: positive when the quote is higher than the data",
            **ledger.DEFINITIONS,
        },
        **{k: terms[k] for k in ("licence", "licence_url", "attribution", "source_url")},
    }


_Group = tuple[bool, bool, str, str]
"""(national report?, counted under all sources?, weapon class, kind)"""


def _groups(lines: Iterable[dict[str, Any]]) -> dict[_Group, dict[str, Any]]:
    """The period's lines summed once per group, so every reading is a merge of a few groups."""
    out: dict[_Group, dict[str, Any]] = {}
    for x in lines:
        key = (x["level"] == "national", x["covered_by"] is None, x["weapon_class"], x["kind"])
        g = out.get(key)
        if g is None:
            g = out[key] = {
                "attacks": set(),
                "rows": set(),
                "shahed_rows": set(),
                "without": set(),
                "launched_with_shaheds": 0,
                **{name: None for name in ledger_store.FIGURES},
            }
        g["attacks"].add(x["attack_id"])
        g["rows"].add(x["row_id"])
        if x["shaheds"] is not None:
            g["shahed_rows"].add(x["row_id"])
            g["launched_with_shaheds"] += x["launched"] or 0
        if x["piece"] == "row" and x["launched"] is None:
            g["without"].add(x["row_id"])
        for name in ledger_store.FIGURES:
            if x[name] is not None:
                g[name] = (g[name] or 0) + x[name]
    return out


def _sums(groups: dict[_Group, dict[str, Any]], weapon: str | None, sources: str) -> dict:
    """The figures of one reading, merged from its groups (None where no line gives one)."""
    chosen = (
        None if weapon is None else selection("attack_drone" if weapon == SHAHEDS_ONLY else weapon)
    )
    picked = []
    for (is_national, counted, weapon_class, kind), g in groups.items():
        if sources == "national" and not is_national:
            continue
        if sources == "all" and not counted:
            continue  # added_up keeps every row
        if chosen is not None and chosen[1] != (weapon_class if chosen[0] == "class" else kind):
            continue
        picked.append(g)
    union = lambda name: set().union(*(g[name] for g in picked))  # noqa: E731
    out: dict[str, Any] = {
        "attacks": len(union("attacks")),
        "rows": len(union("rows")),
        "rows_with_shaheds": len(union("shahed_rows")),
        "launched_with_shaheds": sum(g["launched_with_shaheds"] for g in picked),
        "rows_without_launched": len(union("without")),
    }
    for name in ledger_store.FIGURES:
        given = [g[name] for g in picked if g[name] is not None]
        out[name] = sum(given) if given else None
    out["neutralised"] = ledger.neutralised(out["destroyed"], out["lost"])
    out["shot_down"], out["lost_locally"] = out["destroyed"], out["lost"]
    return out


def _reading(
    context: bool,
    total: dict[str, Any],
    weapon: str | None,
    described: str,
    basis: str,
    sources: str,
    figure: str,
    quoted: int | None,
) -> dict[str, Any]:
    note = None
    complete = True
    if weapon == SHAHEDS_ONLY:
        value = total["shaheds"]
        rows, given = total["rows"], total["rows_with_shaheds"]
        complete = rows > 0 and given == rows
        if rows and not given:
            note = "no report of the period splits Shaheds from decoys"
        elif rows and not complete:
            note = (
                f"split in {given} of {rows} rows only: the value counts those "
                f"({total['launched_with_shaheds']} launched in them)"
            )
    else:
        value = total[figure]
        if figure == "launched" and total["rows_without_launched"]:
            note = f"{total['rows_without_launched']} rows give no launched figure"
    difference = None if quoted is None or value is None else quoted - value
    return {
        "weapons": weapon or "all",
        "weapons_text": described,
        "basis": basis,
        "sources": sources,
        "value": value,
        "complete": complete,
        "attacks": total["attacks"],
        "rows": total["rows"],
        "difference": difference,
        "relative": None if difference is None or not value else difference / value,
        "context": context,
        "note": note,
    }


_BASIS_WORDS = {"report": "by report date", "start": "by start date", "night": "by night"}


def describe(r: dict[str, Any]) -> str:
    return f"{r['weapons_text']}; {_sources_words(r['sources'])}; {_BASIS_WORDS[r['basis']]}"


def _sources_words(sources: str) -> str:
    if sources == ADDED_UP:
        return "every report added up, overlaps counted twice"
    return f"{sources} reports"


def _grouped(readings: list[dict[str, Any]]) -> str:
    """Readings named compactly: weapons, then the sources and bases that give the value."""
    by_weapons: dict[str, list[str]] = {}
    for r in readings:
        by_weapons.setdefault(r["weapons_text"], []).append(
            f"{_sources_words(r['sources'])} {_BASIS_WORDS[r['basis']]}"
        )
    return " | ".join(f"{w} ({', '.join(ways)})" for w, ways in by_weapons.items())


def verdict(readings: list[dict[str, Any]], quoted: int | None, figure: str) -> str:
    """One sentence: the range of readings, or whether and where the quote is reproduced. The
    every-weapon readings of a narrower check are context: a quote matching only them counts
    something else than it says."""
    values = [r for r in readings if r["value"] is not None and r["complete"]]
    primary = [r for r in values if not r["context"]] or values
    if not values:
        return f"the data gives no {figure} figure for this period under any reading"
    if quoted is None:
        lo = min(primary, key=lambda r: r["value"])
        hi = max(primary, key=lambda r: r["value"])
        return (
            f"the readings give {lo['value']:,} ({describe(lo)}) "
            f"to {hi['value']:,} ({describe(hi)})"
        )
    exact = [r for r in primary if r["value"] == quoted]
    if exact:
        return f"{quoted:,} matches {_grouped(exact)}"
    near = min(primary, key=lambda r: abs(r["difference"]))
    side = "higher" if near["difference"] > 0 else "lower"
    nearest = (
        f"the nearest is {near['value']:,} ({describe(near)}): the quote is "
        f"{abs(near['difference']):,} {side} ({100 * near['relative']:+.1f} %)"
    )
    elsewhere = [r for r in values if r["context"] and r["value"] == quoted]
    if elsewhere:
        return (
            f"{quoted:,} is reproduced only by a reading that counts something else: "
            f"{_grouped(elsewhere)}. Under the ledger's readings, {nearest}"
        )
    return f"{quoted:,} is not reproduced by any reading; {nearest}"

"""The ledger as people ask of it: attacks of a period, totals, a night's tally, each with the
definitions it used and the data set's licence and attribution.

Every answer states its reading: which date an attack is filed under (`basis`), which reports
count (`sources`), which weapons (`weapons`); a figure is never shown without them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from tryvoha.history.attacks import source as src
from tryvoha.history.attacks.importer import COVER_RULE
from tryvoha.history.attacks.waves import AlertRecord, add_alert_hours
from tryvoha.history.attacks.weapons import GROUPS, LABELS, WeaponClass, selection
from tryvoha.history.kyiv import KYIV
from tryvoha.store import SqlStore
from tryvoha.store import attacks as ledger_store
from tryvoha.store.timeutil import from_us

BASES = ("report", "start", "night")
SOURCES = ("national", "regional", "other", "all")
BY = ("day", "night", "month", "year", "class", "model", "reporter")
FIRST_DAY, LAST_DAY = src.FIRST_DAY, src.LAST_DAY
MAX_LIMIT = 500

BASIS_TEXT = {
    "report": "by report date: the Kyiv date on which the report's window ends (time_end), "
    "e.g. the morning report of a night's attack",
    "start": "by start date: the Kyiv date on which the report's window begins (time_start)",
    "night": "by night: the night the attack began in (22:00–06:00 Kyiv, named by its "
    "evening's date, as in the alert statistics), or the night after when it began between "
    "06:00 and 22:00; a window given by date only begins at 00:00, so it belongs to the night "
    "before that date",
}
SOURCES_TEXT = {
    "national": "national reports only (Air Force Command, General Staff, Commander-in-Chief)",
    "regional": "regional reports only (air commands South, East, West and Center, an oblast "
    "administration), as they reported, national reports left out",
    "other": "other posts only (monitoring channels, intelligence, unattributed posts)",
    "all": "national reports, plus the regional and other rows no national report already "
    "counts. " + COVER_RULE,
}
DEFINITIONS = {
    "neutralised": "shot down (destroyed) + locationally lost (not_reach_goal: suppressed by "
    "electronic warfare or a decoy, did not reach a target)",
    "in_air": "still in the air when the report was published (still_attacking)",
    "hit_places": "places with recorded hits (num_hit_location); debris_places: places where "
    "debris fell (num_fall_fragment_location)",
    "decoys": "Shahed-type attack drones (attack_drone) include decoy drones (Gerbera, "
    "Parodiya and the like): the reports count them together. 'shaheds' is how many of the "
    "launched the report says were attack Shaheds; reports give it only from July 2025 "
    "(rows_with_shaheds, launched_with_shaheds)",
    "combined rows": "a row naming several models ('X-101/X-555 and Kalibr') counts under each "
    "model and its class with the launched figure the data set gives for it; its other figures "
    "stay with the combined model (class 'mixed' when its models are of different classes)",
    "missing figures": "a figure a report does not give is left out of the sums, not counted as "
    "0 (rows_without_launched counts the rows without a launched figure); null where no row "
    "gives it",
}
ALERTS_TEXT = (
    "alert_oblast_hours: the sum over the oblasts of the hours each had some part under an "
    "actual air-raid alert in that period (the hub's alert log; permanent alerts of occupied "
    "territory left out); oblasts_under_alert: how many oblasts had some; a day is a Kyiv "
    "calendar day, a night 22:00–06:00 Kyiv; null where the alert record does not cover the "
    "period"
)


class LedgerError(ValueError):
    """A question the ledger cannot answer as asked; the text says why and what is allowed."""


class NoLedger(LookupError):
    """Nothing imported yet."""


@dataclass(frozen=True, slots=True)
class Reading:
    """How figures are read: date basis, sources, weapons, period (Kyiv dates, inclusive)."""

    basis: str = "report"
    sources: str = "national"
    weapons: str | None = None
    since: date | None = None
    until: date | None = None

    def filters(self) -> ledger_store.Filters:
        if self.basis not in BASES:
            raise LedgerError(f"basis must be one of {', '.join(BASES)}, not {self.basis!r}")
        if self.sources not in SOURCES:
            raise LedgerError(f"sources must be one of {', '.join(SOURCES)}, not {self.sources!r}")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise LedgerError(
                f"the period is empty: 'to' ({self.until}) is before 'from' ({self.since})"
            )
        for name, day in (("from", self.since), ("to", self.until)):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise LedgerError(f"'{name}' must be a date from {FIRST_DAY} to {LAST_DAY}")
        try:
            chosen = None if self.weapons is None else selection(self.weapons)
        except ValueError as exc:
            raise LedgerError(str(exc)) from None
        levels = src.LEVELS if self.sources == "all" else (self.sources,)
        return ledger_store.Filters(
            basis=self.basis,
            since=None if self.since is None else self.since.isoformat(),
            until=None if self.until is None else self.until.isoformat(),
            levels=levels,
            counted_only=self.sources == "all",
            selection=chosen,
        )

    def definitions(self) -> dict[str, str]:
        out = {"basis": BASIS_TEXT[self.basis], "sources": SOURCES_TEXT[self.sources]}
        out["weapons"] = weapons_text(self.weapons)
        if self.since or self.until:
            out["period"] = (
                f"{self.since or 'the first report'} to {self.until or 'the last report'}, "
                "Kyiv dates, both included"
            )
        return {**out, **DEFINITIONS}


def weapons_text(name: str | None) -> str:
    if name is None:
        return "every weapon"
    kind, value = selection(name)
    if kind == "kind":
        return f"{value}s: {GROUPS[value + 's']}"
    return f"{value}: {LABELS[WeaponClass(value)]}"


def parse_day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise LedgerError(f"'{name}' is not a date (YYYY-MM-DD): {text[:40]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise LedgerError(f"'{name}' must be a date from {FIRST_DAY} to {LAST_DAY}")
    return day


# The data set's terms -------------------------------------------------------------------------


def licence(store: SqlStore) -> dict[str, Any]:
    """The licence and attribution recorded by the latest import; NoLedger before any."""
    found = ledger_store.latest_import(store)
    if found is None:
        raise NoLedger("no attacks ledger in this hub yet: import it with 'tryvoha attacks import'")
    return {
        "dataset": found["dataset"],
        "licence": found["licence"],
        "licence_url": found["licence_url"],
        "attribution": found["attribution"],
        "source_url": found["source_url"],
        "imported_at": from_us(found["imported_at"]).isoformat(),
        "file_name": found["file_name"],
        "file_sha256": found["file_sha256"],
        "records": found["records"],
    }


def licence_line(terms: dict[str, Any]) -> str:
    return (
        f"Figures: {terms['attribution']}. Licence {terms['licence']} ({terms['licence_url']}): "
        "non-commercial use, share alike, attribution required."
    )


# Attacks --------------------------------------------------------------------------------------


def _iso_local(us: int) -> str:
    return from_us(us).astimezone(KYIV).isoformat(timespec="minutes")


def figures(rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Sums over rows, None where no row gives the figure; neutralised = shot down + lost."""
    out: dict[str, int | None] = {}
    for name in ledger_store.FIGURES:
        given = [r[name] for r in rows if r.get(name) is not None]
        out[name] = sum(given) if given else None
    out["neutralised"] = neutralised(out["destroyed"], out["lost"])
    return out


def neutralised(destroyed: int | None, lost: int | None) -> int | None:
    if destroyed is None and lost is None:
        return None
    return (destroyed or 0) + (lost or 0)


def weapon_doc(row: dict[str, Any]) -> dict[str, Any]:
    cls = WeaponClass(row["weapon_class"])
    doc = {
        "row_id": row["id"],
        "line": row["line"],
        "model": row["model"],
        "weapon_class": cls.value,
        "class_label": LABELS[cls],
        "classes": [c for c in row["classes"].split(",") if c],
        "kind": row["kind"],
        "launched": row["launched"],
        "shot_down": row["destroyed"],
        "lost_locally": row["lost"],
        "neutralised": neutralised(row["destroyed"], row["lost"]),
        "in_air": row["in_air"],
        "shaheds": row["shaheds"],
        "hit_places": row["hit_places"],
        "debris_places": row["debris_places"],
        "launch_place": row["launch_place"],
        "target": row["target"],
        "target_main": row["target_main"],
        "carrier": row["carrier"],
        "affected_regions": _json(row["affected_regions"]),
        "destroyed_by_command": _json(row["destroyed_details"]),
        "post": row["post"],
        "counted_in_all_sources": row["covered_by"] is None,
        "covered_by": row["covered_by"],
        "parts": [
            {
                "model": p["model"],
                "weapon_class": p["weapon_class"],
                "launched": p["launched"],
                "launch_place": p["launch_place"],
            }
            for p in row["parts"]
        ],
    }
    return doc


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def attack_doc(attack: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    totals = figures(rows)
    return {
        "id": attack["id"],
        "reporter": attack["reporter"],
        "channel": attack["channel"],
        "level": attack["level"],
        "window": {
            "start": from_us(attack["starts_at"]).isoformat(),
            "end": from_us(attack["ends_at"]).isoformat(),
            "start_local": _iso_local(attack["starts_at"]),
            "end_local": _iso_local(attack["ends_at"]),
            "as_reported": f"{attack['start_text']} → {attack['end_text']}",
            "date_only": attack["date_only"],
        },
        "report_date": attack["report_day"],
        "start_date": attack["start_day"],
        "night": attack["night_day"],
        "launched": totals["launched"],
        "shot_down": totals["destroyed"],
        "lost_locally": totals["lost"],
        "neutralised": totals["neutralised"],
        "in_air": totals["in_air"],
        "weapons": [weapon_doc(r) for r in rows],
    }


def _cursor(attack: dict[str, Any]) -> str:
    raw = f"{attack['starts_at']}.{attack['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(text: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        starts, attack_id = raw.split(".")
        return int(starts), int(attack_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise LedgerError("cursor is not one this API gave out") from None


def list_attacks(
    store: SqlStore, reading: Reading, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """Attacks of the reading's period and sources that hold weapons of its class (only those
    weapons listed), oldest first, a page at a time (`next_cursor` continues)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise LedgerError(f"limit must be from 1 to {MAX_LIMIT}")
    terms = licence(store)
    f = reading.filters()
    after = None if cursor is None else parse_cursor(cursor)
    found = ledger_store.list_attacks(store, f, after, limit + 1)
    page = found[:limit]
    rows = ledger_store.rows_of(store, [a["id"] for a in page])
    if f.selection is not None:
        rows = {k: [r for r in v if _selected(r, f.selection)] for k, v in rows.items()}
    return {
        "attacks": [attack_doc(a, rows[a["id"]]) for a in page],
        "next_cursor": _cursor(page[-1]) if len(found) > limit else None,
        "definitions": reading.definitions(),
        **_terms(terms),
    }


def _selected(row: dict[str, Any], chosen: tuple[str, str]) -> bool:
    """A row of the chosen class or kind, or a combined row one of whose models is."""
    column, value = chosen
    key = "weapon_class" if column == "class" else "kind"
    return row[key] == value or any(p[key] == value for p in row["parts"])


def _terms(terms: dict[str, Any]) -> dict[str, Any]:
    return {k: terms[k] for k in ("licence", "licence_url", "attribution", "source_url")}


# Totals ---------------------------------------------------------------------------------------


def totals(
    store: SqlStore, reading: Reading, by: str, alerts: AlertRecord | None = None
) -> dict[str, Any]:
    """Totals per group, the sum of them all, and the definitions they follow; with the alert
    record, day, night, month and year rows carry the alert hours beside them."""
    if by not in BY:
        raise LedgerError(f"by must be one of {', '.join(BY)}, not {by!r}")
    if by == "night":
        reading = Reading("night", reading.sources, reading.weapons, reading.since, reading.until)
        by = "day"
    terms = licence(store)
    f = reading.filters()
    groups = [_total_doc(r) for r in ledger_store.totals(store, f, by)]
    overall = ledger_store.totals(store, f, "all")
    if by == "class":
        for g in groups:
            g["label"] = LABELS[WeaponClass(g["key"])]
    shown = "night" if by == "day" and reading.basis == "night" else by
    definitions = reading.definitions()
    if alerts is not None and shown in ("day", "night", "month", "year"):
        add_alert_hours(alerts, shown, groups)
        definitions["alerts"] = ALERTS_TEXT + "; " + alerts.describe()
    return {
        "by": shown,
        "basis": reading.basis,
        "sources": reading.sources,
        "weapons": reading.weapons,
        "from": None if reading.since is None else reading.since.isoformat(),
        "to": None if reading.until is None else reading.until.isoformat(),
        "rows": groups,
        "total": _total_doc(overall[0]) if overall else _total_doc(None),
        "definitions": definitions,
        **_terms(terms),
    }


def _total_doc(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {"key": None, "attacks": 0, "rows": 0}
    return {
        "key": row.get("key"),
        "attacks": row.get("attacks", 0),
        "rows": row.get("rows", 0),
        "launched": row.get("launched"),
        "shot_down": row.get("destroyed"),
        "lost_locally": row.get("lost"),
        "neutralised": neutralised(row.get("destroyed"), row.get("lost")),
        "in_air": row.get("in_air"),
        "hit_places": row.get("hit_places"),
        "debris_places": row.get("debris_places"),
        "shaheds": row.get("shaheds"),
        "launched_with_shaheds": row.get("launched_with_shaheds") or 0,
        "rows_with_shaheds": row.get("rows_with_shaheds", 0),
        "rows_without_launched": row.get("rows_without_launched", 0),
    }


# A night's tally (the map) ----------------------------------------------------------------------


def night_tally(store: SqlStore, night: date, sources: str = "national") -> dict[str, Any]:
    """The attacks filed under one night (by-night basis) with totals by class."""
    reading = Reading("night", sources, None, night, night)
    listed = list_attacks(store, reading, limit=MAX_LIMIT)
    by_class = totals(store, reading, "class")
    return {
        "night": night.isoformat(),
        "sources": sources,
        "attacks": listed["attacks"],
        "classes": by_class["rows"],
        "total": by_class["total"],
        "definitions": reading.definitions(),
        **{k: listed[k] for k in ("licence", "licence_url", "attribution", "source_url")},
    }


# The monthly chart's data -----------------------------------------------------------------------

CHART_GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("drones", "Shahed-type drones and decoys", frozenset({"attack_drone"})),
    ("drones", "other drones", frozenset({"strike_drone", "recon_drone", "unknown_drone"})),
    ("missiles", "cruise and anti-ship", frozenset({"cruise", "anti_ship"})),
    ("missiles", "ballistic and aeroballistic", frozenset({"ballistic", "aeroballistic"})),
    ("missiles", "S-300/S-400", frozenset({"sam_ground_attack"})),
    (
        "missiles",
        "bombs, unknown and combined",
        frozenset({"guided_bomb", "unknown_missile", "mixed", "unknown"}),
    ),
)


def monthly_chart_data(
    store: SqlStore, reading: Reading, alerts: AlertRecord | None = None
) -> dict[str, Any]:
    """Per month of the reading: launched and neutralised per chart group, and the alert hours
    beside them (None where the alert record does not cover the month)."""
    terms = licence(store)
    f = reading.filters()
    found = ledger_store.totals(store, f, "month", then="class")
    months = sorted({r["key"] for r in found})
    index = {m: i for i, m in enumerate(months)}
    groups = []
    for panel, label, classes in CHART_GROUPS:
        launched, neutral = [0] * len(months), [0] * len(months)
        for r in found:
            if r["key2"] in classes:
                launched[index[r["key"]]] += r["launched"] or 0
                neutral[index[r["key"]]] += neutralised(r["destroyed"], r["lost"]) or 0
        groups.append(
            {"panel": panel, "label": label, "launched": launched, "neutralised": neutral}
        )
    hours: list[float | None] = [None] * len(months)
    record = ["none"] * len(months)
    if alerts is not None and months:
        rows = [{"key": m} for m in months]
        add_alert_hours(alerts, "month", rows)
        hours = [r["alert_oblast_hours"] for r in rows]
        record = [r["alert_record"] for r in rows]
    return {
        "months": months,
        "groups": groups,
        "alert_oblast_hours": hours,
        "alert_record": record,
        "reading": reading,
        "rights": licence_line(terms),
        "caption": (
            f"{BASIS_TEXT[reading.basis].split(':')[0]}; "
            f"{SOURCES_TEXT[reading.sources].split('.')[0]}; "
            "neutralised = shot down + locationally lost; alert hours: sum over oblasts of the "
            "hours each had some part under an air-raid alert (grey: no alert record). "
            + licence_line(terms)
        ),
    }

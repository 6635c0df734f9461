"""The attacks ledger against figures computed independently, in plain Python, from the CSV.

The expected values below are never typed in: each is summed from `missile_attacks_daily.csv`
with the csv module, following the definitions in docs/attacks.md.
"""

from __future__ import annotations

import ast
import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import tryvoha
from tryvoha.history.attacks import check, ledger
from tryvoha.history.attacks.importer import import_attacks
from tryvoha.history.attacks.source import AttacksFileError
from tryvoha.store import SqlStore
from tryvoha.store import attacks as ledger_store
from tryvoha.store.schema import attack_imports, attack_rows, attacks

from .conftest import SHARED

DATA = SHARED / "data" / "attacks"
ATTACKS = DATA / "missile_attacks_daily.csv"
WEAPONS = DATA / "missiles_and_uavs.csv"
ALERTS = SHARED / "data" / "alerts" / "official_data_en.csv"
KYIV = ZoneInfo("Europe/Kyiv")
NATIONAL = {"kpszsu", "generalstaff.ua", "cincafu"}
REGIONAL = {"pvkpivden", "pvkshid", "pvkzahid", "pvkcenter", "kharkivoda.gov.ua"}


# An independent reading of the CSV --------------------------------------------------------------


def _rows() -> list[dict[str, str]]:
    with ATTACKS.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _num(value: str) -> int | None:
    return None if not value.strip() else int(float(value))


def _channel(source: str) -> str:
    if source.startswith("http"):
        return source.split("/")[3]
    return source.split("/")[0]


def _national(row: dict[str, str]) -> bool:
    return _channel(row["source"]).lower() in NATIONAL


def _moment(text: str) -> tuple[datetime, bool]:
    text = " ".join(text.split())
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=KYIV), True
    day, clock = text.split(" ")
    hour, minute = clock.split(":")
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, int(hour), int(minute), tzinfo=KYIV), False


def _night(row: dict[str, str]) -> str:
    start, _ = _moment(row["time_start"])
    return (start - timedelta(hours=6)).date().isoformat()


def _basis(row: dict[str, str], basis: str) -> str:
    if basis == "report":
        return row["time_end"].strip()[:10]
    if basis == "start":
        return row["time_start"].strip()[:10]
    return _night(row)


def _sum(rows: list[dict[str, str]], column: str) -> int | None:
    given = [_num(r[column]) for r in rows if r[column].strip()]
    return sum(given) if given else None


def _select(basis: str, since: str, until: str, national_only: bool = True) -> list[dict]:
    return [
        r
        for r in _rows()
        if since <= _basis(r, basis) <= until and (_national(r) or not national_only)
    ]


# Fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    """One SQLite store with the whole data set imported, for read-only checks."""
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'hub.db'}")
    import_attacks(store, ATTACKS)
    yield store
    store.close()


def _counts(store: SqlStore) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (attacks, attack_rows, attack_imports)
        )


def _night_totals(store: SqlStore, basis: str, day: str, weapons: str | None = None) -> dict:
    reading = ledger.Reading(
        basis, "national", weapons, date.fromisoformat(day), date.fromisoformat(day)
    )
    return ledger.totals(store, reading, "day")["total"]


# Import -----------------------------------------------------------------------------------------


def test_import_reads_every_row_records_the_licence_and_is_idempotent(db_url: str) -> None:
    store = SqlStore(db_url)
    try:
        steps: list[tuple[str, int, int]] = []
        first = import_attacks(store, ATTACKS, progress=lambda *a: steps.append(a))
        records = len(_rows())
        assert (first.records, first.read, len(first.problems)) == (records, records, 0)
        assert first.counts.added == records and first.counts.updated == 0
        assert steps[-1] == ("write", records, records)
        windows = {
            (_moment(r["time_start"]), _moment(r["time_end"]), _channel(r["source"]).lower())
            for r in _rows()
        }
        assert _counts(store)[:2] == (len(windows), records)
        terms = ledger.licence(store)
        assert terms["licence"] == "CC BY-NC-SA 4.0"
        assert "Petro Ivaniuk" in terms["attribution"] and "Air Force" in terms["attribution"]
        june = ledger.Reading("report", "national", "shahed", date(2025, 6, 1), date(2025, 6, 30))
        shahed = [
            r
            for r in _select("report", "2025-06-01", "2025-06-30")
            if r["model"] == "Shahed-136/131"
        ]
        assert ledger.totals(store, june, "month")["total"]["launched"] == _sum(shahed, "launched")
        checked = check.check(store, check.parse_period("2025-06"), "drones")
        [reading] = [
            r
            for r in checked["readings"]
            if (r["weapons"], r["basis"], r["sources"]) == ("attack_drone", "report", "national")
        ]
        assert reading["value"] == _sum(shahed, "launched")
        before = ledger.totals(store, ledger.Reading(sources="all"), "month")
        again = import_attacks(store, ATTACKS)
        assert (again.counts.added, again.counts.updated, again.counts.unchanged) == (0, 0, records)
        assert _counts(store) == (len(windows), records, 2)
        after = ledger.totals(store, ledger.Reading(sources="all"), "month")
        assert after["rows"] == before["rows"]
    finally:
        store.close()


def test_a_changed_row_updates_in_place(tmp_path: Path, sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    import_attacks(store, ATTACKS)
    rows = _rows()
    target = next(
        i
        for i, r in enumerate(rows)
        if r["time_start"] == "2025-07-03 18:00" and r["model"] == "Shahed-136/131"
    )
    rows[target]["destroyed"] = "300.0"
    rows[target]["launch_place"] = "somewhere else"
    changed = tmp_path / "missile_attacks_daily.csv"
    with changed.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = import_attacks(store, changed, WEAPONS)
    assert (report.counts.added, report.counts.updated) == (0, 1)
    got = _night_totals(store, "report", "2025-07-04", "attack_drone")
    assert got["shot_down"] == 300 and got["lost_locally"] == _num(rows[target]["not_reach_goal"])
    assert _counts(store)[1] == len(rows)
    store.close()


def _copy_with(tmp_path: Path, extra: list[str], name: str = "attacks.csv") -> Path:
    text = ATTACKS.read_text(encoding="utf-8")
    path = tmp_path / name
    path.write_text(text + "".join(line + "\n" for line in extra), encoding="utf-8")
    return path


BAD_ROWS = [
    "yesterday,2025-07-04 06:00,Kalibr,,Ukraine,,3.0,1.0,,,{},,,,,,,,,,,kpszsu/posts/x1",
    "2025-07-04 06:00,2025-07-03 06:00,Kalibr,,Ukraine,,3.0,1.0,,,{},,,,,,,,,,,kpszsu/posts/x2",
    "2025-07-04 01:00,2025-07-04 06:00,Kalibr,,Ukraine,,-3.0,1.0,,,{},,,,,,,,,,,kpszsu/posts/x3",
    "2025-07-04 01:00,2025-07-04 06:00,,,Ukraine,,3.0,1.0,,,{},,,,,,,,,,,kpszsu/posts/x4",
    "2025-07-04 01:00,2025-07-04 06:00,Kalibr,,Ukraine,,2.5,1.0,,,{},,,,,,,,,,,kpszsu/posts/x5",
    "2025-07-04 01:00,2025-07-04 06:00,Kalibr,,Ukraine,,3.0,1.0,,,{'a': [1]},,,,,,,,,,,kpszsu/p/x6",
]


def test_bad_rows_are_reported_by_line_and_left_out(tmp_path: Path, sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    path = _copy_with(tmp_path, BAD_ROWS)
    first_bad = len(_rows()) + 2
    report = import_attacks(store, path, WEAPONS)
    reasons = {p.line: p.reason for p in report.problems}
    assert sorted(reasons) == list(range(first_bad, first_bad + len(BAD_ROWS)))
    assert "time_start is not a date" in reasons[first_bad]
    assert "ends before it starts" in reasons[first_bad + 1]
    assert "launched is not a whole number from 0" in reasons[first_bad + 2]
    assert "no model" in reasons[first_bad + 3]
    assert "launched is not a whole number" in reasons[first_bad + 4]
    assert "border_crossing holds something other" in reasons[first_bad + 5]
    assert report.counts.added == len(_rows())
    got = _night_totals(store, "report", "2025-07-04")
    want = _select("report", "2025-07-04", "2025-07-04")
    assert got["launched"] == _sum(want, "launched")  # none of the bad rows counts
    with pytest.raises(AttacksFileError, match="6 rows cannot be read"):
        import_attacks(store, path, WEAPONS, strict=True)
    assert _counts(store)[2] == 1  # the strict attempt recorded nothing
    store.close()


def test_wrong_files_change_nothing(tmp_path: Path, db_url: str) -> None:
    store = SqlStore(db_url)
    import_attacks(store, ATTACKS)
    before = _counts(store)
    with pytest.raises(AttacksFileError, match="missing columns time_start, time_end, model"):
        import_attacks(store, ALERTS, WEAPONS)
    with pytest.raises(AttacksFileError, match="missing columns time_start"):
        import_attacks(store, WEAPONS, WEAPONS)  # the reference passed as the data set
    with pytest.raises(AttacksFileError, match="not the weapon reference: missing columns"):
        import_attacks(store, ATTACKS, ALERTS)
    lacking = tmp_path / "missile_attacks_daily.csv"
    with ATTACKS.open(newline="", encoding="utf-8") as src, lacking.open("w", newline="") as out:
        reader = csv.DictReader(src)
        kept = [c for c in reader.fieldnames or [] if c != "destroyed"]
        writer = csv.DictWriter(out, fieldnames=kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(reader)
    with pytest.raises(AttacksFileError, match="no weapon reference beside"):
        import_attacks(store, lacking)
    with pytest.raises(AttacksFileError, match="missing columns destroyed"):
        import_attacks(store, lacking, WEAPONS)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AttacksFileError, match="not a UTF-8 CSV"):
        import_attacks(store, binary, WEAPONS)
    assert _counts(store) == before
    store.close()


def test_rows_no_longer_in_the_file_are_kept_or_pruned(tmp_path: Path, sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    import_attacks(store, ATTACKS)
    rows = _rows()
    shorter = tmp_path / "missile_attacks_daily.csv"
    with shorter.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[10:])
    kept = import_attacks(store, shorter, WEAPONS)
    assert (kept.counts.not_in_file, kept.counts.removed) == (10, 0)
    assert _counts(store)[1] == len(rows)
    pruned = import_attacks(store, shorter, WEAPONS, prune=True)
    assert pruned.counts.removed == 10
    assert _counts(store)[1] == len(rows) - 10
    store.close()


def test_the_data_set_is_not_in_the_package() -> None:
    package = Path(tryvoha.__file__).parent
    names = {p.name for p in package.rglob("*")}
    assert not {n for n in names if "missile" in n or "uavs" in n}


# Figures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["2025-07-04", "2023-03-09", "2024-12-13", "2022-10-10"])
def test_a_report_date_matches_the_csv(ledger_db: SqlStore, day: str) -> None:
    want = _select("report", day, day)
    got = _night_totals(ledger_db, "report", day)
    assert got["launched"] == _sum(want, "launched")
    assert got["shot_down"] == _sum(want, "destroyed")
    assert got["lost_locally"] == _sum(want, "not_reach_goal")
    assert got["neutralised"] == (_sum(want, "destroyed") or 0) + (
        _sum(want, "not_reach_goal") or 0
    )
    assert got["rows"] == len(want)
    by_model = ledger.totals(
        ledger_db,
        ledger.Reading(
            "report", "national", None, date.fromisoformat(day), date.fromisoformat(day)
        ),
        "model",
    )
    expected: dict[str, int] = defaultdict(int)
    for r in want:
        details = r["launched_details"].strip()
        if details:  # a combined row split by the data set: each model its own count
            for model, count in ast.literal_eval(details).items():
                expected[model] += int(count)
            expected[r["model"]] += 0
        else:
            expected[r["model"]] += _num(r["launched"]) or 0
    assert {g["key"]: g["launched"] or 0 for g in by_model["rows"]} == dict(expected)


def test_the_81_missile_night(ledger_db: SqlStore) -> None:
    want = _select("report", "2023-03-09", "2023-03-09")
    missiles = [r for r in want if r["model"] != "Shahed-136/131"]
    kinzhal = [r for r in want if r["model"] == "X-47 Kinzhal"]
    got = _night_totals(ledger_db, "report", "2023-03-09", "missiles")
    assert got["launched"] == _sum(missiles, "launched") == 81
    assert got["shot_down"] == _sum(missiles, "destroyed")
    assert _night_totals(ledger_db, "report", "2023-03-09", "aeroballistic")["launched"] == _sum(
        kinzhal, "launched"
    )
    drones = _night_totals(ledger_db, "report", "2023-03-09", "shahed")
    shahed = [r for r in want if r["model"] == "Shahed-136/131"]
    assert (drones["launched"], drones["shot_down"]) == (
        _sum(shahed, "launched"),
        _sum(shahed, "destroyed"),
    )
    listed = ledger.list_attacks(
        ledger_db,
        ledger.Reading("report", "national", None, date(2023, 3, 9), date(2023, 3, 9)),
    )
    [attack] = listed["attacks"]
    assert attack["reporter"] == "General Staff" and attack["window"]["date_only"]
    assert attack["night"] == "2023-03-08"  # a date alone begins at 00:00: the night before


def test_2025_07_04_drones_and_neutralised(ledger_db: SqlStore) -> None:
    want = _select("report", "2025-07-04", "2025-07-04")
    drones = [r for r in want if r["model"] == "Shahed-136/131"]
    got = _night_totals(ledger_db, "report", "2025-07-04", "shahed")
    assert got["launched"] == _sum(drones, "launched")
    assert got["neutralised"] == _sum(drones, "destroyed") + _sum(drones, "not_reach_goal")
    every = _night_totals(ledger_db, "report", "2025-07-04")
    assert every["neutralised"] == sum(
        (_num(r["destroyed"]) or 0) + (_num(r["not_reach_goal"]) or 0) for r in want
    )
    verdict = check.check(ledger_db, check.parse_period("2025-07-04"), "drones", "neutralised", 478)
    assert every["neutralised"] == 478
    assert "only by a reading that counts something else: every weapon" in verdict["verdict"]


@pytest.mark.parametrize("month", ["2022-12", "2023-05", "2024-08", "2025-06", "2026-02"])
@pytest.mark.parametrize("basis", ["report", "start", "night"])
def test_months_match_the_csv(ledger_db: SqlStore, month: str, basis: str) -> None:
    y, m = (int(x) for x in month.split("-"))
    since = date(y, m, 1)
    until = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
    want = _select(basis, since.isoformat(), until.isoformat())
    doc = ledger.totals(ledger_db, ledger.Reading(basis, "national", None, since, until), "month")
    [row] = doc["rows"]
    assert row["key"] == month
    assert row["launched"] == _sum(want, "launched")
    assert row["shot_down"] == _sum(want, "destroyed")
    assert row["lost_locally"] == _sum(want, "not_reach_goal")
    assert row["in_air"] == _sum(want, "still_attacking")
    assert row["rows"] == len(want)
    shahed = [r for r in want if r["model"] == "Shahed-136/131"]
    got = ledger.totals(
        ledger_db, ledger.Reading(basis, "national", "shahed", since, until), "month"
    )
    assert got["total"]["launched"] == _sum(shahed, "launched")
    assert got["total"]["shaheds"] == _sum(shahed, "is_shahed")
    assert {"basis", "sources", "weapons", "neutralised", "period"} <= set(doc["definitions"])


EXTRA = {"фенікс": "uav", "картограф": "uav", "привет-82": "uav", "aerial bomb": "guided bomb"}


def _kind(model: str, reference: dict[str, str]) -> str:
    kinds = set()
    for part in model.split(" and "):
        name = part.strip().lower()
        category = reference.get(name) or EXTRA.get(name, "")
        kinds.add(
            "drone" if category == "uav" else "bomb" if category == "guided bomb" else "missile"
        )
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _interval(row: dict[str, str]) -> tuple[datetime, datetime]:
    start, _ = _moment(row["time_start"])
    end, date_only = _moment(row["time_end"])
    return start, end + timedelta(days=1) if date_only else end


def test_all_sources_never_count_a_regional_report_twice(ledger_db: SqlStore) -> None:
    """June 2025 by report date: regional rows are added only when no national report of the
    same kind of weapon overlaps them (the rule in docs/attacks.md), checked by brute force."""
    with WEAPONS.open(newline="", encoding="utf-8") as fh:
        reference = {r["model"].lower(): r["category"].lower() for r in csv.DictReader(fh)}
    rows = _rows()
    national = [(_interval(r), _kind(r["model"], reference)) for r in rows if _national(r)]

    def covered(r: dict[str, str]) -> bool:
        (s, e), kind = _interval(r), _kind(r["model"], reference)
        for (ns, ne), nkind in national:
            if nkind != kind and kind != "mixed":
                continue
            if (s < ne and ns < e) if s != e and ns != ne else (s <= ne and ns <= e):
                return True
        return False

    for month in ("2025-06", "2024-03", "2023-10"):
        y, m = (int(x) for x in month.split("-"))
        since, until = date(y, m, 1), date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
        chosen = [r for r in rows if since.isoformat() <= _basis(r, "report") <= until.isoformat()]
        counted = [r for r in chosen if _national(r) or not covered(r)]
        got = ledger.totals(ledger_db, ledger.Reading("report", "all", None, since, until), "day")
        assert got["total"]["launched"] == _sum(counted, "launched"), month
        assert got["total"]["rows"] == len(counted)
        regional = ledger.totals(
            ledger_db, ledger.Reading("report", "regional", None, since, until), "day"
        )
        regional_rows = [r for r in chosen if _channel(r["source"]).lower() in REGIONAL]
        assert regional["total"]["launched"] == _sum(regional_rows, "launched")


def test_combined_rows_split_where_the_data_gives_the_split(ledger_db: SqlStore) -> None:
    row = next(r for r in _rows() if r["model"] == "Iskander-M/KN-23 and Iskander-K and X-59/X-69")
    split = ast.literal_eval(row["launched_details"])
    day = date.fromisoformat(row["time_end"][:10])
    reading = ledger.Reading("report", "national", None, day, day)
    by_class = {g["key"]: g for g in ledger.totals(ledger_db, reading, "class")["rows"]}
    others = [r for r in _select("report", day.isoformat(), day.isoformat()) if r != row]
    ballistic = sum(_num(r["launched"]) or 0 for r in others if r["model"] == "Iskander-M/KN-23")
    assert by_class["ballistic"]["launched"] == split["Iskander-M/KN-23"] + ballistic
    assert by_class["mixed"]["launched"] is None  # every model of the row got its own count
    assert by_class["mixed"]["shot_down"] == _num(row["destroyed"])
    total = ledger.totals(ledger_db, reading, "day")["total"]
    assert total["launched"] == sum(_num(r["launched"]) or 0 for r in [*others, row])
    [attack] = [
        a
        for a in ledger.list_attacks(ledger_db, reading)["attacks"]
        if any(w["model"] == row["model"] for w in a["weapons"])
    ]
    [weapon] = [w for w in attack["weapons"] if w["model"] == row["model"]]
    assert {p["model"]: p["launched"] for p in weapon["parts"]} == split


def test_pages_follow_each_other_without_gaps(ledger_db: SqlStore) -> None:
    reading = ledger.Reading("report", "all", None, date(2025, 1, 1), date(2025, 3, 31))
    whole = ledger.list_attacks(ledger_db, reading, limit=500)["attacks"]
    seen, cursor = [], None
    while True:
        page = ledger.list_attacks(ledger_db, reading, cursor, limit=37)
        seen += [a["id"] for a in page["attacks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["id"] for a in whole] and len(seen) > 37
    with pytest.raises(ledger.LedgerError, match="cursor"):
        ledger.list_attacks(ledger_db, reading, "bm90LWEtY3Vyc29y")


def test_check_reports_every_reading_of_june_2025(ledger_db: SqlStore) -> None:
    doc = check.check(ledger_db, check.parse_period("2025-06"), "drones", "launched", 5337)
    shahed = [r for r in _rows() if r["model"] == "Shahed-136/131"]
    by_report = [r for r in shahed if _basis(r, "report")[:7] == "2025-06" and _national(r)]
    reading = {(r["weapons"], r["basis"], r["sources"]): r for r in doc["readings"]}
    national = reading[("attack_drone", "report", "national")]
    assert national["value"] == _sum(by_report, "launched")
    assert national["difference"] == 5337 - national["value"]
    added = [r for r in shahed if _basis(r, "report")[:7] == "2025-06"]
    assert reading[("attack_drone", "report", "added_up")]["value"] == _sum(added, "launched")
    assert "5,337 is not reproduced by any reading" in doc["verdict"]
    assert f"{national['value']:,}" in doc["verdict"]
    assert doc["licence"] == "CC BY-NC-SA 4.0"


def test_bad_questions_name_the_problem(ledger_db: SqlStore) -> None:
    for text, message in (
        ("2025-13", "not a real date"),
        ("June", "period must be"),
        ("1900", "within"),
        ("2025-06-30..2025-06-01", "ends before it starts"),
    ):
        with pytest.raises(ledger.LedgerError, match=message):
            check.parse_period(text)
    with pytest.raises(ledger.LedgerError, match="unknown weapon class 'lasers'"):
        ledger.totals(ledger_db, ledger.Reading(weapons="lasers"), "month")
    with pytest.raises(ledger.LedgerError, match="is before"):
        ledger.totals(
            ledger_db, ledger.Reading(since=date(2025, 2, 1), until=date(2025, 1, 1)), "day"
        )


def test_no_ledger_is_a_clear_answer(sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    with pytest.raises(ledger.NoLedger, match="tryvoha attacks import"):
        ledger.totals(store, ledger.Reading(), "month")
    store.close()


def test_store_lines_add_up_to_the_rows(ledger_db: SqlStore) -> None:
    lines = ledger_store.lines_of_period(ledger_db, "2014-01-01", "2099-12-31")
    by_row: dict[int, int] = defaultdict(int)
    for line in lines:
        by_row[line["row_id"]] += line["launched"] or 0
    assert sum(by_row.values()) == sum(_num(r["launched"]) or 0 for r in _rows())

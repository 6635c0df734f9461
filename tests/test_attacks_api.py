"""The attacks ledger beside the alert record: waves, the HTTP API and the CLI.

The hub holds the official alert record around 2023-03-09 and the whole attacks ledger; the
expected waves and alert hours are computed here from the two CSV files in plain Python.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from tryvoha.api.app import create_app
from tryvoha.cli import app as cli
from tryvoha.config import Settings
from tryvoha.history.attacks.importer import import_attacks
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import SHARED

ATTACKS = SHARED / "data" / "attacks" / "missile_attacks_daily.csv"
WEAPONS = SHARED / "data" / "attacks" / "missiles_and_uavs.csv"
OFFICIAL = SHARED / "data" / "alerts" / "official_data_en.csv"
KYIV = ZoneInfo("Europe/Kyiv")
AROUND = (datetime(2023, 3, 5, tzinfo=UTC), datetime(2023, 3, 13, tzinfo=UTC))
runner = CliRunner()


def _alerts() -> list[dict]:
    with OFFICIAL.open(newline="", encoding="utf-8") as fh:
        out = []
        for r in csv.DictReader(fh):
            r["s"] = datetime.fromisoformat(r["started_at"])
            r["e"] = datetime.fromisoformat(r["finished_at"])
            out.append(r)
        return out


def _attack_rows() -> list[dict]:
    with ATTACKS.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _national(r: dict) -> bool:
    return r["source"].startswith(("kpszsu", "GeneralStaff", "CinCAFU", "https://t.me/kpszsu"))


def _night_of(r: dict) -> date:
    """The night a row is filed under: its start minus 6 hours, a date alone being 00:00."""
    text = " ".join(r["time_start"].split())
    if len(text) == 10:
        return date.fromisoformat(text) - timedelta(days=1)
    day, clock = text.split(" ")
    hour, minute = clock.split(":")
    start = datetime.fromisoformat(day) + timedelta(hours=int(hour), minutes=int(minute))
    return (start - timedelta(hours=6)).date()


@pytest.fixture(scope="module")
def prepared(
    tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue, migrated_sqlite: Path
) -> Path:
    """A hub database: the official alerts of 5–13 March 2023 and the whole attacks ledger."""
    folder = tmp_path_factory.mktemp("attacks-api")
    path = folder / "hub.db"
    shutil.copyfile(migrated_sqlite, path)
    subset = folder / "official_subset.csv"
    with OFFICIAL.open(newline="", encoding="utf-8") as src, subset.open("w", newline="") as out:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for r in reader:
            s, e = datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])
            if s < AROUND[1] and e > AROUND[0]:
                writer.writerow(r)
    hub = Hub(catalogue, SqlStore(f"sqlite:///{path}"))
    hub.load()
    asyncio.run(import_file(hub, "official", subset, permanent=False))
    import_attacks(hub.store, ATTACKS)
    hub.close()
    return path


@pytest.fixture
def db_copy(prepared: Path, tmp_path: Path) -> Path:
    target = tmp_path / "hub.db"
    shutil.copyfile(prepared, target)
    return target


@pytest.fixture
async def api(db_copy: Path, catalogue: Catalogue) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite:///{db_copy}"
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    app = create_app(hub, Settings(db=url, load_history=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as client:
        yield client
    hub.close()


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[list[datetime]]:
    out: list[list[datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def _expected_wave(lo: datetime, hi: datetime) -> dict:
    rows = [r for r in _alerts() if r["s"] < hi and r["e"] > lo]
    by_oblast: dict[str, list] = {}
    whole: dict[str, list] = {}
    for r in rows:
        by_oblast.setdefault(r["oblast"], []).append((r["s"], r["e"]))
        if r["level"] == "oblast":
            whole.setdefault(r["oblast"], []).append((r["s"], r["e"]))
    steps = sorted(
        (t, d) for v in whole.values() for s, e in _merge(v) for t, d in ((s, 1), (e, -1))
    )
    level = peak = 0
    for _, d in steps:
        level += d
        peak = max(peak, level)
    hours = {
        o: sum((e - s for s, e in _merge(v)), timedelta()) / timedelta(hours=1)
        for o, v in by_oblast.items()
    }
    nights = {}
    for o, v in by_oblast.items():
        found = set()
        for s, e in _merge(v):
            d = s.astimezone(KYIV).date() - timedelta(days=1)
            while d <= e.astimezone(KYIV).date():
                ns = datetime(d.year, d.month, d.day, 22, tzinfo=KYIV)
                nxt = d + timedelta(days=1)
                ne = datetime(nxt.year, nxt.month, nxt.day, 6, tzinfo=KYIV)
                if s < ne and e > ns:
                    found.add(d.isoformat())
                d = nxt
        nights[o] = found
    return {
        "alerts": len(rows),
        "first": min(r["s"] for r in rows),
        "last": max(r["e"] for r in rows),
        "oblasts": len(by_oblast),
        "peak": peak,
        "hours": hours,
        "oblast_nights": sum(len(v) for v in nights.values()),
        "nights": set().union(*nights.values()),
    }


async def _attack_on(api: httpx.AsyncClient, day: str, model: str) -> dict:
    page = (await api.get(f"/api/v1/attacks?from={day}&to={day}")).json()
    return next(a for a in page["attacks"] if any(w["model"] == model for w in a["weapons"]))


# Waves ------------------------------------------------------------------------------------------


async def test_the_81_missile_night_and_its_wave(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    attack = await _attack_on(api, "2023-03-09", "X-47 Kinzhal")
    answer = await api.get(f"/api/v1/attacks/{attack['id']}")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["licence"] == "CC BY-NC-SA 4.0" and "Petro Ivaniuk" in doc["attribution"]
    assert sum(w["launched"] for w in doc["attack"]["weapons"] if w["kind"] == "missile") == 81
    wave = doc["wave"]
    start = datetime(2023, 3, 9, tzinfo=KYIV) - timedelta(hours=1)  # the whole Kyiv day, ±1 h
    end = datetime(2023, 3, 10, tzinfo=KYIV) + timedelta(hours=1)
    want = _expected_wave(start, end)
    assert wave["alert_record"] == "covered"
    assert wave["alerts"] == want["alerts"]
    assert datetime.fromisoformat(wave["first_alert"]) == want["first"]
    assert datetime.fromisoformat(wave["last_all_clear"]) == want["last"]
    assert wave["oblasts_under_alert"] == want["oblasts"]
    assert wave["peak_oblasts"] == want["peak"]
    assert wave["oblast_nights"] == want["oblast_nights"]
    assert set(wave["nights"]) == want["nights"]
    for o in wave["oblasts"]:
        name = next(
            n for n in want["hours"] if catalogue.resolve(n, level="oblast").id == o["region_id"]
        )
        assert o["hours"] == pytest.approx(want["hours"][name], abs=1e-9)


async def test_a_night_outside_the_alert_record_says_so(api: httpx.AsyncClient) -> None:
    attack = await _attack_on(api, "2025-07-04", "Shahed-136/131")
    assert attack["launched"] == 539
    doc = (await api.get(f"/api/v1/attacks/{attack['id']}")).json()
    assert doc["wave"]["alert_record"] == "none"
    assert doc["wave"]["message"].startswith("no alert record for this date")
    assert doc["wave"]["alerts"] is None and doc["wave"]["oblasts"] == []


async def test_totals_carry_the_alert_hours_beside_them(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/v1/attacks/totals?by=night&from=2023-03-08&to=2023-03-09")
    doc = answer.json()
    assert answer.status_code == 200 and doc["by"] == "night" and doc["basis"] == "night"
    rows = {r["key"]: r for r in doc["rows"]}
    night = rows["2023-03-08"]
    ns, ne = datetime(2023, 3, 8, 22, tzinfo=KYIV), datetime(2023, 3, 9, 6, tzinfo=KYIV)
    by_oblast: dict[str, list] = {}
    for r in _alerts():
        if r["s"] < ne and r["e"] > ns:
            by_oblast.setdefault(r["oblast"], []).append((max(r["s"], ns), min(r["e"], ne)))
    hours = sum((e - s for v in by_oblast.values() for s, e in _merge(v)), timedelta()) / timedelta(
        hours=1
    )
    assert night["alert_record"] == "covered"
    assert night["alert_oblast_hours"] == pytest.approx(hours, abs=1e-9)
    assert night["oblasts_under_alert"] == len(by_oblast)
    on_night = [r for r in _attack_rows() if _national(r) and _night_of(r) == date(2023, 3, 8)]
    assert night["launched"] == sum(int(float(r["launched"])) for r in on_night if r["launched"])
    assert "alerts" in doc["definitions"] and "night" in doc["definitions"]["basis"]
    later = (await api.get("/api/v1/attacks/totals?by=month&from=2025-06-01&to=2025-06-30")).json()
    assert later["rows"][0]["alert_record"] == "none"
    assert later["rows"][0]["alert_oblast_hours"] is None


async def test_the_maps_night_tally(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/api/v1/attacks/nights/2023-03-08")).json()
    assert doc["licence"] == "CC BY-NC-SA 4.0"
    kinzhal = [c for c in doc["classes"] if c["key"] == "aeroballistic"]
    assert kinzhal[0]["launched"] == 6
    assert doc["total"]["launched"] == sum(a["launched"] or 0 for a in doc["attacks"])
    empty = (await api.get("/api/v1/attacks/nights/2023-03-20")).json()
    assert empty["attacks"] == [] or all(a["night"] == "2023-03-20" for a in empty["attacks"])


# The API surface ------------------------------------------------------------------------------


async def test_list_filters_and_pages(api: httpx.AsyncClient) -> None:
    url = "/api/v1/attacks?from=2025-06-01&to=2025-06-30&sources=all&class=drones"
    whole = (await api.get(url + "&limit=500")).json()
    ids, cursor = [], None
    while True:
        page = (await api.get(url + "&limit=7" + (f"&cursor={cursor}" if cursor else ""))).json()
        ids += [a["id"] for a in page["attacks"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == [a["id"] for a in whole["attacks"]] and len(ids) > 7
    assert all(w["kind"] == "drone" for a in whole["attacks"] for w in a["weapons"])
    assert all(a["weapons"] for a in whole["attacks"])
    assert (
        "all" in whole["definitions"]["sources"]
        or "national reports, plus" in whole["definitions"]["sources"]
    )


async def test_check_endpoint(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/api/v1/attacks/check?period=2025-06&what=drones&quoted=5337")).json()
    assert doc["quoted"] == 5337 and doc["period"]["from"] == "2025-06-01"
    assert doc["verdict"].startswith("5,337 is not reproduced")
    first = doc["readings"][0]
    assert not first["context"] and first["difference"] == 5337 - first["value"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/v1/attacks?from=2023-13-01", 422, "invalid_request"),
        ("/api/v1/attacks?from=2025-02-01&to=2025-01-01", 422, "bad_query"),
        ("/api/v1/attacks?from=1900-01-01", 422, "bad_query"),
        ("/api/v1/attacks?class=lasers", 422, "bad_query"),
        ("/api/v1/attacks?sources=everyone", 422, "invalid_request"),
        ("/api/v1/attacks?cursor=not-ours", 422, "bad_query"),
        ("/api/v1/attacks?limit=0", 422, "invalid_request"),
        ("/api/v1/attacks?limit=501", 422, "invalid_request"),
        ("/api/v1/attacks/totals?by=week", 422, "invalid_request"),
        ("/api/v1/attacks/check?period=June", 422, "bad_query"),
        ("/api/v1/attacks/check?period=2025-06&quoted=-1", 422, "invalid_request"),
        ("/api/v1/attacks/check?period=2025-06&what=lasers", 422, "bad_query"),
        ("/api/v1/attacks/check", 422, "invalid_request"),
        ("/api/v1/attacks/nights/2023-02-30", 422, "invalid_request"),
        ("/api/v1/attacks/999999", 404, "unknown_attack"),
        ("/api/v1/attacks/0", 422, "invalid_request"),
        ("/api/v1/attacks/charts/monthly.gif", 404, "unknown_format"),
    ],
)
async def test_bad_input_gets_a_json_error(
    api: httpx.AsyncClient, url: str, status: int, code: str
) -> None:
    answer = await api.get(url)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


async def test_no_ledger_is_a_404_naming_the_fix(client: httpx.AsyncClient) -> None:
    source = await client.get("/api/v1/attacks/source")
    assert source.status_code == 200 and source.json()["imported"] is False
    for url in (
        "/api/v1/attacks",
        "/api/v1/attacks/totals",
        "/api/v1/attacks/check?period=2025",
        "/api/v1/attacks/nights/2023-03-08",
        "/api/v1/attacks/1",
    ):
        answer = await client.get(url)
        assert answer.status_code == 404, url
        assert answer.json()["error"]["code"] == "no_ledger"
        assert "tryvoha attacks import" in answer.json()["error"]["message"]


async def test_openapi_shows_real_bodies_and_the_chart_carries_the_licence(
    api: httpx.AsyncClient,
) -> None:
    schema = (await api.get("/openapi.json")).json()
    schemas = schema["components"]["schemas"]
    for name in ("AttackPage", "AttackDetail", "Totals", "Check", "NightTally", "Source"):
        assert {"licence", "attribution"} <= set(schemas[name]["properties"]), name
    assert {"alert_record", "message", "oblasts", "peak_oblasts"} <= set(
        schemas["Wave"]["properties"]
    )
    get = schema["paths"]["/api/v1/attacks/{attack_id}"]["get"]
    assert "404" in get["responses"] and "422" in get["responses"]
    svg = await api.get("/api/v1/attacks/charts/monthly.svg?from=2023-01-01&to=2023-06-30")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"CC BY-NC-SA 4.0" in svg.content and b"Petro Ivaniuk" in svg.content
    png = await api.get("/api/v1/attacks/charts/monthly.png?from=2023-01-01&to=2023-03-31")
    assert png.content.startswith(b"\x89PNG")
    source = (await api.get("/api/v1/attacks/source")).json()
    assert source["imported"] and source["records"] == len(_attack_rows())
    assert "2023-03" in source["alert_record"]


# The CLI ---------------------------------------------------------------------------------------


def run(*args: str):
    return runner.invoke(cli, list(args), env={"COLUMNS": "200"})


def flat(text: str) -> str:
    """Rich wraps to the terminal width: compare words, not line breaks."""
    return " ".join(text.split())


def test_cli_import_is_idempotent_and_refuses_a_wrong_file(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    first = run("attacks", "import", str(ATTACKS), "--db", db)
    assert first.exit_code == 0, first.output
    n = f"{len(_attack_rows()):,}"
    assert f"│ {n} │ {n} │ 0 │ 0 │" in flat(first.stdout)  # rows, added, updated, unchanged
    assert "Licence CC BY-NC-SA 4.0" in flat(first.stdout)
    again = run("attacks", "import", str(ATTACKS), "--db", db)
    assert again.exit_code == 0
    assert f"│ {n} │ 0 │ 0 │ {n} │" in flat(again.stdout)
    wrong = run("attacks", "import", str(OFFICIAL), "--weapons", str(WEAPONS), "--db", db)
    assert wrong.exit_code == 2
    assert "missing columns time_start" in flat(wrong.stderr)
    assert "nothing was imported" in flat(wrong.stderr)


def test_cli_lists_a_period_as_json_and_csv(db_copy: Path) -> None:
    rows = [
        r
        for r in _attack_rows()
        if "2025-07-03" <= r["time_end"].strip()[:10] <= "2025-07-04" and _national(r)
    ]
    as_json = run(
        "attacks", "--from", "2025-07-03", "--to", "2025-07-04", "--json", "--db", str(db_copy)
    )
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["licence"] == "CC BY-NC-SA 4.0"
    assert sum(a["launched"] or 0 for a in doc["attacks"]) == sum(
        int(float(r["launched"])) for r in rows if r["launched"]
    )
    as_csv = run(
        "attacks", "--from", "2025-07-03", "--to", "2025-07-04", "--csv", "--db", str(db_copy)
    )
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(table) == len(rows)
    assert "CC BY-NC-SA 4.0" in flat(as_csv.stderr) and "CC BY-NC-SA" not in as_csv.stdout
    pretty = run("attacks", "--from", "2025-07-04", "--to", "2025-07-04", "--db", str(db_copy))
    assert "Shahed-136/131: 539 / 476" in pretty.stdout
    assert "Licence CC BY-NC-SA" in flat(pretty.stdout)


def test_cli_check_wave_and_totals(db_copy: Path, tmp_path: Path) -> None:
    checked = run(
        "attacks", "check", "2025-06", "--drones", "--quoted", "5337", "--db", str(db_copy)
    )
    assert checked.exit_code == 0, checked.output
    assert "5,337 is not reproduced" in flat(checked.stdout) and "Licence" in checked.stdout
    doc = json.loads(
        run(
            "attacks",
            "check",
            "2023-03-09",
            "--missiles",
            "--quoted",
            "81",
            "--json",
            "--db",
            str(db_copy),
        ).stdout
    )
    assert doc["verdict"].startswith("81 matches")
    listed = json.loads(
        run(
            "attacks", "--from", "2023-03-09", "--to", "2023-03-09", "--json", "--db", str(db_copy)
        ).stdout
    )
    waved = json.loads(
        run(
            "attacks", "wave", str(listed["attacks"][0]["id"]), "--json", "--db", str(db_copy)
        ).stdout
    )
    assert waved["wave"]["alert_record"] == "covered" and waved["wave"]["alerts"] > 0
    assert waved["licence"] == "CC BY-NC-SA 4.0"
    chart = tmp_path / "monthly.png"
    totals = run(
        "attacks",
        "totals",
        "--by",
        "month",
        "--from",
        "2023-01-01",
        "--to",
        "2023-03-31",
        "--csv",
        "--chart",
        str(chart),
        "--db",
        str(db_copy),
    )
    assert totals.exit_code == 0, totals.output
    months = list(csv.DictReader(io.StringIO(totals.stdout)))
    assert [m["key"] for m in months] == ["2023-01", "2023-02", "2023-03", "total"]
    assert chart.read_bytes().startswith(b"\x89PNG")
    missing = run("attacks", "wave", "999999", "--db", str(db_copy))
    assert missing.exit_code == 2 and "no attack with id 999999" in flat(missing.stderr)
    bad = run("attacks", "totals", "--class", "lasers", "--db", str(db_copy))
    assert bad.exit_code == 2 and "unknown weapon class" in flat(bad.stderr)


def test_cli_help_teaches() -> None:
    top = run("attacks", "--help")
    assert top.exit_code == 0
    for word in ("import", "totals", "check", "wave", "tryvoha attacks check 2025-06"):
        assert word in flat(top.stdout)
    assert "Examples" in run("attacks", "check", "--help").stdout
    assert "Example" in run("attacks", "import", "--help").stdout


def test_cli_prints_data_as_text_never_as_markup(tmp_path: Path) -> None:
    text = ATTACKS.read_text(encoding="utf-8")
    hostile = tmp_path / "missile_attacks_daily.csv"
    hostile.write_text(
        text
        + "2030-01-01 01:00,2030-01-01 02:00,[red]Evil[/red],,[bold]Kyiv,,3.0,1.0,,,{},,,,,,,,,,,"
        "kpszsu/posts/x\n"
        + "[b]soon[/b],2030-01-01 02:00,Kalibr,,Ukraine,,3.0,1.0,,,{},,,,,,,,,,,kpszsu/posts/y\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "cli.db")
    imported = run("attacks", "import", str(hostile), "--weapons", str(WEAPONS), "--db", db)
    assert imported.exit_code == 0, imported.output
    assert "'[b]soon[/b]'" in imported.stderr
    listed = run("attacks", "--from", "2030-01-01", "--to", "2030-01-01", "--db", db)
    assert "[red]Evil[/red]: 3 / 1" in listed.stdout

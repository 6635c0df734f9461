"""`tryvoha attacks`: the Air Force tallies of drones and missiles, beside the alert record."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tryvoha.cli.common import DbOption, JsonOption, hub_settings, open_store

HELP = "\n\n".join(
    [
        "The attacks ledger: drones and missiles launched at Ukraine and how many were shot "
        "down, from the Air Force reports, beside the alerts they caused.",
        "Import the data set once (it is not shipped with tryvoha: its licence, CC BY-NC-SA 4.0, "
        "is not the hub's), then ask:",
        "\n".join(
            [
                "  tryvoha attacks import missile_attacks_daily.csv",
                "  tryvoha attacks --from 2025-07-03 --to 2025-07-04   the attacks of a period",
                "  tryvoha attacks totals --by month --from 2025-01-01 --class drones",
                "  tryvoha attacks check 2025-06 --drones --quoted 5337   is a figure right?",
                "  tryvoha attacks wave 2059   an attack and its alert wave",
            ]
        ),
        "Dates are Kyiv dates, both ends included. Every answer states its reading: --basis "
        "(which date an attack is filed under: report = the morning report, start, night), "
        "--sources (national reports only, or all without counting anything twice) and --class "
        "(which weapons).",
    ]
)

app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode="rich")
console = Console()
err = Console(stderr=True)


class Basis(StrEnum):
    report = "report"
    start = "start"
    night = "night"


class Sources(StrEnum):
    national = "national"
    regional = "regional"
    other = "other"
    all = "all"


class By(StrEnum):
    day = "day"
    night = "night"
    month = "month"
    year = "year"
    weapon_class = "class"
    model = "model"
    reporter = "reporter"


class Figure(StrEnum):
    launched = "launched"
    neutralised = "neutralised"
    shot_down = "shot_down"
    lost_locally = "lost_locally"
    in_air = "in_air"


SinceOption = Annotated[
    datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First Kyiv date.")
]
UntilOption = Annotated[
    datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], help="Last Kyiv date (included)."),
]
BasisOption = Annotated[
    Basis,
    typer.Option("--basis", help="File attacks by report date (window end), start date or night."),
]
SourcesOption = Annotated[
    Sources,
    typer.Option("--sources", help="national (default), regional, other, or all (no overlaps)."),
]
ClassOption = Annotated[
    str | None,
    typer.Option(
        "--class",
        help="Weapons: drones, missiles, bombs, shahed, or a class (cruise, ballistic, …).",
    ),
]
CsvOption = Annotated[bool, typer.Option("--csv", help="CSV on stdout (licence on stderr).")]


def _alert_record(store: Any) -> Any:
    from tryvoha.history.attacks.waves import AlertRecord
    from tryvoha.history.engine import StatsEngine
    from tryvoha.regions import load_catalogue

    engine = StatsEngine(load_catalogue(), store)
    with err.status("Reading the alert record…"):
        engine.refresh()
    return AlertRecord.of(engine, store, datetime.now(UTC))


def _day(value: datetime | None) -> date | None:
    return None if value is None else value.date()


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/]")
    return typer.Exit(2)


def _answer(fn: Any, *args: Any) -> Any:
    """Run a ledger question; its errors become readable messages and exit code 2."""
    from tryvoha.history.attacks import ledger

    try:
        return fn(*args)
    except ledger.NoLedger as exc:
        raise _fail(str(exc)) from None
    except ledger.LedgerError as exc:
        raise _fail(str(exc)) from None


def _footer(
    doc: dict[str, Any], definitions: dict[str, Any] | None = None, stderr: bool = False
) -> None:
    """The definitions a table used, then the data set's licence and attribution."""
    from tryvoha.history.attacks import ledger

    out = err if stderr else console
    for name, text in (definitions or {}).items():
        if isinstance(text, str):
            out.print(f"[dim]{escape(name)}: {escape(text)}[/]")
    out.print(f"[dim]{escape(ledger.licence_line(doc))}[/]")


def _row(table: Table, *cells: Any, **options: Any) -> None:
    """A table row of plain text: values from the data set are never read as markup."""
    table.add_row(*(Text(str(c)) for c in cells), **options)


def _n(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _write_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


# Listing --------------------------------------------------------------------------------------


@app.callback(invoke_without_command=True)
def attacks(
    ctx: typer.Context,
    since: SinceOption = None,
    until: UntilOption = None,
    basis: BasisOption = Basis.report,
    sources: SourcesOption = Sources.national,
    weapons: ClassOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
    db: DbOption = None,
) -> None:
    """List the attacks of a period: one per report window and reporting account.

    Example: tryvoha attacks --from 2025-07-03 --to 2025-07-04 --sources all
    """
    if ctx.invoked_subcommand is not None:
        return
    from tryvoha.history.attacks import ledger

    store = open_store(hub_settings(db))
    reading = ledger.Reading(basis.value, sources.value, weapons, _day(since), _day(until))
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _answer(ledger.list_attacks, store, reading, cursor, ledger.MAX_LIMIT)
        found.extend(page["attacks"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    store.close()
    terms = {k: page[k] for k in ("licence", "licence_url", "attribution", "source_url")}
    if as_json:
        typer.echo(orjson.dumps({**page, "attacks": found, "next_cursor": None}).decode())
        return
    if as_csv:
        _write_csv([_flat(a, w) for a in found for w in a["weapons"]])
        _footer(terms, stderr=True)
        return
    table = Table(
        "id",
        "window (Kyiv)",
        "reported by",
        "weapons: launched / neutralised",
        "launched",
        "neutralised",
        title=f"Attacks: {reading.definitions().get('period', 'every date')}",
    )
    for a in found:
        weapons_text = "\n".join(
            f"{w['model']}: {_n(w['launched'])} / {_n(w['neutralised'])}"
            + ("" if w["counted_in_all_sources"] else f" (in #{w['covered_by']})")
            for w in a["weapons"]
        )
        _row(
            table,
            str(a["id"]),
            _window_text(a),
            a["reporter"],
            weapons_text,
            _n(a["launched"]),
            _n(a["neutralised"]),
        )
    console.print(table)
    console.print(f"{len(found)} attacks")
    _footer(terms, page["definitions"])


def _window_text(a: dict[str, Any]) -> str:
    w = a["window"]
    if w["date_only"]:
        return w["as_reported"] + " (date only)"
    return f"{w['start_local'][:16].replace('T', ' ')} → {w['end_local'][:16].replace('T', ' ')}"


def _flat(a: dict[str, Any], w: dict[str, Any]) -> dict[str, Any]:
    return {
        "attack_id": a["id"],
        "reporter": a["reporter"],
        "level": a["level"],
        "window_start": a["window"]["start"],
        "window_end": a["window"]["end"],
        "as_reported": a["window"]["as_reported"],
        "report_date": a["report_date"],
        "night": a["night"],
        "model": w["model"],
        "weapon_class": w["weapon_class"],
        "launched": w["launched"],
        "shot_down": w["shot_down"],
        "lost_locally": w["lost_locally"],
        "neutralised": w["neutralised"],
        "in_air": w["in_air"],
        "shaheds": w["shaheds"],
        "hit_places": w["hit_places"],
        "target": w["target"],
        "counted_in_all_sources": w["counted_in_all_sources"],
        "line": w["line"],
    }


# Import ---------------------------------------------------------------------------------------


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="missile_attacks_daily.csv (or .csv.gz)")],
    weapons: Annotated[
        Path | None,
        typer.Option(
            "--weapons", help="The weapon reference (default: missiles_and_uavs.csv beside PATH)."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Import nothing if any row cannot be read.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove rows no longer in the file.")
    ] = False,
    show: Annotated[int, typer.Option("--show", help="How many problem rows to print.")] = 20,
    db: DbOption = None,
) -> None:
    """Import the data set into the hub's store (again: only what changed).

    Re-importing adds nothing; rows the upstream author corrected are updated; rows that cannot
    be read are listed with their line numbers and left out. The file is read now and never
    copied into the package.

    Example: tryvoha attacks import ../shared/data/attacks/missile_attacks_daily.csv
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from tryvoha.history.attacks import ledger
    from tryvoha.history.attacks.importer import import_attacks
    from tryvoha.history.attacks.source import AttacksFileError

    store = open_store(hub_settings(db), create=True)
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    try:
        with bar:
            task = bar.add_task(f"Importing {path.name}", total=None)

            def step(stage: str, done: int, total: int) -> None:
                label = "Read" if stage == "read" else "Written"
                bar.update(task, description=f"{label}: {path.name}", completed=done, total=total)

            report = import_attacks(store, path, weapons, progress=step, strict=strict, prune=prune)
    except AttacksFileError as exc:
        store.close()
        raise _fail(f"{exc} (nothing was imported)") from None
    terms = ledger.licence(store)
    store.close()
    for problem in report.problems[:show]:
        err.print(f"[yellow]line {problem.line}:[/] {escape(problem.reason)}")
    if len(report.problems) > show:
        err.print(f"[yellow]… and {len(report.problems) - show} more rows not imported[/]")
    for note in report.notes[:show]:
        err.print(f"[dim]line {note.line}: {escape(note.reason)}[/]")
    c = report.counts
    table = Table(
        "rows",
        "added",
        "updated",
        "unchanged",
        "not imported",
        "no longer in file",
        "split rows",
        "attacks added",
        title=f"Imported {path.name}",
    )
    _row(
        table,
        _n(report.records),
        _n(c.added),
        _n(c.updated),
        _n(c.unchanged),
        _n(len(report.problems)),
        _n(c.removed if prune else c.not_in_file),
        _n(report.split_rows),
        _n(c.attacks_added),
    )
    console.print(table)
    _footer(terms)


# Totals ---------------------------------------------------------------------------------------


@app.command("totals")
def totals(
    by: Annotated[By, typer.Option("--by", help="Group by day, night, month, year, class…")] = (
        By.month
    ),
    since: SinceOption = None,
    until: UntilOption = None,
    basis: BasisOption = Basis.report,
    sources: SourcesOption = Sources.national,
    weapons: ClassOption = None,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Also write the monthly chart (.png or .svg)."),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
    db: DbOption = None,
) -> None:
    """Launched, shot down, lost, neutralised… per day, night, month, year, class or model.

    Day, night, month and year rows show the alert hours of the same period beside them, where
    the hub's alert record covers it.

    Example: tryvoha attacks totals --by month --from 2025-01-01 --to 2025-12-31 --class drones
    """
    from tryvoha.history import charts
    from tryvoha.history.attacks import ledger

    store = open_store(hub_settings(db))
    reading = ledger.Reading(basis.value, sources.value, weapons, _day(since), _day(until))
    timed = by.value in ("day", "night", "month", "year")
    _answer(reading.filters)
    _answer(ledger.licence, store)
    alerts = _alert_record(store) if timed or chart is not None else None
    doc = _answer(ledger.totals, store, reading, by.value, alerts if timed else None)
    if chart is not None:
        fmt = chart.suffix.lstrip(".").lower()
        if fmt not in charts.FORMATS:
            raise _fail(f"--chart must end in .png or .svg, not {chart.name!r}")
        data = _answer(ledger.monthly_chart_data, store, reading, alerts)
        title = f"Air Force tallies by month ({sources.value} reports) beside alert hours"
        chart.write_bytes(charts.attacks_monthly_chart(data, title, fmt))
        err.print(f"Chart written to {chart}")
    store.close()
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    if as_csv:
        _write_csv([*doc["rows"], {**doc["total"], "key": "total"}])
        _footer(doc, stderr=True)
        return
    extra = ["alert oblast-hours", "oblasts"] if timed and alerts is not None else []
    table = Table(
        doc["by"],
        "attacks",
        "launched",
        "shot down",
        "lost",
        "neutralised",
        "in air",
        *extra,
        title=f"Totals by {doc['by']}",
    )
    for row in [*doc["rows"], {**doc["total"], "key": "total"}]:
        cells = [str(row["key"])]
        cells += [_n(row[k]) for k in ("attacks", "launched", "shot_down", "lost_locally")]
        cells += [_n(row["neutralised"]), _n(row["in_air"])]
        if extra:
            cells += [_n(row.get("alert_oblast_hours")), _n(row.get("oblasts_under_alert"))]
        _row(table, *cells, end_section=bool(doc["rows"]) and row is doc["rows"][-1])
    console.print(table)
    _footer(doc, doc["definitions"])


# Check ----------------------------------------------------------------------------------------


@app.command("check")
def check(
    period: Annotated[
        str, typer.Argument(help="2025, 2025-06, 2025-07-04 or 2025-06-01..2025-06-15")
    ],
    drones: Annotated[bool, typer.Option("--drones", help="Check a drone figure.")] = False,
    missiles: Annotated[bool, typer.Option("--missiles", help="Check a missile figure.")] = False,
    weapons: ClassOption = None,
    figure: Annotated[
        Figure, typer.Option("--figure", help="launched (default), neutralised, shot_down…")
    ] = Figure.launched,
    quoted: Annotated[
        int | None, typer.Option("--quoted", min=0, help="The figure to check, e.g. 5337.")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """What the data gives for a period under every reading, and how far a quote is from each.

    Readings: by report date, start date or night; national reports or all (no overlaps); and
    for drones: Shahed-type with decoys, attack Shaheds only (where reports split them), every
    drone. Every-weapon and added-up readings are shown as context.

    Examples:
      tryvoha attacks check 2025-06 --drones --quoted 5337
      tryvoha attacks check 2025-07-04 --drones --figure neutralised --quoted 478
      tryvoha attacks check 2023-03-09 --missiles --quoted 81
    """
    from tryvoha.history.attacks import check as checks

    chosen = [name for name, on in (("drones", drones), ("missiles", missiles)) if on]
    if weapons:
        chosen.append(weapons)
    if len(chosen) > 1:
        raise _fail("choose one of --drones, --missiles or --class")
    what = chosen[0] if chosen else "all"
    store = open_store(hub_settings(db))
    doc = _answer(
        lambda: checks.check(store, checks.parse_period(period), what, figure.value, quoted)
    )
    store.close()
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    table = Table(
        "weapons",
        "sources",
        "basis",
        figure.value,
        "attacks",
        "rows",
        *(["quote − value", "%"] if quoted is not None else []),
        "note",
        title=f"{figure.value} in {period} ({doc['period']['from']} to {doc['period']['to']})",
    )
    for r in doc["readings"]:
        cells = [
            r["weapons"] + (" (context)" if r["context"] else ""),
            r["sources"],
            r["basis"],
            _n(r["value"]) + ("" if r["complete"] else " (partial)"),
            _n(r["attacks"]),
            _n(r["rows"]),
        ]
        if quoted is not None:
            rel = r["relative"]
            cells += [_n(r["difference"]), "–" if rel is None else f"{100 * rel:+.1f}"]
        _row(table, *cells, r["note"] or "")
    console.print(table)
    console.print(f"[bold]{escape(doc['verdict'])}[/]")
    definitions = {
        k: v for k, v in doc["definitions"].items() if k in ("figure", "difference", "context")
    }
    for name, text in doc["definitions"]["basis"].items():
        definitions[f"basis {name}"] = text
    for name, text in doc["definitions"]["sources"].items():
        definitions[f"sources {name}"] = text
    _footer(doc, definitions)


# Wave -----------------------------------------------------------------------------------------


@app.command("wave")
def wave(
    attack_id: Annotated[int, typer.Argument(min=1, help="An attack id (from the list).")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """An attack, its weapons, and the alert wave around it.

    The wave: every actual air-raid alert active from 1 h before the attack window to 1 h after
    it, from the first alert to the last all-clear: the oblasts under alert, the most at once,
    hours per oblast and the nights under alert. Outside the alert record it says so.

    Example: tryvoha attacks wave 2059
    """
    from tryvoha.history.attacks import ledger
    from tryvoha.history.attacks.waves import wave as wave_of
    from tryvoha.store import attacks as ledger_store

    store = open_store(hub_settings(db))
    terms = _answer(ledger.licence, store)
    found = ledger_store.get_attacks(store, [attack_id])
    if not found:
        store.close()
        raise _fail(f"no attack with id {attack_id}")
    doc = ledger.attack_doc(found[0], ledger_store.rows_of(store, [attack_id])[attack_id])
    waved = wave_of(_alert_record(store), found[0])
    store.close()
    if as_json:
        typer.echo(orjson.dumps({"attack": doc, "wave": waved, **terms}).decode())
        return
    head = Table(
        "model",
        "class",
        "launched",
        "shot down",
        "lost",
        "neutralised",
        "target",
        title=f"Attack {doc['id']}: {doc['reporter']}, {_window_text(doc)}",
    )
    for w in doc["weapons"]:
        _row(
            head,
            w["model"],
            w["weapon_class"],
            _n(w["launched"]),
            _n(w["shot_down"]),
            _n(w["lost_locally"]),
            _n(w["neutralised"]),
            w["target"] or "",
        )
    console.print(head)
    if waved["alert_record"] == "none":
        console.print(f"[yellow]{escape(waved['message'])}[/]")
        _footer(terms)
        return
    if waved.get("message"):
        console.print(f"[yellow]{escape(waved['message'])}[/]")
    summary = Table("figure", "value", title="Alert wave")
    for label, value in (
        ("alerts", _n(waved["alerts"])),
        (
            "first alert → last all-clear (UTC)",
            f"{(waved['first_alert'] or '–')[:16]} → {(waved['last_all_clear'] or '–')[:16]}",
        ),
        ("hours from first alert to last all-clear", _n(waved["hours"])),
        (
            "oblasts under alert (any part / as a whole)",
            f"{waved['oblasts_under_alert']} / {waved.get('oblasts_whole', 0)}",
        ),
        ("most oblasts at once (as a whole)", f"{waved['peak_oblasts']} at {waved['peak_at']}"),
        (
            "most oblasts at once (any part)",
            f"{waved['peak_oblasts_any_part']} at {waved['peak_any_part_at']}",
        ),
        ("nights under alert (Kyiv, 22–06)", ", ".join(waved["nights"]) or "–"),
        ("oblast-nights", _n(waved["oblast_nights"])),
    ):
        _row(summary, label, str(value))
    console.print(summary)
    per = Table("oblast", "alerts", "hours", "whole-oblast hours", "nights")
    for o in waved["oblasts"]:
        _row(
            per,
            o["name_en"],
            _n(o["alerts"]),
            _n(o["hours"]),
            _n(o["whole_oblast_hours"]),
            ", ".join(o["nights"]),
        )
    console.print(per)
    _footer(terms, {"wave": waved["definition"]})

"""`tryvoha import`, `tryvoha replay` and `tryvoha stats`: the alert record since 2022."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tryvoha.alerts.model import Threat
from tryvoha.cli.common import (
    DbOption,
    JsonOption,
    hub_settings,
    open_hub,
    open_store,
    resolve_region,
)
from tryvoha.config import Settings
from tryvoha.history import bundled

import_app = typer.Typer(
    help="Import a public alert data set into the log (each row: a declared and an ended event).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


def _import(dataset: str, path: Path, db: str | None, show: int) -> None:
    if not path.exists():
        err.print(f"[red]No such file: {path}[/]")
        raise typer.Exit(2)
    hub = open_hub(hub_settings(db), writer="tryvoha import", create=True)
    try:
        report = bundled.import_with_progress(hub, dataset, path, err, f"Importing {path.name}")
    except ValueError as exc:
        err.print(f"[red]{path}: {exc}[/]")
        raise typer.Exit(2) from exc
    finally:
        hub.close()
    for problem in report.problems[:show]:
        err.print(f"[yellow]line {problem.line}:[/] {problem.reason}")
    if len(report.problems) > show:
        err.print(f"[yellow]… and {len(report.problems) - show} more problems[/]")
    table = Table("rows", "imported", "already in the log", "permanent added", "not imported")
    table.add_row(
        str(report.rows),
        str(report.imported),
        str(report.already),
        str(report.permanent),
        str(len(report.problems)),
    )
    console.print(table)
    if report.events:
        console.print(f"Events {report.first_event_id}–{report.last_event_id} appended.")


ShowOption = Annotated[int, typer.Option("--show", help="How many problem rows to print.")]


@import_app.command("official")
def import_official(
    path: Annotated[Path, typer.Argument(help="official_data_en.csv (or .csv.gz)")],
    db: DbOption = None,
    show: ShowOption = 20,
) -> None:
    """The official record (oblast, raion and hromada alerts since 2022-03-15).

    Also adds the two permanent alerts it leaves out (Luhansk oblast since 2022-04-04, Crimea
    since 2022-12-10). Example: tryvoha import official official_data_en.csv
    """
    _import("official", path, db, show)


@import_app.command("volunteer")
def import_volunteer(
    path: Annotated[Path, typer.Argument(help="volunteer_data_en.csv")],
    db: DbOption = None,
    show: ShowOption = 20,
) -> None:
    """The volunteer record (oblast alerts since 2022-02-25; some ends estimated)."""
    _import("volunteer", path, db, show)


def _in_range(value: datetime, option: str) -> datetime:
    from tryvoha.alerts import ranges

    try:
        return ranges.check_time(value, option)
    except ranges.OutOfRange as problem:
        raise typer.BadParameter(problem.message, param_hint=option) from None


def _utc(value: datetime, option: str) -> datetime:
    return _in_range(value if value.tzinfo else value.replace(tzinfo=UTC), option)


def _kyiv(value: datetime, option: str) -> datetime:
    """Dates without an offset are Kyiv dates: '--from 2023-01-01' is Kyiv's New Year."""
    from tryvoha.history.kyiv import KYIV

    return _in_range(value if value.tzinfo else value.replace(tzinfo=KYIV), option)


def replay(
    since: Annotated[datetime, typer.Option("--from", help="Start, e.g. 2023-03-09T00:00Z")],
    until: Annotated[datetime, typer.Option("--to", help="End, e.g. 2023-03-09T12:00Z")],
    speed: Annotated[
        float,
        typer.Option("--speed", min=0.1, max=100_000, help="60: an hour plays in a minute."),
    ] = 60,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Demo database to replay into (default: a fresh temporary one, removed on exit).",
        ),
    ] = None,
    source: Annotated[
        Path | None, typer.Option("--source", help="Official CSV to replay (default: bundled).")
    ] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the demo hub meanwhile.")] = False,
    port: Annotated[
        int,
        typer.Option("--port", min=1, max=65535, help="Port of the demo hub (with --serve)."),
    ] = 8080,
    force: Annotated[
        bool, typer.Option("--force", help="Replay into a log that is not a demo log.")
    ] = False,
) -> None:
    """Re-enact a past period as live events into a demo hub.

    The map of the demo hub (--serve) says it shows a replay, of which period and at what speed,
    and its clock shows the replayed time. Ctrl+C stops it; a temporary database goes with it.

    Example: tryvoha replay --from 2023-03-09T00:00Z --to 2023-03-09T12:00Z --speed 60 --serve
    """
    from tryvoha.serve import PortTaken, check_port

    since, until = _utc(since, "--from"), _utc(until, "--to")
    if until <= since:
        err.print("[red]--to must be after --from[/]")
        raise typer.Exit(2)
    if serve:
        try:
            check_port("127.0.0.1", port, choose="--port, e.g. --port 8081")
        except PortTaken as exc:
            err.print(f"[bold red]Cannot serve the replay:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from None
    with contextlib.ExitStack() as scratch:
        if db is None:  # removed on every way out, Ctrl+C included
            folder = scratch.enter_context(tempfile.TemporaryDirectory(prefix="tryvoha-replay-"))
            db = str(Path(folder) / "demo.db")
        _replay(since, until, speed, db, source, port if serve else None, force)


def _replay(
    since: datetime,
    until: datetime,
    speed: float,
    db: str,
    source: Path | None,
    port: int | None,
    force: bool,
) -> None:
    from tryvoha.history import replay as rp
    from tryvoha.history.importer import read_rows

    hub = open_hub(hub_settings(db), writer="tryvoha replay", create=True)
    try:
        rp.claim_demo_log(hub.store, force)
    except rp.NotADemoLog as exc:
        hub.close()
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    rows, _ = read_rows("official", source or bundled.OFFICIAL_DATA, hub)
    plan = rp.steps(rows, since, until)
    seconds = (until - since).total_seconds() / speed
    err.print(
        f"Replaying {len(plan)} events of {since:%Y-%m-%d %H:%M}–{until:%Y-%m-%d %H:%M} "
        f"UTC in {seconds:.0f} s into {db}"
    )

    def shown(step: Any, k: int) -> None:
        region = hub.catalogue.get(step.row.region_id)
        what = "[red]alert[/]" if step.declare else "[green]all clear[/]"
        err.print(f"{step.at:%H:%M} UTC  {what}  {region.label('en')}  [{k}/{len(plan)}]")

    async def run() -> Any:
        if port is None:
            return await rp.replay(hub, plan, since, speed, on_step=shown)
        import uvicorn

        from tryvoha.api.app import create_app

        app = create_app(hub, Settings(db=db, port=port, load_history=False))
        app.state.replay = rp.ReplayClock(since, until, speed, datetime.now(UTC))
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        err.print(f"Serving the demo hub at http://127.0.0.1:{port}/ (Ctrl+C to stop)")
        playing = asyncio.create_task(rp.replay(hub, plan, since, speed, on_step=shown))
        await asyncio.wait({serving, playing}, return_when=asyncio.FIRST_COMPLETED)
        if playing.done():
            err.print("Replay done; still serving (Ctrl+C to stop).")
            await serving
            return playing.result()
        playing.cancel()  # the server stopped first (Ctrl+C): the replay stops with it
        with contextlib.suppress(asyncio.CancelledError):
            await playing
        await serving
        return None

    try:
        report = asyncio.run(run())
    finally:
        hub.close()
    if report is not None:
        console.print(
            f"Declared {report.declared}, ended {report.ended}, skipped {report.skipped}."
        )


def stats(
    region: Annotated[str, typer.Argument(help="Region id or name (default: Ukraine)")] = "UA",
    since: Annotated[
        datetime | None, typer.Option("--from", help="Start (Kyiv time if no offset)")
    ] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="End (default now)")] = None,
    threat: Annotated[Threat, typer.Option("--threat", "-t")] = Threat.AIR_RAID,
    descendants: Annotated[
        bool, typer.Option("--descendants/--alone", help="Include sub-regions' alerts")
    ] = True,
    ancestors: Annotated[
        bool, typer.Option("--ancestors", help="Include alerts of the regions containing it")
    ] = False,
    nationwide: Annotated[
        bool, typer.Option("--nationwide", help="Per night: most oblasts under alert at once")
    ] = False,
    daily: Annotated[bool, typer.Option("--calendar", help="Per Kyiv day figures")] = False,
    longest: Annotated[int, typer.Option("--longest", help="How many longest alerts")] = 5,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write the start-hour chart (.png or .svg)")
    ] = None,
    heatmap: Annotated[
        Path | None, typer.Option("--heatmap", help="Write the calendar heat map (.png/.svg)")
    ] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout")] = False,
    db: DbOption = None,
) -> None:
    """Statistics of the alert record: how often, how long, at night, nationwide.

    Example: tryvoha stats "Kyiv City" --from 2023-01-01 --to 2024-01-01
    """
    from tryvoha.history import charts
    from tryvoha.history import stats as st
    from tryvoha.history.coverage import Coverage
    from tryvoha.history.engine import StatsEngine
    from tryvoha.regions import load_catalogue

    since = _kyiv(since, "--from") if since else datetime(2022, 2, 24, tzinfo=UTC)
    until = _kyiv(until, "--to") if until else None
    catalogue = load_catalogue()
    store = open_store(hub_settings(db))
    engine = StatsEngine(catalogue, store)
    with err.status("Reading the alert record…"):
        engine.refresh()
        coverage = Coverage.of(store)
    store.close()
    if engine.count() == 0:
        err.print(
            "[yellow]The log holds no alerts: run 'tryvoha serve' once (it loads the "
            "official record) or 'tryvoha import official FILE'.[/]"
        )
    now = datetime.now(UTC)
    scope = st.Scope(
        region_id=resolve_region(region, "REGION"),
        since=since,
        until=until or now,
        threat=threat,
        descendants=descendants,
        ancestors=ancestors,
        now=now,
    )
    try:
        st.check_scope(engine, scope)
    except st.StatsError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    name = catalogue.get(scope.region_id).name_en
    said = Console(stderr=True, highlight=False, soft_wrap=True)
    said.print(f"Record: {coverage.describe()}.", style="dim", markup=False)
    warning = coverage.warning(scope.since, scope.until, now)
    if warning is not None:
        said.print(f"Warning: {warning}.", style="yellow", markup=False)
    if nationwide:
        rows = st.nationwide(engine, scope.since, scope.until, threat, now=now)
        _emit_rows(rows, as_json, as_csv, "Most oblasts under alert at once, per night")
        if not (as_json or as_csv):
            count = sum(r["nationwide"] for r in rows)
            console.print(f"{count} nationwide nights of {len(rows)}")
        return
    if daily:
        _emit_rows(st.calendar(engine, scope), as_json, as_csv, f"{name}: per Kyiv day")
        return
    result = st.summary(engine, scope)
    top = st.longest(engine, scope, longest)
    if chart is not None:
        chart.write_bytes(
            charts.start_hour_chart(
                result.start_hours, f"{name}: alerts by start hour", chart.suffix.lstrip(".")
            )
        )
    if heatmap is not None:
        days = st.calendar(engine, scope)
        heatmap.write_bytes(
            charts.calendar_heatmap(
                days, f"{name}: hours under alert per day", heatmap.suffix.lstrip(".")
            )
        )
    doc = result.doc()
    if as_json:
        doc["longest"] = top
        doc["coverage"] = coverage.doc(scope.since, scope.until, now)
        typer.echo(orjson.dumps(doc).decode())
        return
    if as_csv:
        flat = {k: v for k, v in doc.items() if k not in ("duration_minutes", "start_hours")}
        flat.update({f"duration_{k}_minutes": v for k, v in doc["duration_minutes"].items()})
        flat.update({f"started_{h:02d}h": n for h, n in enumerate(doc["start_hours"])})
        _emit_rows([flat], False, True, "")
        return
    _print_summary(name, result, top)


def _emit_rows(rows: list[dict[str, Any]], as_json: bool, as_csv: bool, title: str) -> None:
    if as_json:
        typer.echo(orjson.dumps(rows).decode())
        return
    if as_csv:
        if rows:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]), title=title)
    for r in rows:
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in r.values()))
    console.print(table)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def start_hour_table(start_hours: list[int]) -> Table:
    """Alerts by the Kyiv hour they started, in two blocks of twelve hours, each count right
    under its own hour: 00 to 11, then 12 to 23."""
    table = Table(title="alerts by start hour (Kyiv)", show_header=False)
    for first in (0, 12):
        hours = range(first, first + 12)
        table.add_row("hour", *[f"{h:02d}" for h in hours], style="bold")
        table.add_row("alerts", *[str(start_hours[h]) for h in hours], end_section=first == 0)
    return table


def _print_summary(name: str, s: Any, top: list[dict[str, Any]]) -> None:
    table = Table("figure", "value", title=f"{name}: {s.threat}, {s.since[:10]} – {s.until[:10]}")
    d = s.duration_minutes
    for label, value in (
        ("alerts", s.alerts),
        (
            "of them started at night (22–06 Kyiv)",
            f"{s.night_alerts} ({_pct(s.night_alert_share)})",
        ),
        ("hours under alert", f"{s.hours:.1f}"),
        ("of them at night", f"{s.night_hours:.1f} ({_pct(s.night_hour_share)})"),
        ("nights with an alert", f"{s.nights_with_alert} of {s.nights_in_period}"),
        ("days with an alert", s.days_with_alert),
        (
            "median / p90 / longest (minutes)",
            " / ".join("–" if d[k] is None else f"{d[k]:.0f}" for k in ("median", "p90", "max")),
        ),
    ):
        table.add_row(label, str(value))
    console.print(table)
    console.print(start_hour_table(s.start_hours))
    if top:
        longest = Table("alert", "region", "started (UTC)", "hours", title="longest alerts")
        for a in top:
            longest.add_row(
                str(a["alert_id"]), a["region_name_en"], a["started_at"][:16], f"{a['hours']:.1f}"
            )
        console.print(longest)

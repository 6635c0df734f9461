"""`tryvoha alert` and `tryvoha status`: talk to a running hub over its HTTP API.

Going through the API (not the database) keeps one writer of the log and the same rules for
dispatchers at a console and scripts alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tryvoha.alerts import ranges
from tryvoha.alerts.model import AlertStatus, Detail, Threat
from tryvoha.cli.common import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    call,
    resolve_region,
)
from tryvoha.cli.common import need_token as _need_token
from tryvoha.regions import load_catalogue

app = typer.Typer(
    help="Declare, update, end and list alerts on a running hub (needs a token: "
    "'tryvoha token create').",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


def _print_alert(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    alert = doc["alert"]
    event = doc["event"]
    region = load_catalogue().get(alert["region_id"])
    console.print(
        f"{event['kind'].capitalize()} alert [bold]{alert['id']}[/]: {alert['threat']} "
        f"({alert['status']}) in {region.name_en} / {region.name_uk}; log id {event['id']}"
    )


@app.command()
def declare(
    region: Annotated[str, typer.Argument(help="Region id or name, e.g. 'Kyivska oblast'.")],
    threat: Annotated[Threat, typer.Option("--threat", "-t")] = Threat.AIR_RAID,
    detail: Annotated[
        list[Detail] | None, typer.Option("--detail", "-d", help="Repeat for several.")
    ] = None,
    status: Annotated[AlertStatus, typer.Option("--status")] = AlertStatus.ACTUAL,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Operator time, ISO 8601 such as 2026-03-09T02:15+02:00 (UTC without an "
            "offset), from 2000-01-01 to 5 minutes ahead of the hub's clock; now if omitted.",
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Declare an alert.

    Example: tryvoha alert declare "Kharkivska oblast" --detail ballistic_missile
    """
    body: dict[str, Any] = {
        "region_id": resolve_region(region),
        "threat": threat.value,
        "details": [d.value for d in detail or []],
        "status": status.value,
        "notes": notes,
    }
    if at is not None:
        body["occurred_at"] = _operator_time(at).isoformat()
    _print_alert(call("POST", url, "/api/v1/alerts", _need_token(token), json=body), as_json)


@app.command()
def update(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
    detail: Annotated[list[Detail] | None, typer.Option("--detail", "-d")] = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change an open alert's details or notes."""
    body: dict[str, Any] = {"notes": notes}
    if detail is not None:
        body["details"] = [d.value for d in detail]
    doc = call("PATCH", url, f"/api/v1/alerts/{alert_id}", _need_token(token), json=body)
    _print_alert(doc, as_json)


@app.command()
def end(
    target: Annotated[str, typer.Argument(help="Alert id, or a region id or name.")],
    threat: Annotated[Threat, typer.Option("--threat", "-t")] = Threat.AIR_RAID,
    status: Annotated[AlertStatus, typer.Option("--status")] = AlertStatus.ACTUAL,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """End an alert, by its id or by region and threat.

    Example: tryvoha alert end "Kyiv" --threat air_raid
    """
    if target.isdigit() and target not in load_catalogue():
        path = f"/api/v1/alerts/{target}/end"
    else:
        path = f"/api/v1/regions/{resolve_region(target)}/alerts/{threat.value}/end"
        path += f"?status={status.value}"
    _print_alert(call("POST", url, path, _need_token(token)), as_json)


@app.command("list")
def list_alerts(
    region: Annotated[str | None, typer.Option("--region", "-r")] = None,
    threat: Annotated[Threat | None, typer.Option("--threat", "-t")] = None,
    drills: Annotated[bool, typer.Option("--drills", help="Exercise and test alerts.")] = False,
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """List open alerts, oldest first."""
    params: dict[str, Any] = {}
    if region:
        params["region_id"] = resolve_region(region)
    if threat:
        params["threat"] = threat.value
    if drills:
        params["status"] = ["exercise", "test"]
    doc = call("GET", url, "/api/v1/alerts/active", params=params)
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    catalogue = load_catalogue()
    table = Table("id", "region", "threat", "details", "status", "since (UTC)", "by")
    for a in doc["alerts"]:
        r = catalogue.get(a["region_id"])
        table.add_row(
            str(a["id"]),
            r.label("en"),
            a["threat"],
            ", ".join(a["details"]),
            a["status"],
            a["started_at"].replace("T", " ")[:19],
            a["originator"],
        )
    console.print(table)
    console.print(f"{len(doc['alerts'])} open, log id {doc['log_id']}")


def status(
    threat: Annotated[Threat, typer.Option("--threat", "-t")] = Threat.AIR_RAID,
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """Which oblasts are under alert now (active or partial)."""
    doc = call("GET", url, "/api/v1/status", params={"threat": threat.value})
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    table = Table("oblast", "status", "since (UTC)")
    colours = {"active": "bold red", "partial": "yellow", "none": "green"}
    oblasts = [r for r in doc["regions"] if r["level"] == "oblast"]
    for r in oblasts:
        since = (r["since"] or "").replace("T", " ")[:19]
        table.add_row(
            f"{r['name_en']} / {r['name_uk']}", f"[{colours[r['status']]}]{r['status']}", since
        )
    console.print(table)
    under = sum(r["status"] == "active" for r in oblasts)
    console.print(
        f"{under} of {len(oblasts)} oblasts under {threat.value} alert; log id {doc['log_id']}"
    )


def _operator_time(text: str) -> datetime:
    """`--at` as an aware time within the hub's range; a clear error (exit 2) otherwise."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text[:40]!r} is not an ISO 8601 time such as 2026-03-09T02:15+02:00",
            param_hint="--at",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return ranges.check_time(value, "--at")
    except ranges.OutOfRange as problem:
        raise typer.BadParameter(problem.message, param_hint="--at") from None

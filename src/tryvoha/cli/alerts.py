"""`tryvoha alert` and `tryvoha status`: talk to a running hub over its HTTP API.

Going through the API (not the database) keeps one writer of the log and the same rules for
dispatchers at a console and scripts alike. Retracting and approving show what they act on and
ask before doing it (`--yes` skips the question, for scripts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tryvoha import durations
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
    help="Declare, update, end, retract and list alerts on a running hub, and approve or reject "
    "the declarations that wait for a second operator (needs a token: 'tryvoha token create').",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")
]
ReasonOption = Annotated[
    str,
    typer.Option(
        "--reason",
        help=f"Why (kept in the log): {ranges.REASON_RULE}.",
        prompt="Reason (kept in the log)",
    ),
]
WAITING = 3
"""Exit status of a declaration that waits for a second operator: nothing went out yet."""


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
    regions: Annotated[
        list[str],
        typer.Argument(
            help=f"Region ids or names, e.g. 'Kyivska oblast'; several (up to "
            f"{ranges.MAX_REGIONS}) declare the same alert for each, all or none.",
            metavar="REGION...",
        ),
    ],
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
    """Declare an alert, for one region or several at once.

    The gravest and widest actual alerts (by default nuclear and chemical ones, the whole
    country, more than 3 oblasts at once) wait for a second operator: the command then says so,
    and who can approve them ('tryvoha alert approve ID'), and exits with status 3 (nothing
    was sent yet); 0 means the alerts went out, 1 that the hub refused.

    Example: tryvoha alert declare "Kharkivska oblast" --detail ballistic_missile
    Example: tryvoha alert declare "Sumska oblast" "Chernihivska oblast" -d drones
    """
    body: dict[str, Any] = {
        "threat": threat.value,
        "details": [d.value for d in detail or []],
        "status": status.value,
        "notes": notes,
    }
    ids = [resolve_region(region) for region in regions]
    if len(ids) == 1:
        body["region_id"] = ids[0]
    else:
        body["region_ids"] = ids
    if at is not None:
        body["occurred_at"] = _operator_time(at).isoformat()
    token = _need_token(token)
    doc = call("POST", url, "/api/v1/alerts", token, json=body)
    waiting = "proposal" in doc
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
    elif waiting:
        _print_waiting(doc, url, token)
    elif "alerts" in doc:
        for event, alert in zip(doc["events"], doc["alerts"], strict=True):
            _print_alert({"event": event, "alert": alert}, False)
    else:
        _print_alert(doc, False)
    if waiting:
        raise typer.Exit(WAITING)


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


@app.command()
def retract(
    target: Annotated[str, typer.Argument(help="Alert id, or a region id or name.")],
    reason: ReasonOption,
    threat: Annotated[Threat, typer.Option("--threat", "-t")] = Threat.AIR_RAID,
    status: Annotated[AlertStatus, typer.Option("--status")] = AlertStatus.ACTUAL,
    yes: YesOption = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retract an alert issued in error: it ends at once, everywhere, and every channel carries
    the correction the hub writes for it (Ukrainian and English) with your reason.

    Shows the alert and asks before retracting (--yes does not ask).

    Example: tryvoha alert retract "Kyiv" --reason "declared for the wrong region"
    """
    token = _need_token(token)
    by_id = target.isdigit() and target not in load_catalogue()
    if by_id:
        alert = call("GET", url, f"/api/v1/alerts/{target}", token)
        path = f"/api/v1/alerts/{target}/retract"
    else:
        region_id = resolve_region(target)
        params = {"region_id": region_id, "threat": threat.value, "status": status.value}
        active = call("GET", url, "/api/v1/alerts/active", token, params=params)["alerts"]
        alert = next((a for a in active if a["region_id"] == region_id), None)
        if alert is None:
            err.print(f"[red]No open {status.value} {threat.value} alert for {target}.[/]")
            raise typer.Exit(1)
        path = f"/api/v1/regions/{region_id}/alerts/{threat.value}/retract?status={status.value}"
    if alert.get("ended_at") is not None:
        err.print(f"[red]Alert {alert['id']} is not open: it ended at {alert['ended_at']}.[/]")
        raise typer.Exit(1)
    if not yes:
        console.print("[bold]This alert will be withdrawn as issued in error, on every channel:[/]")
        console.print(_describe_alert(alert), markup=False)
        typer.confirm("Retract it?", abort=True)
    doc = call("POST", url, path, token, json={"reason": reason})
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    _print_alert(doc, False)
    console.print(f"Correction sent:\n{doc['event']['correction']}", markup=False)


@app.command()
def proposals(
    every: Annotated[
        bool, typer.Option("--all", help="Also the latest decided ones, not only pending.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Declarations waiting for a second operator that this token may see (its own, and those
    whose whole area its regions cover)."""
    params = {"state": "all" if every else "pending"}
    doc = call("GET", url, "/api/v1/proposals", _need_token(token), params=params)
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    catalogue = load_catalogue()
    for p in doc["proposals"]:
        names = ", ".join(_region_name(catalogue, r) for r in p["region_ids"][:3])
        if len(p["region_ids"]) > 3:
            names += f" and {len(p['region_ids']) - 3} more"
        you = " · [bold]you may approve[/]" if p["can_approve"] else ""
        console.print(
            f"[bold]{p['id']}[/] {p['state']} · {p['threat']} {p['status'].upper()} · "
            f"{escape(names)} · by {escape(p['proposed_by'])} · expires {p['expires_at'][11:19]} "
            f"UTC{you}"
        )
    console.print(f"{len(doc['proposals'])} shown, log id {doc['log_id']}")


@app.command()
def approve(
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.", min=1)],
    yes: YesOption = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve another operator's proposal: its alerts go out at once, naming you both.

    Shows the proposal and asks before approving (--yes does not ask).

    Example: tryvoha alert approve 4182
    """
    token = _need_token(token)
    proposal = call("GET", url, f"/api/v1/proposals/{proposal_id}", token)
    if not yes:
        console.print("[bold]These alerts will go out to the public at once:[/]")
        console.print(_describe_proposal(proposal), markup=False)
        typer.confirm("Approve and send them?", abort=True)
    doc = call("POST", url, f"/api/v1/proposals/{proposal_id}/approve", token)
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    for event, alert in zip(doc["events"], doc["alerts"], strict=True):
        _print_alert({"event": event, "alert": alert}, False)
    console.print(f"Proposed by {doc['proposal']['proposed_by']}, approved by you.")


@app.command()
def reject(
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.", min=1)],
    reason: ReasonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a proposal (yours, to withdraw it, or one you could approve): nothing goes out.

    Example: tryvoha alert reject 4182 --reason "no confirmation from the military"
    """
    path = f"/api/v1/proposals/{proposal_id}/reject"
    doc = call("POST", url, path, _need_token(token), json={"reason": reason})
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    console.print(f"Proposal [bold]{proposal_id}[/] rejected: nothing was sent.")


def _region_name(catalogue: Any, region_id: str) -> str:
    return catalogue.get(region_id).name_en if region_id in catalogue else region_id


def _describe_alert(alert: dict[str, Any]) -> str:
    catalogue = load_catalogue()
    region = catalogue.get(alert["region_id"])
    details = f" ({', '.join(alert['details'])})" if alert["details"] else ""
    return (
        f"  alert {alert['id']}: {alert['threat']}{details}, {alert['status'].upper()}, "
        f"{region.name_en} / {region.name_uk}\n"
        f"  declared {alert['started_at']} by {alert['originator']}"
    )


def _describe_proposal(p: dict[str, Any]) -> str:
    catalogue = load_catalogue()
    lines = [
        f"  proposal {p['id']}: {p['threat']} ({', '.join(p['details']) or 'no details'}), "
        f"{p['status'].upper()}, proposed by {p['proposed_by']}, expires {p['expires_at']}",
        f"  why it waits: {p.get('rule') or 'the second-person rule'}",
    ]
    lines += [f"  - {_region_name(catalogue, r)} ({r})" for r in p["region_ids"]]
    if p.get("notes"):
        lines.append(f"  notes: {p['notes']}")
    return "\n".join(lines)


def _print_waiting(doc: dict[str, Any], url: str, token: str) -> None:
    """A declaration that became a proposal: what waits, why, until when, and who can approve."""
    proposal = doc["proposal"]
    console.print(
        f"[bold yellow]Not sent yet: proposal {proposal['id']} waits for a second operator.[/]"
    )
    console.print(_describe_proposal({**proposal, "rule": doc.get("rule")}), markup=False)
    found = call("GET", url, f"/api/v1/proposals/{proposal['id']}", token)
    approvers = found.get("approvers") or []
    if approvers:
        console.print(f"Can approve: {', '.join(approvers)}", markup=False)
    else:
        console.print("[red]No other operator token covers this whole area: nobody can approve.[/]")
    console.print(f"They run: tryvoha alert approve {proposal['id']}", markup=False)


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
    """Which oblasts are under alert now (active or partial), since when and for how long.

    An alert open for 7 days or more is marked permanent: occupied or front-line territory,
    never lifted (Luhansk oblast since 2022-04-04, Crimea since 2022-12-10)."""
    doc = call("GET", url, "/api/v1/status", params={"threat": threat.value})
    if as_json:
        typer.echo(orjson.dumps(doc).decode())
        return
    now = datetime.now(UTC)
    table = Table("oblast", "status", "since (UTC)", "for")
    colours = {"active": "bold red", "partial": "yellow", "none": "green"}
    oblasts = [r for r in doc["regions"] if r["level"] == "oblast"]
    permanent = 0
    for r in oblasts:
        since, lasted, mark = "", "", ""
        if r["since"]:
            started = datetime.fromisoformat(r["since"].replace("Z", "+00:00"))
            since = f"{started:%Y-%m-%d %H:%M}"
            lasted = durations.readable(now - started)
            if r["status"] == "active" and durations.is_permanent(now - started):
                mark, permanent = " *", permanent + 1
        table.add_row(
            f"{r['name_en']} / {r['name_uk']}",
            f"[{colours[r['status']]}]{r['status']}[/]{mark}",
            since,
            lasted,
        )
    console.print(table)
    under = sum(r["status"] == "active" for r in oblasts)
    console.print(
        f"{under} of {len(oblasts)} oblasts under {threat.value} alert; log id {doc['log_id']}"
    )
    if permanent:
        console.print(f"* {durations.PERMANENT_NOTE}", highlight=False)


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

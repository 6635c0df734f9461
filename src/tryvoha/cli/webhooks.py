"""`tryvoha webhook`: subscribe URLs to live events and watch their deliveries on a running hub."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.cli.common import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    call,
    need_token,
    resolve_region,
)

app = typer.Typer(
    help="Webhook subscriptions: signed POSTs of every live event for your regions, retried "
    "until your receiver answers 2xx (needs an operator token).",
    no_args_is_help=True,
)
console = Console()
PATH = "/api/v1/webhooks"


def _echo_json(doc: Any) -> None:
    typer.echo(orjson.dumps(doc).decode())


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("add")
def add(
    target: Annotated[
        str,
        typer.Argument(
            help="The receiver's http(s) URL. Its host must be public: private, loopback, "
            "link-local, multicast and cloud metadata addresses are refused unless the hub "
            "allows their network (TRYVOHA_WEBHOOK_ALLOW_NETWORKS on the hub)."
        ),
    ],
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region", "-r", help="Region id or name (covers its sub-regions). Repeat for several."
        ),
    ] = None,
    threat: Annotated[
        list[Threat] | None, typer.Option("--threat", "-t", help="Repeat; all threats if none.")
    ] = None,
    status: Annotated[
        list[AlertStatus] | None,
        typer.Option("--status", help="Alert statuses to receive (default: actual)."),
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Subscribe a URL. The signing secret is printed once: keep it for verifying deliveries.

    A token holds at most 20 subscriptions (the hub's TRYVOHA_WEBHOOK_MAX_PER_TOKEN).

    Example: tryvoha webhook add https://sirens.example.org/hook -r "Lvivska oblast" -t air_raid
    """
    body: dict[str, Any] = {"url": target, "description": description}
    if region:
        body["regions"] = [resolve_region(r) for r in region]
    if threat:
        body["threats"] = [t.value for t in threat]
    if status:
        body["statuses"] = [s.value for s in status]
    doc = call("POST", url, PATH, need_token(token), json=body)
    if as_json:
        _echo_json(doc)
        return
    console.print(
        f"Webhook [bold]{doc['id']}[/] → {doc['url']}, from log id {doc['after_event_id']}"
    )
    console.print("Signing secret (shown once, keep it safe):")
    console.print(doc["secret"], highlight=False, soft_wrap=True)


@app.command("list")
def list_webhooks(
    url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Subscriptions with their backlog and, when failing, the last error."""
    doc = call("GET", url, PATH, need_token(token))
    if as_json:
        _echo_json(doc)
        return
    table = Table(
        "id", "url", "regions", "pending", "delivered", "expired", "attempts", "last error"
    )
    for w in doc["webhooks"]:
        d = w["deliveries"]
        head = d["head"] or {}
        table.add_row(
            str(w["id"]),
            _short(w["url"], 40),
            _short(", ".join(w["regions"]), 30),
            str(d["pending"]),
            str(d["delivered"]),
            str(d["expired"]),
            str(head.get("attempts", "")),
            _short(head.get("last_error")),
        )
    console.print(table)


@app.command("show")
def show(
    webhook_id: Annotated[int, typer.Argument(help="The subscription's id.")],
    limit: Annotated[int, typer.Option("--limit", help="Deliveries to show.")] = 20,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One subscription and its latest deliveries: state, attempts, last status and error."""
    tok = need_token(token)
    sub = call("GET", url, f"{PATH}/{webhook_id}", tok)
    rows = call("GET", url, f"{PATH}/{webhook_id}/deliveries", tok, params={"limit": limit})
    if as_json:
        _echo_json({"webhook": sub, "deliveries": rows["deliveries"]})
        return
    d = sub["deliveries"]
    console.print(
        f"Webhook [bold]{sub['id']}[/] → {sub['url']}\n"
        f"  regions: {', '.join(sub['regions'])}; threats: {', '.join(sub['threats']) or 'all'}; "
        f"statuses: {', '.join(sub['statuses'])}\n"
        f"  pending {d['pending']}, delivered {d['delivered']}, expired {d['expired']}; "
        f"last delivered {d['last_delivered_at'] or 'never'}"
    )
    if d["failing"]:
        head = d["head"]
        console.print(
            f"  [red]failing[/]: event {head['event_id']} after {head['attempts']} attempts, "
            f"next at {head['next_attempt_at']}: {head['last_error']}"
        )
    table = Table("delivery", "event", "state", "attempts", "status", "last attempt (UTC)", "error")
    for r in rows["deliveries"]:
        table.add_row(
            str(r["id"]),
            str(r["event_id"]),
            r["state"],
            str(r["attempts"]),
            str(r["last_status"] or ""),
            (r["last_attempt_at"] or "").replace("T", " ")[:19],
            _short(r["last_error"]),
        )
    console.print(table)


@app.command("retry")
def retry(
    webhook_id: Annotated[int, typer.Argument()],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Send pending deliveries now and bring expired ones back."""
    doc = call("POST", url, f"{PATH}/{webhook_id}/retry", need_token(token))
    console.print(f"Requeued {doc['requeued']} deliveries of webhook {webhook_id}.")


@app.command("delete")
def delete(
    webhook_id: Annotated[int, typer.Argument()],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a subscription and its pending deliveries."""
    doc = call("DELETE", url, f"{PATH}/{webhook_id}", need_token(token))
    console.print(
        f"Deleted webhook {webhook_id} ({doc['dropped_pending']} pending deliveries dropped)."
    )


@app.command("listen")
def listen(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 9999,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    secret: Annotated[
        str | None, typer.Option("--secret", help="Check signatures (answer 401 when wrong).")
    ] = None,
    status: Annotated[int, typer.Option("--status", help="Status code to answer with.")] = 200,
) -> None:
    """Run a throwaway receiver that prints each delivery: for trying webhooks out.

    A hub delivers to this loopback receiver only when it allows loopback, e.g. started as

    TRYVOHA_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8 tryvoha serve

    Example: tryvoha webhook listen --port 9999 --secret whsec_...
    """
    from rich.markup import escape

    from tryvoha.serve import PortTaken, check_port

    try:
        check_port(host, port, choose="--port, e.g. --port 9998")
    except PortTaken as exc:
        Console(stderr=True).print(
            f"[bold red]Cannot listen:[/] {escape(str(exc))}", soft_wrap=True
        )
        raise typer.Exit(2) from None
    asyncio.run(_listen(host, port, secret, status))


def _more_than(count: int) -> Callable[[Receiver], bool]:
    """A receiver's condition: more than `count` deliveries arrived."""
    return lambda r: len(r.received) > count


async def _listen(host: str, port: int, secret: str | None, status: int) -> None:
    receiver = Receiver(secret=secret, answer=lambda _r: status)
    await receiver.start(host, port)
    console.print(f"Listening on {receiver.url} (any path); Ctrl+C to stop.")
    console.print(
        "The hub must allow this network: start it with TRYVOHA_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8",
        highlight=False,
    )
    shown = 0
    while True:
        await receiver.wait_for(_more_than(shown), timeout=None)
        for r in receiver.received[shown:]:
            doc = orjson.loads(r.body) if r.body else {}
            event = doc.get("event", {})
            mark = {True: "[green]signed ok[/]", False: "[red]bad signature[/]", None: ""}
            console.print(
                f"event {r.headers.get('x-tryvoha-event-id')} {event.get('kind')} "
                f"{event.get('threat')} in {event.get('region_id')} "
                f"(attempt {r.headers.get('x-tryvoha-attempt')}) {mark[r.verified]} → {r.status}"
            )
        shown = len(receiver.received)

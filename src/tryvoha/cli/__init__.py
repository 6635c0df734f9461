"""The `tryvoha` command: serve a hub, manage tokens, operate alerts, explore regions."""

from __future__ import annotations

import typer

from tryvoha.cli import (
    alerts,
    attacks,
    edge,
    history,
    keys,
    log,
    regions,
    serve,
    tokens,
    verify,
    webhooks,
)

app = typer.Typer(
    name="tryvoha",
    help="tryvoha: a self-hostable air-raid alert hub.\n\n"
    "Start with 'tryvoha serve' (embedded SQLite, the Ukrainian regions and real history "
    "loaded), then make an operator token with 'tryvoha token create'.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.command("serve")(serve.serve)
app.command("edge")(edge.edge)
app.add_typer(tokens.app, name="token")
app.add_typer(alerts.app, name="alert")
app.command("status")(alerts.status)
app.add_typer(webhooks.app, name="webhook")
app.add_typer(regions.app, name="regions")
app.add_typer(history.import_app, name="import")
app.command("replay")(history.replay)
app.command("stats")(history.stats)
app.add_typer(attacks.app, name="attacks")
app.add_typer(keys.app, name="keys")
app.add_typer(log.app, name="log")
app.command("verify")(verify.verify)

"""The `tryvoha` command: serve a hub, manage tokens, operate alerts, explore regions."""

from __future__ import annotations

from typing import Annotated

import typer

from tryvoha import cli_alerts, cli_history, cli_keys, cli_log, cli_tokens, cli_verify, cli_webhooks
from tryvoha.cli_attacks import app as attacks_app
from tryvoha.config import Settings
from tryvoha.regions.cli import regions_app

app = typer.Typer(
    name="tryvoha",
    help="tryvoha: a self-hostable air-raid alert hub.\n\n"
    "Start with 'tryvoha serve' (embedded SQLite, the Ukrainian regions and real history "
    "loaded), then make an operator token with 'tryvoha token create'.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(cli_tokens.app, name="token")
app.add_typer(cli_alerts.app, name="alert")
app.add_typer(cli_webhooks.app, name="webhook")
app.add_typer(regions_app, name="regions")
app.add_typer(cli_history.import_app, name="import")
app.add_typer(cli_keys.app, name="keys")
app.add_typer(cli_log.app, name="log")
app.add_typer(attacks_app, name="attacks")


@app.command()
def serve(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="SQLite file or a URL such as postgresql://host/db [env TRYVOHA_DB; default "
            "~/.local/share/tryvoha/tryvoha.db].",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on [TRYVOHA_HOST; 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on [TRYVOHA_PORT; 8080]."),
    ] = None,
    history: Annotated[
        bool | None,
        typer.Option(
            "--history/--no-history",
            help="On first start, load the real alert record since 2022 into an empty log "
            "[TRYVOHA_LOAD_HISTORY; on].",
            show_default=False,
        ),
    ] = None,
    read_token: Annotated[
        bool | None,
        typer.Option(
            "--read-token-required",
            help="Require a token for public reads too [TRYVOHA_READ_TOKEN_REQUIRED].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Processes serving live streams; one holds at most ~19,000 [TRYVOHA_WORKERS; 1].",
        ),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            help="Publish statuses and events to this MQTT broker, e.g. mqtt://127.0.0.1:1883 "
            "[TRYVOHA_MQTT].",
        ),
    ] = None,
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            help="Signing key directory (made on first start, owner-only) [TRYVOHA_KEYS; "
            "beside the SQLite file].",
        ),
    ] = None,
    hub_id: Annotated[
        str | None,
        typer.Option(
            "--hub-id",
            help="This hub's name in signatures and CAP, e.g. alerts.example.gov.ua "
            "[TRYVOHA_HUB_ID; a random one made on first start].",
        ),
    ] = None,
    cap_key: Annotated[
        str | None, typer.Option("--cap-key", help="PEM key that signs CAP [TRYVOHA_CAP_KEY].")
    ] = None,
    cap_cert: Annotated[
        str | None,
        typer.Option("--cap-cert", help="PEM certificate of it [TRYVOHA_CAP_CERT]."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="The hub's address as the world sees it, for links in CAP feeds "
            "[TRYVOHA_PUBLIC_URL].",
        ),
    ] = None,
) -> None:
    """Run the hub: API, streams and the alarm map.

    Every flag can also be set by the environment variable named beside it; a flag wins over
    the variable. docs/configuration.md lists every variable with its range.

    Example: tryvoha serve --port 8080 --db postgresql://127.0.0.1/tryvoha
    """
    from tryvoha.config import SettingsError
    from tryvoha.serve import serve as run

    try:
        settings = Settings.from_env(
            db=db,
            host=host,
            port=port,
            load_history=history,
            read_token_required=read_token,
            workers=workers,
            mqtt=mqtt,
            keys=keys,
            hub_id=hub_id,
            cap_key=cap_key,
            cap_cert=cap_cert,
            public_url=public_url,
        )
    except SettingsError as exc:
        typer.echo(f"Cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    run(settings)


app.command("status")(cli_alerts.status)
app.command("stats")(cli_history.stats)
app.command("replay")(cli_history.replay)
app.command("verify")(cli_verify.verify)


if __name__ == "__main__":
    app()

"""`tryvoha serve`: the hub's flags read into `Settings`, then `tryvoha.serve` runs it."""

from __future__ import annotations

from typing import Annotated

import typer

from tryvoha.cli.common import hub_settings, prepare_database


def serve(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="TRYVOHA_DB",
            show_default=False,
            help="Where the log is kept: a SQLite file (made on first start) or a URL "
            "(postgresql://host/name). Default: tryvoha.db in ~/.local/share/tryvoha/ (or in "
            "$XDG_DATA_HOME/tryvoha/), where every other command looks for it too.",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", envvar="TRYVOHA_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="TRYVOHA_PORT")] = 8080,
    history: Annotated[
        bool,
        typer.Option(
            "--history/--no-history",
            help="On first start, load the real alert record since 2022 into an empty log.",
        ),
    ] = True,
    read_token: Annotated[
        bool,
        typer.Option("--read-token-required", help="Require a token for public reads too."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            envvar="TRYVOHA_WORKERS",
            min=1,
            help="Processes serving live streams (one process holds at most ~19,000).",
        ),
    ] = 1,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            envvar="TRYVOHA_MQTT",
            help="Publish statuses and events to this MQTT broker, e.g. mqtt://127.0.0.1:1883.",
        ),
    ] = None,
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            envvar="TRYVOHA_KEYS",
            help="Signing key directory (made on first start, owner-only); default: beside "
            "the SQLite file (tryvoha.keys beside tryvoha.db).",
        ),
    ] = None,
    hub_id: Annotated[
        str | None,
        typer.Option(
            "--hub-id",
            envvar="TRYVOHA_HUB_ID",
            help="This hub's name in signatures and CAP (e.g. alerts.example.gov.ua); "
            "default: a random one made on first start.",
        ),
    ] = None,
    cap_key: Annotated[
        str | None,
        typer.Option("--cap-key", envvar="TRYVOHA_CAP_KEY", help="PEM key that signs CAP."),
    ] = None,
    cap_cert: Annotated[
        str | None,
        typer.Option("--cap-cert", envvar="TRYVOHA_CAP_CERT", help="PEM certificate of it."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            envvar="TRYVOHA_PUBLIC_URL",
            help="The hub's address as the world sees it, for links in CAP feeds.",
        ),
    ] = None,
) -> None:
    """Run the hub: API, streams and the alarm map.

    Example: tryvoha serve --port 8080 --db postgresql://127.0.0.1/tryvoha
    """
    from tryvoha.serve import serve as run

    settings = hub_settings(
        db,
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
    prepare_database(settings)
    run(settings)

"""What the `tryvoha` commands share: their options, the one way to name a region, and the two
ways to reach a hub.

Commands that work on a hub's data (`import`, `replay`, `stats`, `token`, `log`, `attacks`,
`keys`) open its database with `open_store` / `open_hub`: the database the hub itself uses, found
the same way from any folder (`default_db`), said on stderr, and never made by accident: a
missing one is refused, except by the commands that fill a log (`serve`, `import`, `replay`).
Commands that act on a running hub (`alert`, `status`, `webhook`) go through its HTTP API with
`call`, so the hub stays the one writer of its log and applies one set of rules to everyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from tryvoha.config import Settings, SettingsError, nats_servers
from tryvoha.regions import AmbiguousRegion, UnknownRegion, load_catalogue
from tryvoha.store.url import Database, database_of

if TYPE_CHECKING:
    from tryvoha.hub import Hub
    from tryvoha.store import SqlStore

err = Console(stderr=True, highlight=False)


def _flags_without_a_type() -> None:
    """`--help` lists a flag (`--json`, `--read-only`, `--help`) with nothing beside it: it takes
    no value. typer 0.29's rich help prints `<bool>` there, as if it took one (its plain help
    and earlier versions print nothing); this restores that for every flag of every command."""
    from typer.core import TyperOption

    rendered = getattr(TyperOption, "display_type_rich", None)
    if rendered is None or getattr(rendered, "skips_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else rendered(self, ctx)

    display_type_rich.skips_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_a_type()

DEFAULT_URL = "http://127.0.0.1:8080"

# Options ----------------------------------------------------------------------------------------

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        show_default=False,
        help="The hub's database: a SQLite file or a URL (postgresql://host/name). Default: "
        "the one 'tryvoha serve' uses, tryvoha.db in ~/.local/share/tryvoha/ (or in "
        "$XDG_DATA_HOME/tryvoha/).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TRYVOHA_URL", help="The hub's base URL."),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="TRYVOHA_TOKEN", help="Operator token (or TRYVOHA_TOKEN)."),
]


# Regions ----------------------------------------------------------------------------------------


def resolve_region(text: str, option: str = "--region") -> str:
    """A region id, or a name resolved to exactly one region; a usage error naming the
    candidates or the closest names otherwise."""
    catalogue = load_catalogue()
    if text in catalogue:
        return text
    try:
        return catalogue.resolve(text).id
    except (AmbiguousRegion, UnknownRegion) as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


# The hub's database -----------------------------------------------------------------------------


def hub_settings(db: str | None, **values: Any) -> Settings:
    """The settings a command works with: its flags over the `TRYVOHA_*` environment, the
    database `--db`, else `TRYVOHA_DB`, else `tryvoha.config.default_db()` (never the current
    folder). A setting out of its range is a usage error (exit 2) naming it."""
    try:
        return Settings.from_env(db=db, **values)
    except SettingsError as exc:
        err.print(f"[red]Cannot start: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(2) from None


def nats_option(value: str | None) -> str | None:
    """`--nats`: nats:// or tls:// URLs, comma-separated; anything else is a usage error."""
    if value is None:
        return None
    try:
        return ",".join(nats_servers(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def database(settings: Settings) -> Database:
    """What `settings.db` names; a usage error (exit 2) when it is not a database URL."""
    try:
        return database_of(settings.db_url)
    except ValueError as exc:
        err.print(f"[red]--db {escape(settings.db)!r} is not a database: {escape(str(exc))}[/]")
        raise typer.Exit(2) from None


def shown(db: Database) -> str:
    """The database as messages name it: the SQLite file, or the URL without its password."""
    return str(db.file) if db.file is not None else db.shown


def require_database(settings: Settings) -> Database:
    """The database, refused (exit 2, nothing made) when it is a SQLite file that does not
    exist: opening it would make an empty one, where the hub would never see what was done."""
    db = database(settings)
    if db.file is not None and not db.file.exists():
        err.print(
            f"[red]No hub database at {escape(str(db.file))}[/]: start the hub once with "
            "'tryvoha serve', or point --db / TRYVOHA_DB at its database.",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    return db


def prepare_database(settings: Settings) -> Database:
    """The database for a command that may make it (serve, import, replay): the folder of a
    SQLite file is made, so the default location works on a fresh machine."""
    db = database(settings)
    if db.file is not None:
        db.file.parent.mkdir(parents=True, exist_ok=True)
    return db


def say_database(db: Database) -> None:
    """One dim line on stderr naming the database a command used."""
    err.print(f"[dim]Database: {escape(shown(db))}[/]", soft_wrap=True)


def open_store(settings: Settings, *, writer: str | None = None, create: bool = False) -> SqlStore:
    """The hub's store, for a command that works on its data (its database said on stderr).

    A missing SQLite database is refused unless `create`. With `writer` (the command, e.g.
    "tryvoha import") the writer lock is held for the store's life, and refused (exit 2) while
    another process writes the log; reading needs no lock."""
    from tryvoha.store import SqlStore, WriterLocked, acquire_writer

    db = prepare_database(settings) if create else require_database(settings)
    say_database(db)
    lock = None
    if writer is not None:
        try:
            lock = acquire_writer(settings.db_url, writer)
        except WriterLocked as exc:
            err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
            raise typer.Exit(2) from None
    return SqlStore(settings.db_url, writer=lock)  # releases the lock if it fails


def open_hub(settings: Settings, *, writer: str, create: bool = False) -> Hub:
    """A hub that appends to the log (import, replay): the store as `open_store` opens it, with
    the writer lock, and the log folded. A row the hub cannot read back is refused as
    `tryvoha serve` refuses it (exit 1, nothing changed)."""
    from tryvoha.cli.log import refusal
    from tryvoha.hub import Hub
    from tryvoha.store import UnreadableEvent

    hub = Hub(load_catalogue(), open_store(settings, writer=writer, create=create))
    try:
        with err.status("Reading the log…"):
            hub.load()
    except UnreadableEvent as problem:
        hub.close()
        err.print(refusal(problem, settings.db, writer), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    return hub


# A running hub ----------------------------------------------------------------------------------


def call(method: str, url: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
    """One request to the hub; a clear message and exit code 1 on any error."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, headers=headers, timeout=10, **kwargs
        )
    except httpx.HTTPError as exc:
        err.print(f"[red]Cannot reach the hub at {escape(url)}: {escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        try:
            problem = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            problem = response.text[:300]
        err.print(f"[red]{response.status_code}: {escape(str(problem))}[/]")
        raise typer.Exit(1)
    return response.json()


def need_token(token: str | None) -> str:
    """The operator token, or a usage error (exit 2) saying how to give one."""
    if not token:
        err.print("[red]An operator token is needed: --token or TRYVOHA_TOKEN.[/]")
        raise typer.Exit(2)
    return token

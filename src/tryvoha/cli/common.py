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

import time
import uuid
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

    # A patch of typer's class (see above): neither the marker nor the method is typed there.
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
FAILOVER_SECONDS = 15.0
"""How long a command given several hub URLs keeps trying them (a standby takes over within 5 s)."""
MAX_HUB_URLS = 8
"""Hub URLs a command may be given at most (1 .. 8)."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="TRYVOHA_URL",
        help="The hub's base URL. Several, comma-separated (a writer and its standby): each "
        "command goes to whichever node is the writer now, trying the others for up to "
        f"{FAILOVER_SECONDS:.0f} s when one is unreachable or not the writer; a write carries "
        "one Idempotency-Key on every try, so it is never applied twice.",
    ),
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


def hub_urls(url: str) -> list[str]:
    """`--url` / `TRYVOHA_URL`: one base URL, or up to `MAX_HUB_URLS` comma-separated."""
    urls = [u.strip().rstrip("/") for u in url.split(",") if u.strip()]
    if not 1 <= len(urls) <= MAX_HUB_URLS or not all(
        u.startswith(("http://", "https://")) for u in urls
    ):
        err.print(
            f"[red]--url takes 1 to {MAX_HUB_URLS} comma-separated http(s):// base URLs, "
            f"not {escape(url)!r}.[/]"
        )
        raise typer.Exit(2)
    return urls


def call(method: str, url: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
    """One request to the hub; a clear message and exit code 1 on any error.

    Given several URLs (a writer and its standby), a node that cannot be reached or answers
    503 `not_the_writer` hands the request to the next, round and round for up to
    `FAILOVER_SECONDS`. A write carries one Idempotency-Key on every try: should a node have
    committed it before its answer was lost, the repeat gets that first answer back."""
    urls = hub_urls(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method != "GET":
        headers["Idempotency-Key"] = f"cli-{uuid.uuid4()}"
    deadline = time.monotonic() + FAILOVER_SECONDS
    attempt = 0
    while True:
        base = urls[attempt % len(urls)]
        attempt += 1
        last_try = len(urls) == 1 or time.monotonic() >= deadline
        try:
            response = httpx.request(method, base + path, headers=headers, timeout=10, **kwargs)
        except httpx.HTTPError as exc:
            if not last_try:
                _pause(attempt, len(urls))
                continue
            err.print(f"[red]Cannot reach the hub at {escape(base)}: {escape(str(exc))}[/]")
            raise typer.Exit(1) from exc
        if response.status_code == 503 and _not_the_writer(response) and not last_try:
            _pause(attempt, len(urls))
            continue
        break
    if response.status_code >= 400:
        try:
            problem = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            problem = response.text[:300]
        err.print(f"[red]{response.status_code}: {escape(str(problem))}[/]")
        raise typer.Exit(1)
    return response.json()


def _not_the_writer(response: httpx.Response) -> bool:
    try:
        return bool(response.json()["error"]["code"] == "not_the_writer")
    except (ValueError, KeyError, TypeError):
        return False


def _pause(attempt: int, nodes: int) -> None:
    """After every node was tried once in a round, wait a little before the next round."""
    if attempt % nodes == 0:
        time.sleep(0.25)


def need_token(token: str | None) -> str:
    """The operator token, or a usage error (exit 2) saying how to give one."""
    if not token:
        err.print("[red]An operator token is needed: --token or TRYVOHA_TOKEN.[/]")
        raise typer.Exit(2)
    return token

"""What a database URL names, read without connecting: the file of a SQLite database, or a label
for a database on a server. Paths beside the database (its signing keys, its writer lock) are
derived from here, so every part of the hub agrees on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


@dataclass(frozen=True, slots=True)
class Database:
    backend: str
    """`sqlite` or `postgresql`."""
    file: Path | None
    """The SQLite file; None for SQLite in memory or a database on a server."""
    label: str
    """`backend-host-port-name` (parts present only): one server database, as a file name part."""
    shown: str
    """The URL without its password, for messages."""


BACKENDS = ("sqlite", "postgresql")


def database_of(url: str) -> Database:
    """ValueError naming the problem when `url` is not the URL of a database the store can
    use (SQLite or PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    if backend not in BACKENDS:
        raise ValueError(f"{backend!r} is not a database the store can use: sqlite or postgresql")
    file = None
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        file = Path(parsed.database).expanduser()
    parts = (backend, parsed.host or "local", parsed.port, parsed.database)
    label = "-".join(str(part) for part in parts if part)
    return Database(backend, file, label, parsed.render_as_string(hide_password=True))


def driver_url(url: str) -> str:
    """`url` with the driver the store uses: psycopg 3 for a bare `postgresql://`."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url

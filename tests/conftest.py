"""Shared fixtures: the catalogue, stores on SQLite and PostgreSQL, hubs and HTTP clients."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase
from sqlalchemy import create_engine, text

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, load_catalogue
from tryvoha.store import SqlStore

# Hypothesis keeps the examples it found outside the checkout, like every other scratch file.
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tryvoha-tests"
set_hypothesis_home_dir(str(_CACHE / "hypothesis"))
hypothesis_settings.register_profile(
    "tryvoha", database=DirectoryBasedExampleDatabase(str(_CACHE / "hypothesis"))
)
hypothesis_settings.load_profile("tryvoha")

SHARED = next(  # beside the checkout, or beside the directory holding its worktrees
    (
        p / "shared"
        for p in Path(__file__).resolve().parents[1:4]
        if (p / "shared" / "data").is_dir()
    ),
    Path(__file__).resolve().parents[1].parent / "shared",
)
PG_ADMIN_URL = os.environ.get(
    "TRYVOHA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def service_up(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def need_service(port: int, name: str) -> None:
    """Skip locally when a service is absent; in CI (CI=true) its absence is a failure."""
    if service_up(port):
        return
    message = (
        f"{name} is not running on 127.0.0.1:{port} (scripts/ensure-test-services.sh starts it)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def scratch_data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Hubs on a database server keep their signing keys under $XDG_DATA_HOME, and commands
    without --db find the hub's database there: a scratch one, never the developer's hub."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "data-home"))
    monkeypatch.delenv("TRYVOHA_DB", raising=False)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file; each test gets a copy (migrating afresh costs ~0.3 s)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    SqlStore(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    target = tmp_path / "hub.db"
    shutil.copyfile(migrated_sqlite, target)
    return f"sqlite:///{target}"


class Stoppable(Protocol):
    def stop(self) -> None: ...


@pytest.fixture
def nodes() -> Iterator[list[Stoppable]]:
    """The processes a test starts (the writer, a standby), each stopped after it."""
    started: list[Stoppable] = []
    yield started
    for node in started:
        node.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    need_service(5432, "PostgreSQL")
    name = f"tryvoha_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same tests run against both databases."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore(db_url)
    yield s
    s.close()


@pytest.fixture
def hub(catalogue: Catalogue, sqlite_url: str) -> Iterator[Hub]:
    h = Hub(catalogue, SqlStore(sqlite_url))
    h.load()
    yield h
    h.close()


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(db=sqlite_url, load_history=False)


@pytest.fixture
async def client(hub: Hub, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(hub, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
        yield c


@pytest.fixture
def admin_token(hub: Hub) -> str:
    plain, _ = hub.store.create_token("test-admin", None)
    return plain


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveHub:
    """A real hub process (`tryvoha serve`) on a free port, for tests that need real HTTP."""

    def __init__(self, db: str, port: int, proc: object) -> None:
        self.db, self.port, self.proc = db, port, proc
        self.url = f"http://127.0.0.1:{port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_live_hub(db: str, *extra: str, env: dict[str, str] | None = None) -> LiveHub:
    import subprocess
    import sys
    import time

    port = free_port()
    env = {**os.environ, "TRYVOHA_LOAD_HISTORY": "0", **(env or {})}
    cmd = [sys.executable, "-m", "tryvoha.cli", "serve", "--db", db, "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub exited: {proc.stderr.read().decode()[-2000:]}")
        if service_up(port):
            return LiveHub(db, port, proc)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("hub did not start within 30 s")


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    hub = start_live_hub(str(tmp_path / "live.db"), "--no-history")
    yield hub
    hub.proc.terminate()  # type: ignore[attr-defined]
    hub.proc.wait(timeout=10)  # type: ignore[attr-defined]

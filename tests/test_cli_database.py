"""Every command that works on a hub's data finds the database the hub uses, from any folder,
says which one it used, and never makes an empty one by accident."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tryvoha.cli import app
from tryvoha.config import Settings
from tryvoha.store import SqlStore

from .conftest import free_port, service_up

runner = CliRunner()
KYIV_OBLAST = "UA32000000000030281"


def user_env(home: Path, **more: str | None) -> dict[str, str | None]:
    """A user with this home folder and no TRYVOHA_DB or XDG_DATA_HOME of their own."""
    return {"HOME": str(home), "XDG_DATA_HOME": None, "TRYVOHA_DB": None, **more}


def hub_database(path: Path) -> Path:
    """A hub's database as its first start leaves it: the schema, no events, no tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    SqlStore(f"sqlite:///{path}").close()
    return path


# Where the database is --------------------------------------------------------------------------


def test_the_default_database_is_in_the_users_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("TRYVOHA_DB", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)

    def db() -> str:
        return Settings.from_env().db

    assert db() == str(home / ".local" / "share" / "tryvoha" / "tryvoha.db")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert db() == str(data / "tryvoha" / "tryvoha.db")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")  # not absolute: ignored, as XDG says
    assert db() == str(home / ".local" / "share" / "tryvoha" / "tryvoha.db")
    monkeypatch.setenv("TRYVOHA_DB", "postgresql://127.0.0.1/tryvoha")
    assert db() == "postgresql://127.0.0.1/tryvoha"
    monkeypatch.delenv("TRYVOHA_DB")
    before = db()
    monkeypatch.chdir(tmp_path)
    assert db() == before  # wherever a command is run from


def start_hub_in(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`tryvoha serve` run from `folder` without --db, as a newcomer runs it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tryvoha.cli", "serve", "--no-history", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not service_up(port):
        if proc.poll() is not None:
            raise RuntimeError(f"hub exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("hub did not start within 60 s")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def test_a_token_made_in_another_folder_works_on_the_hub_started_in_a_third(
    tmp_path: Path,
) -> None:
    home, hub_folder, elsewhere = tmp_path / "home", tmp_path / "hub", tmp_path / "elsewhere"
    for folder in (home, hub_folder, elsewhere):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TRYVOHA_DB", "XDG_DATA_HOME")}
    env |= {"HOME": str(home), "TRYVOHA_LOAD_HISTORY": "0"}
    expected = home / ".local" / "share" / "tryvoha" / "tryvoha.db"
    proc, url = start_hub_in(hub_folder, env)
    try:
        made = subprocess.run(
            [sys.executable, "-m", "tryvoha.cli", "token", "create", "kyiv", "-r", KYIV_OBLAST],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        assert made.stderr.splitlines()[0] == f"Database: {expected}"
        token = next(w for w in made.stdout.split() if w.startswith("tv_"))
        declared = httpx.post(
            f"{url}/api/v1/alerts",
            json={"region_id": KYIV_OBLAST},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert declared.status_code == 201, declared.text
        assert declared.json()["event"]["originator"] == "token:kyiv"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert expected.exists() and (expected.parent / "tryvoha.keys" / "keys.json").exists()
    assert not list(hub_folder.iterdir()) and not list(elsewhere.iterdir())


# A missing database ------------------------------------------------------------------------------

DATA_COMMANDS = [
    ["token", "list"],
    ["token", "create", "led", "--read-only"],
    ["token", "revoke", "led"],
    ["stats"],
    ["log", "check"],
    ["log", "repair"],
    ["attacks", "totals"],
    ["attacks", "wave", "1"],
    ["keys", "list"],
    ["keys", "rotate"],
    ["keys", "export"],
]


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=" ".join)
def test_a_data_command_refuses_a_missing_database_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nowhere" / "tryvoha.db"
    result = runner.invoke(app, [*command, "--db", str(missing)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"No hub database at {missing}: start the hub once with 'tryvoha serve', or point "
        "--db / TRYVOHA_DB at its database."
    ]
    assert result.stdout == ""
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("post gres://h/d", "not a database URL"),
        ("mysql://h/d", "'mysql' is not a database the store can use: sqlite or postgresql"),
    ],
)
def test_a_db_that_is_not_a_usable_database_url_is_refused_in_one_line(
    tmp_path: Path, url: str, problem: str
) -> None:
    result = runner.invoke(app, ["token", "list", "--db", url], env=user_env(tmp_path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"--db {url!r} is not a database: ")
    assert problem in " ".join(result.stderr.split())  # the console wraps long lines
    assert result.stdout == "" and "Traceback" not in result.output


def test_without_db_the_refusal_names_the_default_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["token", "list"], env=user_env(tmp_path))
    assert result.exit_code == 2
    where = tmp_path / ".local" / "share" / "tryvoha" / "tryvoha.db"
    assert f"No hub database at {where}:" in result.stderr
    assert not (tmp_path / ".local").exists()


# Which database was used -------------------------------------------------------------------------


def test_data_commands_say_which_database_they_used(tmp_path: Path) -> None:
    db = hub_database(tmp_path / "data" / "tryvoha" / "tryvoha.db")
    env = user_env(tmp_path, XDG_DATA_HOME=str(tmp_path / "data"))
    made = runner.invoke(app, ["token", "create", "led", "--read-only", "--json"], env=env)
    assert made.exit_code == 0, made.output
    assert made.stderr == f"Database: {db}\n"
    assert json.loads(made.stdout)["name"] == "led"  # stdout stays the answer alone
    named = tmp_path / "other.db"
    hub_database(named)
    listed = runner.invoke(app, ["token", "list", "--json", "--db", str(named)], env=env)
    assert listed.stderr == f"Database: {named}\n" and json.loads(listed.stdout) == []
    from_env = runner.invoke(app, ["log", "check"], env={**env, "TRYVOHA_DB": str(named)})
    assert from_env.exit_code == 0 and from_env.stderr.startswith(f"Database: {named}\n")
    keys = runner.invoke(app, ["keys", "rotate"], env=env)
    assert keys.exit_code == 0, keys.output
    assert keys.stderr == f"Keys: {db.with_name('tryvoha.keys')} (database {db})\n"


def test_import_makes_the_default_database_and_says_so(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "oblast,raion,hromada,level,started_at,finished_at,source\n"
        "Kyiv City,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official\n"
    )
    env = user_env(tmp_path / "home")
    result = runner.invoke(app, ["import", "official", str(rows)], env=env)
    assert result.exit_code == 0, result.output
    db = tmp_path / "home" / ".local" / "share" / "tryvoha" / "tryvoha.db"
    assert result.stderr.startswith(f"Database: {db}\n")
    stats = runner.invoke(app, ["stats", "Kyiv City", "--json", "--from", "2023-03-01"], env=env)
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["alerts"] == 1

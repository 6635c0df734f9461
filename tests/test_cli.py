"""The `tryvoha` CLI against a real hub process: tokens, alerts, status, readable errors."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import httpx
import typer
from typer.testing import CliRunner

from tryvoha.cli import app
from tryvoha.regions import Catalogue

from .conftest import LiveHub, start_live_hub

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, list(args), env=env)
    return result


def test_help_teaches() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("serve", "token", "alert", "status", "regions"):
        assert command in result.output
    assert "Example" in run("alert", "declare", "--help").output


def every_command(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command and group under `group` (a click group), itself included."""
    found = [path]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += every_command(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_help_shows_no_value_beside_a_flag() -> None:
    """A flag takes no value: `--help` shows nothing beside it (typer 0.29 printed `<bool>`),
    while options that take one keep their type."""
    commands = every_command(typer.main.get_command(app))
    assert len(commands) > 30 and ("token", "create") in commands
    for path in commands:
        shown = run(*path, "--help", env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, path
        assert "--help " in shown.output, path
    create = run("token", "create", "--help", env={"COLUMNS": "200"}).output
    flags = {line.split()[1]: line for line in create.splitlines() if line.startswith("│ --")}
    assert flags["--read-only"].split()[2] == "A", flags["--read-only"]  # its help, no type
    assert "<str>" in flags["--db"]


def test_token_lifecycle(live_hub: LiveHub, catalogue: Catalogue) -> None:
    created = run(
        "token", "create", "lviv", "--region", "Lvivska oblast", "--json", "--db", live_hub.db
    )
    assert created.exit_code == 0, created.output
    doc = json.loads(created.stdout)
    lviv = catalogue.resolve("Lvivska oblast")
    assert doc["scopes"] == [lviv.id] and doc["token"].startswith("tv_")
    duplicate = run("token", "create", "lviv", "--read-only", "--db", live_hub.db)
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    listed = json.loads(run("token", "list", "--json", "--db", live_hub.db).stdout)
    assert [t["name"] for t in listed] == ["lviv"] and "token" not in listed[0]
    assert run("token", "revoke", "lviv", "--db", live_hub.db).exit_code == 0
    r = httpx.post(
        f"{live_hub.url}/api/v1/alerts",
        json={"region_id": lviv.id},
        headers={"Authorization": f"Bearer {doc['token']}"},
    )
    assert r.status_code == 401


def test_declare_list_status_end(live_hub: LiveHub, catalogue: Catalogue) -> None:
    created = run("token", "create", "ops", "--all-regions", "--json", "--db", live_hub.db)
    token = json.loads(created.stdout)["token"]
    env = {"TRYVOHA_URL": live_hub.url, "TRYVOHA_TOKEN": token}
    kharkiv = catalogue.resolve("Kharkivska oblast")
    declared = run(
        "alert", "declare", "Kharkivska oblast", "-d", "ballistic_missile", "--json", env=env
    )
    assert declared.exit_code == 0, declared.output
    alert = json.loads(declared.stdout)["alert"]
    assert alert["region_id"] == kharkiv.id and alert["details"] == ["ballistic_missile"]

    listed = run("alert", "list", env=env)
    assert kharkiv.name_en in listed.output and "1 open" in listed.output
    status = json.loads(run("status", "--json", env=env).output)
    by_id = {r["id"]: r["status"] for r in status["regions"]}
    assert by_id[kharkiv.id] == "active"

    again = run("alert", "declare", "Kharkivska oblast", env=env)
    assert again.exit_code == 1 and "409" in again.output and "already open" in again.output
    ended = run("alert", "end", "Kharkivska oblast", "--json", env=env)
    assert ended.exit_code == 0 and json.loads(ended.stdout)["event"]["kind"] == "ended"
    unknown = run("alert", "declare", "Atlantis", env=env)
    assert unknown.exit_code != 0 and "Atlantis" in unknown.output


def test_cli_without_token_or_hub_says_so(live_hub: LiveHub) -> None:
    result = run("alert", "declare", "Kyiv", env={"TRYVOHA_URL": live_hub.url, "TRYVOHA_TOKEN": ""})
    assert result.exit_code == 2 and "token" in result.output
    result = run("status", env={"TRYVOHA_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1 and "Cannot reach the hub" in result.output


def test_acknowledged_alert_survives_kill_9(tmp_path, catalogue: Catalogue) -> None:
    db = str(tmp_path / "crash.db")
    hub = start_live_hub(db, "--no-history")
    created = run("token", "create", "ops", "--all-regions", "--json", "--db", db)
    token = json.loads(created.stdout)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged = []
    for oblast in catalogue.oblasts[:5]:
        r = httpx.post(f"{hub.url}/api/v1/alerts", json={"region_id": oblast.id}, headers=headers)
        assert r.status_code == 201
        acknowledged.append(r.json()["event"]["id"])
    os.kill(hub.proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    hub.proc.wait()  # type: ignore[attr-defined]
    again = start_live_hub(db, "--no-history")
    try:
        log = httpx.get(f"{again.url}/api/v1/log").json()
        assert [e["id"] for e in log["events"]] == acknowledged
        active = httpx.get(f"{again.url}/api/v1/alerts/active").json()
        assert len(active["alerts"]) == 5
    finally:
        again.proc.terminate()  # type: ignore[attr-defined]
        again.proc.wait(timeout=10)  # type: ignore[attr-defined]


def test_retract_shows_what_it_withdraws_and_asks(live_hub: LiveHub, catalogue: Catalogue) -> None:
    created = run("token", "create", "ops", "--all-regions", "--json", "--db", live_hub.db)
    env = {"TRYVOHA_URL": live_hub.url, "TRYVOHA_TOKEN": json.loads(created.stdout)["token"]}
    lviv = catalogue.resolve("Lvivska oblast")
    assert run("alert", "declare", "Lvivska oblast", env=env).exit_code == 0
    refused = runner.invoke(
        app,
        ["alert", "retract", "Lvivska oblast", "--reason", "wrong oblast"],
        env=env,
        input="n\n",
    )
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert "will be withdrawn as issued in error" in refused.output
    assert lviv.name_en in refused.output and "ACTUAL" in refused.output
    assert len(httpx.get(f"{live_hub.url}/api/v1/alerts/active").json()["alerts"]) == 1
    done = runner.invoke(
        app,
        ["alert", "retract", "Lvivska oblast", "--reason", "wrong oblast"],
        env=env,
        input="y\n",
    )
    assert done.exit_code == 0, done.output
    assert "Retracted alert 1" in done.output and "Скасовано: Повітряна тривога" in done.output
    assert "This alert was issued in error." in done.output
    assert httpx.get(f"{live_hub.url}/api/v1/alerts/active").json()["alerts"] == []
    again = run("alert", "retract", "1", "--reason", "again", "--yes", env=env)
    assert again.exit_code == 1 and "not open" in again.output
    missing = run("alert", "retract", "Kyiv", "--reason", "x", "--yes", env=env)
    assert missing.exit_code == 1 and "No open actual air_raid alert" in missing.output
    blank = run("alert", "declare", "Kyiv", "--json", env=env)
    alert_id = json.loads(blank.stdout)["alert"]["id"]
    blank = run("alert", "retract", str(alert_id), "--reason", " ", "--yes", env=env)
    assert blank.exit_code == 1 and "reason is required" in blank.output
    by_id = run("alert", "retract", str(alert_id), "--reason", "test", "--yes", "--json", env=env)
    assert json.loads(by_id.stdout)["event"]["kind"] == "retracted"


def test_declare_several_and_the_two_person_flow(live_hub: LiveHub, catalogue: Catalogue) -> None:
    tokens = {}
    for name in ("anna", "borys"):
        created = run("token", "create", name, "--all-regions", "--json", "--db", live_hub.db)
        tokens[name] = {
            "TRYVOHA_URL": live_hub.url,
            "TRYVOHA_TOKEN": json.loads(created.stdout)["token"],
        }
    declared = run(
        "alert",
        "declare",
        "Sumska oblast",
        "Chernihivska oblast",
        "-d",
        "drones",
        env=tokens["anna"],
    )
    assert declared.exit_code == 0, declared.output
    assert declared.output.count("Declared alert") == 2
    waiting = run("alert", "declare", "Kyivska oblast", "--threat", "nuclear", env=tokens["anna"])
    assert waiting.exit_code == 3, waiting.output  # accepted, but nothing went out yet
    assert "Not sent yet: proposal 3 waits for a second operator" in waiting.output
    assert "an actual nuclear alert needs a second operator" in waiting.output
    assert "Can approve: token:borys" in waiting.output
    assert "tryvoha alert approve 3" in waiting.output
    listed = run("alert", "proposals", env=tokens["borys"])
    assert listed.exit_code == 0 and "nuclear" in listed.output and "may approve" in listed.output
    own = run("alert", "approve", "3", "--yes", env=tokens["anna"])
    assert own.exit_code == 1 and "403" in own.output and "different operator" in own.output
    declined = runner.invoke(app, ["alert", "approve", "3"], env=tokens["borys"], input="n\n")
    assert declined.exit_code == 1 and "go out to the public at once" in declined.output
    approved = runner.invoke(app, ["alert", "approve", "3"], env=tokens["borys"], input="y\n")
    assert approved.exit_code == 0, approved.output
    assert "Declared alert 4: nuclear" in approved.output
    assert "Proposed by token:anna, approved by you." in approved.output
    wide = run(
        "alert",
        "declare",
        "Lvivska oblast",
        "Volynska oblast",
        "Rivnenska oblast",
        "Ternopilska oblast",
        "--json",
        env=tokens["anna"],
    )
    assert wide.exit_code == 3
    proposal = json.loads(wide.stdout)["proposal"]
    assert len(proposal["region_ids"]) == 4
    rejected = run(
        "alert", "reject", str(proposal["id"]), "--reason", "no confirmation", env=tokens["borys"]
    )
    assert rejected.exit_code == 0 and "rejected: nothing was sent" in rejected.output
    every = json.loads(run("alert", "proposals", "--all", "--json", env=tokens["anna"]).output)
    assert [p["state"] for p in every["proposals"]] == ["rejected", "approved"]


def test_declare_several_regions_at_once(live_hub: LiveHub, catalogue: Catalogue) -> None:
    created = run("token", "create", "ops", "--all-regions", "--json", "--db", live_hub.db)
    env = {"TRYVOHA_URL": live_hub.url, "TRYVOHA_TOKEN": json.loads(created.stdout)["token"]}
    both = run("alert", "declare", "Sumska oblast", "Chernihivska oblast", "-d", "drones", env=env)
    assert both.exit_code == 0, both.output
    assert both.output.count("Declared alert") == 2 and "in Sumska" in both.output
    again = run("alert", "declare", "Poltavska oblast", "Sumska oblast", env=env)
    assert again.exit_code == 1 and "409" in again.output and "already open" in again.output
    active = httpx.get(f"{live_hub.url}/api/v1/alerts/active").json()["alerts"]
    assert len(active) == 2  # Poltava was not declared either: all or none

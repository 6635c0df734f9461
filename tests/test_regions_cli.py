"""`tryvoha regions` through typer's CliRunner, tables and --json."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tryvoha.cli.regions import app as regions_app
from tryvoha.regions import Catalogue, Level

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(regions_app, list(args), env={"COLUMNS": "240"})


def test_help_teaches_with_examples() -> None:
    res = _run("--help")
    assert res.exit_code == 0
    for word in ("--at", "search", "--json", "Examples"):
        assert word in res.output
    for cmd in ("search", "at", "show"):
        assert _run(cmd, "--help").exit_code == 0


def test_tree(catalogue: Catalogue) -> None:
    res = _run()
    assert res.exit_code == 0
    for oblast in catalogue.oblasts:
        assert oblast.id in res.output
    raion = catalogue.children(catalogue.oblasts[5].id)[0]
    assert raion.id in res.output
    hromada = catalogue.children(raion.id)[0]
    assert hromada.id not in res.output  # default depth stops at raions


def test_tree_json_subtree(catalogue: Catalogue) -> None:
    oblast = catalogue.resolve("Kyivska oblast")
    res = _run("--root", "Kyivska oblast", "--depth", "hromada", "--json")
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data["id"] == oblast.id
    ids = [h["id"] for r in data["children"] for h in r["children"]]
    assert ids == [r.id for r in catalogue.descendants(oblast.id) if r.level is Level.HROMADA]


def test_search_table_and_json(catalogue: Catalogue) -> None:
    expected = catalogue.find("Покровська")
    res = _run("search", "Покровська")
    assert res.exit_code == 0
    for r in expected:
        assert r.id in res.output
    data = json.loads(_run("search", "Pokrovska", "--level", "hromada", "--json").output)
    assert [m["id"] for m in data["matches"]] == [r.id for r in expected]
    assert all(m["parents"][-1] == "UA" for m in data["matches"])
    within = json.loads(
        _run("search", "Покровська", "--within", "Нікопольський район", "--json").output
    )
    assert len(within["matches"]) == 2 and all("qualifier" in m for m in within["matches"])


def test_search_unknown_name_gives_closest(catalogue: Catalogue) -> None:
    res = _run("search", "Kharkivsca oblast")
    assert res.exit_code == 1
    assert "closest" in res.output and catalogue.by_ukrainealarm_id("22").id in res.output
    data = json.loads(_run("search", "Kharkivsca oblast", "--json").output)
    assert data["matches"] == [] and data["closest"][0]["ukrainealarm_id"] == "22"


def test_at_option_and_command(catalogue: Catalogue) -> None:
    kharkiv = catalogue.by_alerts_in_ua_uid(1293)
    res = _run("--at", "49.993,36.231")
    assert res.exit_code == 0 and kharkiv.id in res.output and kharkiv.oblast_id in res.output
    data = json.loads(_run("at", "49.993, 36.231", "--json").output)
    assert data["found"] and data["hromada"]["id"] == kharkiv.id
    assert data["raion"]["id"] == kharkiv.parent_id and data["oblast"]["id"] == kharkiv.oblast_id


def test_at_sea_and_bad_input() -> None:
    res = _run("--at", "44.5,32.0")
    assert res.exit_code == 1 and "not in any region" in res.output
    data = json.loads(_run("--at", "44.5,32.0", "--json").output)
    assert data == {"lat": 44.5, "lon": 32.0, "found": False, "hromada": None, "raion": None,
                    "oblast": None}  # fmt: skip
    assert _run("--at", "north").exit_code != 0


def test_show_by_any_id(catalogue: Catalogue) -> None:
    kyiv = catalogue.by_ukrainealarm_id("31")
    for ref in ("31", kyiv.id, "Kyiv"):
        data = json.loads(_run("show", ref, "--json").output)
        assert data["id"] == kyiv.id and data["children"]
    res = _run("show", "Харківська")
    assert res.exit_code == 1 and "matches 2 regions" in res.output
    data = json.loads(_run("show", "Харківська", "--json").output)
    assert len(data["candidates"]) == 2
    assert _run("show", "1801").exit_code == 0  # alerts.in.ua-only uid


def test_mounted_in_the_main_cli() -> None:
    from tryvoha.cli import app

    res = runner.invoke(app, ["regions", "search", "Lubenskyi raion", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["matches"][0]["level"] == "raion"

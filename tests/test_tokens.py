"""Tokens: what `tryvoha token create` makes and refuses, read-only keys on every surface, and
tokens made before roles existed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tryvoha.alerts.model import Threat
from tryvoha.api.app import create_app
from tryvoha.api.auth import OperatorTokens
from tryvoha.cli import app as cli
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore, TokenRole, hash_token
from tryvoha.store.migrate import MIGRATIONS

from .conftest import auth, start_live_hub
from .test_webhooks import Env, running_hub
from .waiting import until

runner = CliRunner()
KYIV_OBLAST = "UA32000000000030281"
KYIV_OBLAST_LABEL = f"Kyivska oblast / Київська область ({KYIV_OBLAST})"


def tokens_cli(*args: str):
    return runner.invoke(cli, ["token", *args])


def words(text: str) -> str:
    """Output with its line wrapping undone, so a test reads sentences."""
    return " ".join(text.split())


def hub_database(path: Path) -> Path:
    """A hub's database as its first start leaves it: the schema, no events, no tokens."""
    SqlStore(f"sqlite:///{path}").close()
    return path


def tokens_in(db: Path) -> list[str]:
    store = SqlStore(f"sqlite:///{db}")
    try:
        return [t.name for t in store.list_tokens()]
    finally:
        store.close()


# The CLI ---------------------------------------------------------------------------------------


def test_help_teaches_the_three_choices() -> None:
    group = tokens_cli("--help")
    assert group.exit_code == 0 and "read-only keys for devices" in words(group.output)
    create = tokens_cli("create", "--help")
    assert create.exit_code == 0
    for choice in ("--region", "--read-only", "--all-regions"):
        assert create.output.count(choice) >= 2, choice  # in the text and among the options
    text = words(create.output)
    assert "LED map" in text and "the national operator" in text and "exactly one of" in text
    assert "tryvoha token create kitchen-led-map --read-only" in text


REFUSALS = [
    ([], ["--region", "--read-only", "--all-regions", "only made with --all-regions"]),
    (["--read-only", "--region", "Kyivska oblast"], ["--read-only and --region"]),
    (["--all-regions", "--region", "Kyivska oblast"], ["--all-regions and --region"]),
    (["--read-only", "--all-regions"], ["--read-only and --all-regions"]),
    (["--read-only", "--drills-only"], ["--read-only and --drills-only"]),
    (["--drills-only"], ["exactly one of"]),
    (["--region", "Atlantis"], ["no region named 'Atlantis'"]),
]


@pytest.mark.parametrize(("options", "said"), REFUSALS, ids=lambda v: " ".join(v) or "none")
def test_unclear_requests_are_refused_and_write_nothing(
    tmp_path: Path, options: list[str], said: list[str]
) -> None:
    fresh = tmp_path / "fresh.db"
    result = tokens_cli("create", "someone", *options, "--db", str(fresh))
    assert result.exit_code == 2, result.output
    for sentence in said:
        assert sentence in words(result.output), (sentence, result.output)
    assert "Traceback" not in result.output
    assert not fresh.exists(), "a refused request must not even create the database"

    existing = hub_database(tmp_path / "hub.db")
    assert tokens_cli("create", "first", "--read-only", "--db", str(existing)).exit_code == 0
    again = tokens_cli("create", "someone", *options, "--db", str(existing))
    assert again.exit_code == 2
    assert tokens_in(existing) == ["first"]


@pytest.mark.parametrize("name", ["", "x" * 101, "line\nbreak", " padded"])
def test_token_names_have_a_documented_range(tmp_path: Path, name: str) -> None:
    db = tmp_path / "hub.db"
    result = tokens_cli("create", name, "--read-only", "--db", str(db))
    assert result.exit_code == 2 and "token name" in result.output
    assert not db.exists()


def test_each_choice_makes_the_token_it_names(tmp_path: Path, catalogue: Catalogue) -> None:
    db = str(hub_database(tmp_path / "hub.db"))

    def create(name: str, *options: str) -> dict:
        result = tokens_cli("create", name, *options, "--json", "--db", db)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    bucha = catalogue.resolve("Bucha", level="hromada")
    dispatch = create("kyiv-dispatch", "--region", "Kyivska oblast", "-r", bucha.id)
    assert dispatch["role"] == "operator" and dispatch["scopes"] == [KYIV_OBLAST, bucha.id]
    assert dispatch["regions"][0] == {
        "id": KYIV_OBLAST,
        "name_en": "Kyivska oblast",
        "name_uk": "Київська область",
    }
    assert dispatch["regions"][1]["name_en"] == "Buchanska hromada, Kyivska oblast"
    device = create("kitchen-led-map", "--read-only")
    assert (device["role"], device["scopes"], device["regions"]) == ("read_only", None, None)
    national = create("duty-officer", "--all-regions")
    assert (national["role"], national["scopes"]) == ("operator", None)
    drills = create("drills", "--all-regions", "--drills-only")
    assert drills["drills_only"] is True
    for doc in (dispatch, device, national, drills):
        assert doc["token"].startswith("tv_")

    store = SqlStore(f"sqlite:///{db}")
    try:
        stored = {t.name: t for t in store.list_tokens()}
        assert stored["kitchen-led-map"].role is TokenRole.READ_ONLY
        assert stored["kyiv-dispatch"].scopes == (KYIV_OBLAST, bucha.id)
        assert stored["duty-officer"].scopes is None and not stored["duty-officer"].read_only
        assert store.token_by_plaintext(device["token"]).read_only
    finally:
        store.close()


def test_output_names_regions_and_says_the_zone_of_its_times(tmp_path: Path) -> None:
    db = str(hub_database(tmp_path / "hub.db"))
    made = tokens_cli("create", "kyiv-dispatch", "--region", "Kyivska oblast", "--db", db)
    assert made.exit_code == 0
    assert KYIV_OBLAST_LABEL in made.output
    assert "may declare, update and end alerts" in made.output
    device = tokens_cli("create", "led", "--read-only", "--db", db)
    assert "Read-only key" in device.output and "may not declare" in device.output
    national = tokens_cli("create", "duty", "--all-regions", "--db", db)
    assert "anywhere in Ukraine" in national.output

    listed = json.loads(tokens_cli("list", "--json", "--db", db).stdout)
    by_name = {t["name"]: t for t in listed}
    assert by_name["kyiv-dispatch"]["scopes"] == [KYIV_OBLAST]
    assert by_name["kyiv-dispatch"]["regions"][0]["name_uk"] == "Київська область"
    assert by_name["led"]["role"] == "read_only"
    assert all("token" not in t for t in listed)
    assert all(t["created_at"].endswith("+00:00") for t in listed)

    table = runner.invoke(cli, ["token", "list", "--db", db], env={"COLUMNS": "200"}).output
    assert KYIV_OBLAST_LABEL in table
    assert "read-only" in table and "all of Ukraine" in table
    assert "created (UTC)" in table


# The API ---------------------------------------------------------------------------------------


@pytest.fixture
async def env(catalogue: Catalogue, sqlite_url: str) -> AsyncIterator[Env]:
    async with running_hub(catalogue, sqlite_url) as e:
        yield e


async def test_read_only_keys_write_nothing_anywhere(env: Env, catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[0]
    open_alert = (await env.declare(oblast.id))["alert"]
    sub = await env.subscribe("http://127.0.0.1:9/hook")
    key, _ = env.hub.store.create_token("led-map", None, role=TokenRole.READ_ONLY)
    threat = Threat.AIR_RAID.value
    writes = [
        ("POST", "/api/v1/alerts", {"region_id": catalogue.oblasts[1].id}),
        ("PATCH", f"/api/v1/alerts/{open_alert['id']}", {"notes": "changed"}),
        ("POST", f"/api/v1/alerts/{open_alert['id']}/end", {}),
        ("PATCH", f"/api/v1/regions/{oblast.id}/alerts/{threat}", {"notes": "changed"}),
        ("POST", f"/api/v1/regions/{oblast.id}/alerts/{threat}/end", {}),
        ("POST", "/api/v1/webhooks", {"url": "http://127.0.0.1:9/other"}),
        ("DELETE", f"/api/v1/webhooks/{sub['id']}", None),
        ("POST", f"/api/v1/webhooks/{sub['id']}/retry", None),
        ("GET", "/api/v1/webhooks", None),
        ("GET", f"/api/v1/webhooks/{sub['id']}/deliveries", None),
    ]
    before = env.hub.store.last_event_id
    for method, path, body in writes:
        r = await env.client.request(method, path, json=body, headers=auth(key))
        assert r.status_code == 403, (method, path, r.text)
        error = r.json()["error"]
        assert error["code"] == "token_read_only" and "read-only" in error["message"]
        # A broken body changes nothing either: the key is refused before anything is read.
        junk = await env.client.request(method, path, content=b"{", headers=auth(key))
        assert junk.status_code == 403, (method, path, junk.text)
    assert env.hub.store.last_event_id == before
    still = await env.client.get(f"/api/v1/alerts/{open_alert['id']}")
    assert still.json()["ended_at"] is None and still.json()["notes"] is None
    listed = await env.client.get("/api/v1/webhooks", headers=auth(env.admin))
    assert [w["id"] for w in listed.json()["webhooks"]] == [sub["id"]]
    # The same requests with an operator token do write: the refusal is the key's role.
    r = await env.client.patch(
        f"/api/v1/alerts/{open_alert['id']}", json={"notes": "x"}, headers=auth(env.admin)
    )
    assert r.status_code == 200


async def test_read_only_key_reads_where_reads_need_a_token(hub: Hub, sqlite_url: str) -> None:
    app = create_app(hub, Settings(db=sqlite_url, read_token_required=True, load_history=False))
    key, _ = hub.store.create_token("dashboard", None, role=TokenRole.READ_ONLY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        for path in ("/api/v1/status/compact", "/api/v1/alerts/active", "/api/v1/log"):
            assert (await c.get(path)).status_code == 401
            assert (await c.get(path, headers=auth(key))).status_code == 200, path


def test_read_only_key_on_a_real_hub_reads_polls_and_streams(tmp_path: Path) -> None:
    """Through `tryvoha serve` (its fast paths for polling and streams) with reads closed."""
    db = tmp_path / "hub.db"
    store = SqlStore(f"sqlite:///{db}")
    key, _ = store.create_token("led-map", None, role=TokenRole.READ_ONLY)
    store.close()
    live = start_live_hub(str(db), "--no-history", "--read-token-required")
    try:
        for path in ("/api/v1/status/compact", "/api/v1/status"):
            assert httpx.get(live.url + path).status_code == 401
            assert httpx.get(live.url + path, headers=auth(key)).status_code == 200
        with httpx.stream(
            "GET", live.url + "/api/v1/stream", headers=auth(key), timeout=10
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
        refused = httpx.post(
            live.url + "/api/v1/alerts", json={"region_id": KYIV_OBLAST}, headers=auth(key)
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "token_read_only"
        assert httpx.get(live.url + "/api/v1/log", headers=auth(key)).json()["events"] == []
    finally:
        live.proc.terminate()  # type: ignore[attr-defined]
        live.proc.wait(timeout=10)  # type: ignore[attr-defined]


async def test_read_only_key_is_a_compat_key(hub: Hub, settings: Settings) -> None:
    app = create_app(hub, settings)
    app.state.compat.config.keyless = False
    key, _ = hub.store.create_token("home-assistant", None, role=TokenRole.READ_ONLY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        iot = "/v1/iot/active_air_raid_alerts_by_oblast.json"
        assert (await c.get(iot)).status_code == 401
        assert (await c.get(iot, headers=auth(key))).status_code == 200
        assert (await c.get(iot, params={"token": key})).status_code == 200
        assert (await c.get("/v1/alerts/active.json", headers=auth(key))).status_code == 200
        assert (await c.get("/api/v3/alerts")).status_code == 403
        assert (await c.get("/api/v3/alerts", headers={"Authorization": key})).status_code == 200


# Tokens made before roles ----------------------------------------------------------------------


def test_tokens_made_before_roles_keep_their_rights(db_url: str, catalogue: Catalogue) -> None:
    """A database at the first schema, with tokens in it, upgraded by opening the store."""
    engine = create_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO tokens (name, token_hash, scopes, drills_only, created_at) "
                "VALUES ('old-admin', :admin, '*', false, 0), "
                "('old-dispatch', :dispatch, :oblast, false, 0)"
            ),
            {
                "admin": hash_token("tv_old_admin"),
                "dispatch": hash_token("tv_old"),
                "oblast": KYIV_OBLAST,
            },
        )
    engine.dispose()
    store = SqlStore(db_url)
    try:
        admin = store.token_by_plaintext("tv_old_admin")
        dispatch = store.token_by_plaintext("tv_old")
        assert admin is not None and dispatch is not None
        assert admin.role is dispatch.role is TokenRole.OPERATOR
        assert admin.scopes is None and dispatch.scopes == (KYIV_OBLAST,)
        store.create_token("new-device", None, role=TokenRole.READ_ONLY)
        assert [t.role for t in store.list_tokens()] == [
            TokenRole.OPERATOR,
            TokenRole.OPERATOR,
            TokenRole.READ_ONLY,
        ]
    finally:
        store.close()


def test_the_store_refuses_a_read_only_token_with_rights_to_write(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with pytest.raises(ValueError, match="read-only"):
            store.create_token("x", [KYIV_OBLAST], role=TokenRole.READ_ONLY)
        with pytest.raises(ValueError, match="read-only"):
            store.create_token("x", None, drills_only=True, role=TokenRole.READ_ONLY)
        with pytest.raises(ValueError, match="1 to 100"):
            store.create_token("x" * 101, None)
        assert store.list_tokens() == []
    finally:
        store.close()


class WatchedStore:
    """Records the thread of every token-hash load; a load may be held until released."""

    def __init__(self, hub: Hub) -> None:
        self.load = hub.store.valid_token_hashes
        self.threads: list[threading.Thread] = []
        self.release = threading.Event()
        self.release.set()
        hub.store.valid_token_hashes = self  # type: ignore[method-assign]

    def __call__(self) -> set[str]:
        self.threads.append(threading.current_thread())
        if not self.release.wait(10):
            raise TimeoutError("the load was never released")
        return self.load()


async def test_the_read_gate_never_reads_the_database_on_the_event_loop(
    hub: Hub, sqlite_url: str
) -> None:
    """Token hashes are reloaded on the hub's reader pool while reads go on with the ones
    loaded before; a read never waits for a reload."""
    key, _ = hub.store.create_token("led-map", None, role=TokenRole.READ_ONLY)
    app = create_app(hub, Settings(db=sqlite_url, read_token_required=True, load_history=False))
    gate = app.state.read_gate
    gate.ttl = 0.0  # every check finds the hashes stale
    watched = WatchedStore(hub)
    watched.release.clear()  # a database that does not answer for now
    headers = {b"authorization": f"Bearer {key}".encode()}
    assert all(gate.allows(headers) for _ in range(100))  # answered from the hashes held
    await until(lambda: watched.threads, "a reload started")
    watched.release.set()
    loop_thread = threading.current_thread()
    assert watched.threads and all(t is not loop_thread for t in watched.threads)
    assert len(watched.threads) == 1, "one reload at a time"


async def test_a_new_key_reads_at_once_and_a_revoked_one_stops(hub: Hub, sqlite_url: str) -> None:
    app = create_app(hub, Settings(db=sqlite_url, read_token_required=True, load_history=False))
    app.state.read_gate.ttl = 0.2
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        assert (await c.get("/api/v1/alerts/active")).status_code == 401
        key, _ = hub.store.create_token("new-app", None, role=TokenRole.READ_ONLY)
        for path in ("/api/v1/alerts/active", "/api/v1/status/compact"):
            assert (await c.get(path, headers=auth(key))).status_code == 200, path
        hub.store.revoke_token("new-app")

        async def refused() -> bool:
            r = await c.get("/api/v1/alerts/active", headers=auth(key))
            return r.status_code == 401

        await until(refused, "the revoked key refused")


async def test_unknown_keys_share_few_database_reads(hub: Hub, sqlite_url: str) -> None:
    """A spray of made-up keys waits for shared reloads, at most one at a time."""
    app = create_app(hub, Settings(db=sqlite_url, read_token_required=True, load_history=False))
    watched = WatchedStore(hub)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        answers = await asyncio.gather(
            *(c.get("/api/v1/alerts/active", headers=auth(f"tv_made_up_{i}")) for i in range(50))
        )
    assert {r.status_code for r in answers} == {401}
    assert 1 <= len(watched.threads) <= 2


# Operator tokens held for commands -------------------------------------------------------------


async def test_a_held_operator_token_revoked_elsewhere_writes_nothing(
    hub: Hub, sqlite_url: str, catalogue: Catalogue
) -> None:
    """A command's token is answered from the tokens held, without a database read; revoked by
    another process (as `tryvoha token revoke` does), the writer's own check refuses it."""
    app = create_app(hub, Settings(db=sqlite_url, load_history=False))
    token, _ = hub.store.create_token("dispatcher", None)
    held = app.state.operator_tokens
    first, second = (o.id for o in catalogue.oblasts[:2])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        r = await c.post("/api/v1/alerts", json={"region_id": first}, headers=auth(token))
        assert r.status_code == 201
        assert held.get(hash_token(token)) is not None
        elsewhere = SqlStore(sqlite_url)
        assert elsewhere.revoke_token("dispatcher")
        elsewhere.close()
        before = hub.store.last_event_id

        r = await c.post("/api/v1/alerts", json={"region_id": second}, headers=auth(token))
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "token_revoked"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert held.get(hash_token(token)) is None  # forgotten: the next one reads the store
        again = await c.patch(
            f"/api/v1/regions/{first}/alerts/air_raid", json={"notes": "x"}, headers=auth(token)
        )
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "token_revoked"
        assert "dispatcher" in again.json()["error"]["message"]
    assert hub.store.last_event_id == before
    assert hub.store.events_after(before) == []


async def test_made_up_tokens_are_never_held(
    hub: Hub, sqlite_url: str, catalogue: Catalogue
) -> None:
    app = create_app(hub, Settings(db=sqlite_url, load_history=False))
    region = catalogue.oblasts[0].id
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        answers = await asyncio.gather(
            *(
                c.post(
                    "/api/v1/alerts", json={"region_id": region}, headers=auth(f"tv_made_up_{i}")
                )
                for i in range(50)
            )
        )
    assert {r.json()["error"]["code"] for r in answers} == {"token_invalid"}
    assert len(app.state.operator_tokens) == 0
    assert hub.store.last_event_id == 0


def test_the_tokens_held_are_bounded(hub: Hub) -> None:
    made = [hub.store.create_token(f"op-{i}", None) for i in range(3)]
    held = OperatorTokens(limit=2)
    for plain, info in made:
        held.keep(hash_token(plain), info)
    assert len(held) == 2
    assert held.get(hash_token(made[0][0])) is None  # the longest held went first
    assert [held.get(hash_token(p)) for p, _ in made[1:]] == [i for _, i in made[1:]]
    for limit in (0, 100_001):
        with pytest.raises(ValueError, match=r"1 \.\. 100,000"):
            OperatorTokens(limit=limit)


def test_the_token_alone_goes_to_stdout_so_a_script_can_keep_it(tmp_path: Path) -> None:
    """`export TRYVOHA_TOKEN=$(tryvoha token create …)`, as the README tour does."""
    db = str(hub_database(tmp_path / "hub.db"))
    made = tokens_cli("create", "kyiv", "--region", "Kyivska oblast", "--db", db)
    assert made.exit_code == 0, made.output
    assert made.stdout.strip().startswith("tv_") and len(made.stdout.split()) == 1
    assert "Token for kyiv" in made.stderr and KYIV_OBLAST_LABEL in made.stderr

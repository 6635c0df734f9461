"""The verification snippet in docs/webhooks.md works on a real delivery, and the CLI shows
subscriptions and their failures from a running hub."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import uvicorn
from typer.testing import CliRunner

from tryvoha.alerts.commands import Actor, Declare
from tryvoha.alerts.model import Threat
from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import verify
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.cli import app as cli
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.store import SqlStore

from .test_webhooks import FAST, running_hub
from .waiting import until

DOCS = Path(__file__).resolve().parents[1] / "docs" / "webhooks.md"


def docs_snippet() -> dict:
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    snippet = next(b for b in blocks if "def verify_tryvoha" in b)
    namespace: dict = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)
    return namespace


async def test_the_documented_verification_accepts_deliveries_and_refuses_forgeries(
    catalogue, sqlite_url: str
) -> None:
    verify_tryvoha = docs_snippet()["verify_tryvoha"]
    receiver = Receiver()
    await receiver.start()
    try:
        async with running_hub(catalogue, sqlite_url) as env:
            sub = await env.subscribe(receiver.url)
            await env.declare(catalogue.oblasts[0].id)
            await receiver.wait_for(lambda r: len(r.received) == 1)
    finally:
        await receiver.stop()
    delivery = receiver.received[0]
    header = delivery.headers["x-tryvoha-signature"]
    assert verify_tryvoha(sub["secret"], header, delivery.body)
    assert not verify_tryvoha(sub["secret"], header, delivery.body.replace(b"air_raid", b"nuclear"))
    assert not verify_tryvoha("whsec_someone_else", header, delivery.body)
    t = int(header.split(",")[0].removeprefix("t="))
    stale = header.replace(f"t={t}", f"t={t - 3600}")
    assert not verify_tryvoha(sub["secret"], stale, delivery.body)
    assert not verify_tryvoha(sub["secret"], "garbage", delivery.body)
    v1 = header.split(",")[1]
    for forged in (
        "9" * 5000,
        f"{t:_}",
        str(t).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    ):
        assert not verify_tryvoha(sub["secret"], f"t={forged},{v1}", delivery.body), forged[:20]
        assert not verify(sub["secret"], f"t={forged},{v1}", delivery.body), forged[:20]


async def test_cli_adds_lists_shows_failures_and_deletes(catalogue, sqlite_url: str) -> None:
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    token, _ = hub.store.create_token("cli-admin", None)
    app = create_app(hub, Settings(db=sqlite_url, load_history=False, mqtt=None, webhooks=FAST))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    marker = b"internal-service-says-TOPSECRET"
    receiver = Receiver(answer=lambda _r: 503, reply_body=marker)
    await receiver.start()
    try:

        def started() -> bool:
            if serving.done():
                serving.result()  # a hub that could not start fails with its own error
            return server.started

        await until(started, "the hub started", poll=0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = ["--url", f"http://127.0.0.1:{port}", "--token", token]
        runner = CliRunner()

        def run(*args: str):
            result = runner.invoke(cli, ["webhook", *args, *base])
            assert result.exit_code == 0, result.output
            return result

        oblast = catalogue.oblasts[4]
        made = await asyncio.to_thread(
            run, "add", receiver.url, "-r", oblast.id, "-t", "air_raid", "--json"
        )
        doc = orjson.loads(made.output)
        assert doc["regions"] == [oblast.id] and doc["secret"].startswith("whsec_")

        bad = await asyncio.to_thread(runner.invoke, cli, ["webhook", "add", "ftp://x.org/", *base])
        assert bad.exit_code == 1 and "scheme must be http or https" in bad.output

        await hub.submit(Declare(oblast.id, Threat.AIR_RAID), Actor("test"))
        await receiver.wait_for(lambda r: len(r.received) >= 3)

        listed = await asyncio.to_thread(run, "list", "--json")
        row = orjson.loads(listed.output)["webhooks"][0]
        assert row["deliveries"]["pending"] == 1 and row["deliveries"]["failing"]
        assert row["deliveries"]["head"]["last_error"] == "HTTP 503"

        shown = await asyncio.to_thread(run, "show", str(doc["id"]))
        assert "failing" in shown.output and "HTTP 503" in shown.output
        table = await asyncio.to_thread(run, "list")
        assert "503" in table.output  # the error column, wrapped in a narrow terminal
        for output in (listed.output, shown.output, table.output):
            assert "TOPSECRET" not in output  # the receiver's answer is never repeated

        gone = await asyncio.to_thread(run, "delete", str(doc["id"]))
        assert "1 pending deliveries dropped" in gone.output
        after = await asyncio.to_thread(run, "list", "--json")
        assert orjson.loads(after.output)["webhooks"] == []
    finally:
        await receiver.stop()
        server.should_exit = True
        await serving
        hub.close()


def test_listen_on_a_taken_port_is_one_line_naming_it_and_the_way_out() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["webhook", "listen", "--port", str(port)], env={"COLUMNS": "80"}
        )
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port} is already in use" in lines[0] and "--port 9998" in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)

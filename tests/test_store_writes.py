"""Every write of a running hub leaves from the writer's thread, none from the reader pool: the
compatible API's Last-Modified record in `meta` and its webhook subscriptions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import WebhookConfig
from tryvoha.compat.clock import META_KEY
from tryvoha.compat.ids import crosswalk
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.netguard import parse_networks
from tryvoha.regions import Catalogue
from tryvoha.store import TokenRole

from .conftest import auth
from .waiting import until


def spy(calls: list[tuple[str, str]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, noting the thread each call runs in."""

    def noted(*args: Any) -> Any:
        calls.append((name, threading.current_thread().name))
        return fn(*args)

    return noted


async def test_meta_and_subscription_writes_run_in_the_writer_thread(
    hub: Hub, settings: Settings, admin_token: str, catalogue: Catalogue
) -> None:
    reader, _ = hub.store.create_token("reader", None, role=TokenRole.READ_ONLY)
    loopback = WebhookConfig(allow_networks=parse_networks("127.0.0.0/8"))
    app = create_app(hub, replace(settings, webhooks=loopback))
    calls: list[tuple[str, str]] = []
    hooks = app.state.compat_webhooks.store
    hub.store.set_meta = spy(calls, "meta", hub.store.set_meta)  # type: ignore[method-assign]
    hooks.put = spy(calls, "put", hooks.put)
    hooks.remove = spy(calls, "remove", hooks.remove)
    region = crosswalk(catalogue).by_uid[4].id
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        declared = await c.post(
            "/api/v1/alerts",
            json={"region_id": region, "threat": "air_raid"},
            headers=auth(admin_token),
        )
        assert declared.status_code == 201
        answer = await c.get("/v1/alerts/active.json", headers=auth(reader))
        assert answer.status_code == 200
        key = {"Authorization": reader}
        hook = {"webHookUrl": "http://127.0.0.1:9/hook"}
        assert (await c.post("/api/v3/webhook", json=hook, headers=key)).status_code == 200
        assert (await c.delete("/api/v3/webhook", headers=key)).status_code == 200
        await until(lambda: any(name == "meta" for name, _ in calls), "a meta write")
    assert {name for name, _ in calls} == {"meta", "put", "remove"}
    assert all(thread.startswith("tryvoha-writer") for _, thread in calls), calls
    stored = hub.store.get_meta(META_KEY)
    assert stored is not None and stored.startswith(f"{hub.last_event_id} ")

"""What the client scripts need from the live hub besides the client under test.

Declares and ends alerts through tryvoha's operator API, reads tryvoha's own status (the
independent expectation) and the request log the test harness keeps. Uses only `requests`,
which every client venv has.
"""

from __future__ import annotations

import json
import os

import requests

BASE = os.environ["HUB_BASE"]
ADMIN = os.environ["HUB_ADMIN"]
IDS = json.loads(os.environ["HUB_IDS"])
"""alerts.in.ua uid / ukrainealarm id (as strings) → tryvoha region id, for the regions used."""


def declare(key: str, threat: str = "air_raid", **extra) -> dict:
    body = {"region_id": IDS[key], "threat": threat, **extra}
    r = requests.post(f"{BASE}/api/v1/alerts", json=body, headers=_admin(), timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["alert"]


def end(alert_id: int) -> None:
    r = requests.post(f"{BASE}/api/v1/alerts/{alert_id}/end", json={}, headers=_admin(), timeout=10)
    assert r.status_code == 200, r.text


def end_all() -> None:
    for alert in active():
        end(alert["id"])


def active() -> list[dict]:
    return requests.get(f"{BASE}/api/v1/alerts/active", timeout=10).json()["alerts"]


def status(key: str) -> str:
    """tryvoha's own air-raid status of a region: active, partial or none."""
    r = requests.get(f"{BASE}/api/v1/regions/{IDS[key]}", timeout=10).json()
    return r["status"]["air_raid"]


def history_ids(key: str) -> set[int]:
    params = {"region_id": IDS[key], "limit": 1000}
    r = requests.get(f"{BASE}/api/v1/alerts/history", params=params, timeout=10).json()
    return {a["id"] for a in r["alerts"]}


def requests_seen(since: int = 0) -> list[dict]:
    """Requests the hub received (path, authorization, if-modified-since, status), in order."""
    return requests.get(f"{BASE}/__harness/log", timeout=10).json()[since:]


def mark() -> int:
    return len(requests_seen())


def _admin() -> dict:
    return {"Authorization": f"Bearer {ADMIN}"}

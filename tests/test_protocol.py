"""The parser-level answers for polled views, over real sockets against a real hub process."""

from __future__ import annotations

import socket
import time

import httpx

from .conftest import LiveHub, start_live_hub


def exchange(hub: LiveHub, raw: bytes, expect: int) -> list[bytes]:
    """Send raw bytes, read until `expect` complete responses (or the server closes)."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.1 ") < expect or not _complete(data, expect):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [b"HTTP/1.1 " + part for part in data.split(b"HTTP/1.1 ")[1:]]


def _complete(data: bytes, expect: int) -> bool:
    parts = data.split(b"HTTP/1.1 ")[1:]
    if len(parts) < expect:
        return False
    head, _, body = parts[-1].partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return b"\r\n\r\n" in parts[-1]


def test_same_answer_as_the_app_and_304(live_hub: LiveHub) -> None:
    fast = httpx.get(f"{live_hub.url}/api/v1/status/compact")
    routed = httpx.get(f"{live_hub.url}/api/v1/status/compact?drills=false")  # through the app
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    assert fast.headers["etag"] == routed.headers["etag"]
    again = httpx.get(
        f"{live_hub.url}/api/v1/status/compact", headers={"If-None-Match": fast.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(f"{live_hub.url}/api/v1/status/compact")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(fast.content))


def test_the_whole_countrys_status_is_the_apps_bytes_kept_per_log_id(live_hub: LiveHub) -> None:
    """`/api/v1/status` (a quarter of a megabyte) is answered at the parser from bytes rendered
    once per log id: the same bytes and validators as the app gives for the same view."""
    fast = httpx.get(f"{live_hub.url}/api/v1/status")
    routed = httpx.get(f"{live_hub.url}/api/v1/status?threat=air_raid&drills=false")
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    assert fast.headers["etag"] == routed.headers["etag"]
    assert fast.json()["threat"] == "air_raid" and len(fast.json()["regions"]) > 1000
    again = httpx.get(
        f"{live_hub.url}/api/v1/status", headers={"If-None-Match": fast.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    other = httpx.get(f"{live_hub.url}/api/v1/status?threat=artillery_shelling")
    assert other.status_code == 200 and other.json()["threat"] == "artillery_shelling"
    assert other.headers["etag"] != fast.headers["etag"]


def test_the_status_goes_gzipped_to_a_client_that_takes_it(live_hub: LiveHub) -> None:
    """Gzipped once per log id, at the parser and through the app alike: the same bytes and
    ETag either way, an ETag of its own, `Vary: Accept-Encoding` on both forms; the compact
    status (a few hundred bytes) goes as it is."""
    gz = {"Accept-Encoding": "gzip"}
    plain = httpx.get(f"{live_hub.url}/api/v1/status", headers={"Accept-Encoding": "identity"})
    fast = httpx.get(f"{live_hub.url}/api/v1/status", headers=gz)
    routed = httpx.get(f"{live_hub.url}/api/v1/status?threat=air_raid", headers=gz)
    for answer in (fast, routed):
        assert answer.status_code == 200
        assert answer.headers["content-encoding"] == "gzip"
        assert answer.headers["vary"].lower() == "accept-encoding"
        assert answer.content == plain.content  # httpx undoes the gzip
        assert answer.num_bytes_downloaded < len(plain.content) // 4
    assert fast.headers["etag"] == routed.headers["etag"] != plain.headers["etag"]
    assert plain.headers["vary"].lower() == "accept-encoding"
    assert "content-encoding" not in plain.headers
    again = httpx.get(
        f"{live_hub.url}/api/v1/status", headers={**gz, "If-None-Match": fast.headers["etag"]}
    )
    assert again.status_code == 304
    compact = httpx.get(f"{live_hub.url}/api/v1/status/compact", headers=gz)
    assert "content-encoding" not in compact.headers


def test_pipelined_requests_keep_their_order(live_hub: LiveHub) -> None:
    get = b"GET %s HTTP/1.1\r\nHost: hub\r\n\r\n"
    raw = (
        get % b"/api/v1/status/compact"
        + get % b"/api/v1/regions/UA"
        + get % b"/api/v1/status/compact"
        + get % b"/api/v1/nothing"
    )
    answers = exchange(live_hub, raw, 4)
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 404 Not Found",
    ]
    assert b'"log_id"' in answers[0] and b'"children"' in answers[1]


def test_http_10_gets_connection_close(live_hub: LiveHub) -> None:
    answers = exchange(live_hub, b"GET /api/v1/status/compact HTTP/1.0\r\n\r\n", 1)
    assert answers and b"connection: close" in answers[0].lower()


def test_reads_token_gate_applies_to_the_short_cut(tmp_path) -> None:
    hub = start_live_hub(str(tmp_path / "gated.db"), "--no-history", "--read-token-required")
    try:
        r = httpx.get(f"{hub.url}/api/v1/status/compact")
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_required"
    finally:
        hub.proc.terminate()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]


def test_compat_polls_answered_at_the_parser_match_the_app(tmp_path) -> None:
    """The IoT string LED maps poll: same bytes, 304s and 429s whichever way a request takes."""
    from typer.testing import CliRunner

    from tryvoha.cli import app as cli

    db = str(tmp_path / "compat.db")
    hub = start_live_hub(db, "--no-history", env={"TRYVOHA_COMPAT_AIU_PER_MIN": "5"})
    try:
        made = CliRunner().invoke(
            cli, ["token", "create", "led-map", "--read-only", "--json", "--db", db]
        )
        token = made.output.split('"token":"')[1].split('"')[0]
        url = f"{hub.url}/v1/iot/active_air_raid_alerts_by_oblast.json"
        first = httpx.get(url, params={"token": token})  # key not cached yet: through the app
        second = httpx.get(url, params={"token": token})  # cached key: at the parser
        assert first.status_code == second.status_code == 200
        assert first.content == second.content and len(first.json()) == 27
        assert first.headers["last-modified"] == second.headers["last-modified"]
        third = httpx.get(
            url,
            params={"token": token},
            headers={"If-Modified-Since": first.headers["last-modified"]},
        )
        assert third.status_code == 304
        assert httpx.get(url, params={"token": "tv_unknown"}).status_code == 401
        limited = [httpx.get(url, params={"token": token}) for _ in range(3)]
        assert [r.status_code for r in limited] == [200, 200, 429]
        assert int(limited[-1].headers["retry-after"]) > 0
        assert limited[-1].json()["error"]["code"] == "rate_limited"
    finally:
        hub.proc.terminate()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]


def test_ukrainealarm_polls_at_the_parser_carry_validators(live_hub: LiveHub) -> None:
    """Answered at the parser, the ukrainealarm views carry tryvoha's validators and 304s."""
    for path in ("/api/v3/alerts/31", "/api/v3/alerts/status", "/api/v3/alerts"):
        for _ in range(3):  # the two answers must not straddle a second boundary
            started = int(time.time())
            fast = httpx.get(f"{live_hub.url}{path}")
            ours = httpx.get(f"{live_hub.url}/api/v1/status/compact")
            if int(time.time()) == started:
                break
        assert fast.status_code == 200 and fast.headers["cache-control"] == "no-cache"
        assert fast.headers["last-modified"] == ours.headers["last-modified"]
        again = httpx.get(f"{live_hub.url}{path}", headers={"If-None-Match": fast.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == fast.headers["etag"]


def test_the_national_cap_feed_at_the_parser_matches_the_route(tmp_path) -> None:
    """Aggregators poll the national feed: the same bytes, validators and 304 whichever way."""
    from typer.testing import CliRunner

    from tryvoha.cli import app as cli
    from tryvoha.regions import load_catalogue

    db = str(tmp_path / "cap.db")
    hub = start_live_hub(db, "--no-history")
    try:
        made = CliRunner().invoke(
            cli, ["token", "create", "d", "--all-regions", "--json", "--db", db]
        )
        token = made.output.split('"token":"')[1].split('"')[0]
        lviv = load_catalogue().resolve("Lvivska oblast").id
        declared = httpx.post(
            f"{hub.url}/api/v1/alerts",
            json={"region_id": lviv},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert declared.status_code == 201, declared.text
        url = f"{hub.url}/api/v1/cap/feed.atom"
        for _ in range(3):  # the answers must not straddle a second boundary (Last-Modified)
            started = int(time.time())
            first = httpx.get(url)  # feeds not read yet: through the route
            fast = httpx.get(url)  # at the parser
            routed = httpx.get(url, params={"status": "actual"})  # a query: through the route
            if int(time.time()) == started:
                break
        assert first.status_code == fast.status_code == routed.status_code == 200
        assert f":event:{declared.json()['event']['id']}<" in fast.text
        for name in ("etag", "last-modified", "cache-control", "content-type", "content-length"):
            assert first.headers[name] == fast.headers[name] == routed.headers[name], name
        assert first.content == fast.content == routed.content
        again = httpx.get(url, headers={"If-None-Match": fast.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        head = httpx.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(fast.content))
    finally:
        hub.proc.terminate()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]

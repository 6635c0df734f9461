"""What one connection may cost the hub: head size and count, target length, deadlines, and JSON
answers for everything the parser refuses; over real sockets against `tryvoha serve`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from tryvoha.config import Settings
from tryvoha.server.limits import Limits

from .conftest import LiveHub, start_live_hub

POLL = b"GET /api/v1/status/compact HTTP/1.1\r\nHost: hub\r\n"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    live = start_live_hub(str(tmp_path_factory.mktemp("edge") / "edge.db"), "--no-history")
    yield live
    live.proc.terminate()  # type: ignore[attr-defined]
    live.proc.wait(timeout=10)  # type: ignore[attr-defined]


def connect(hub: LiveHub) -> socket.socket:
    return socket.create_connection(("127.0.0.1", hub.port), timeout=5)


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; the time of the close (monotonic)."""
    data = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"still open at the deadline; got {data[:200]!r}") from None
        except ConnectionResetError:
            return data, time.monotonic()
        if not chunk:
            return data, time.monotonic()
        data += chunk


def json_answer(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    return int(lines[0].split()[1]), headers, orjson.loads(body)


def refused(hub: LiveHub, raw: bytes) -> tuple[int, dict[str, str], dict]:
    """Send `raw`; the answer must be one JSON error, then the connection closes."""
    with connect(hub) as sock:
        sock.sendall(raw)
        data, _ = read_until_closed(sock, time.monotonic() + 5)
    status, headers, body = json_answer(data)
    assert headers["connection"] == "close"
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return status, headers, body


def test_oversize_head_is_431_json(hub: LiveHub) -> None:
    status, _, body = refused(hub, POLL + b"X-Big: " + b"a" * 17_000 + b"\r\n\r\n")
    assert status == 431 and body["error"]["code"] == "headers_too_large"
    many = b"".join(b"X-H%d: 1\r\n" % n for n in range(101))
    status, _, body = refused(hub, POLL + many + b"\r\n")
    assert status == 431 and body["error"]["code"] == "too_many_headers"


def test_oversize_head_sent_in_pieces_is_refused_as_it_arrives(hub: LiveHub) -> None:
    """A head that never ends is refused once it passes the limit, not buffered further."""
    with connect(hub) as sock:
        sock.sendall(POLL + b"X-Endless: ")
        sent = 0
        with pytest.raises(OSError):  # the server closes while we are still sending
            while sent < 10_000_000:
                sock.sendall(b"a" * 4096)
                sent += 4096
                time.sleep(0.0005)
        data, _ = read_until_closed(sock, time.monotonic() + 5)
    assert sent < 1_000_000
    if data:  # the answer may be lost to the reset of a peer still sending
        assert json_answer(data)[0] == 431


def test_long_target_is_414_json(hub: LiveHub) -> None:
    status, _, body = refused(hub, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: hub\r\n\r\n")
    assert status == 414 and body["error"]["code"] == "uri_too_long"


@pytest.mark.parametrize(
    "raw",
    [
        b"HELLO\r\n\r\n",
        b"GET /api/v1/status/compact HTTP/9.9\r\n\r\n",
        b"GET /api/v1/status/compact HTTP/1.1\r\nHost hub\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: hub\r\n\r\n",
        b"POST /api/v1/alerts HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /api/v1/alerts HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["method", "version", "header", "target", "two-lengths", "chunk"],
)
def test_unreadable_requests_get_400_json(hub: LiveHub, raw: bytes) -> None:
    status, _, body = refused(hub, raw)
    assert status == 400 and body["error"]["code"] in ("bad_request", "invalid_target")


def test_pipelined_small_requests_are_not_taken_for_a_large_head(hub: LiveHub) -> None:
    one = POLL + b"X-Pad: " + b"z" * 200 + b"\r\n\r\n"
    with connect(hub) as sock:
        sock.sendall(one * 200)  # 50 KB in one write, every head well within the limit
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"HTTP/1.1 200 OK") < 200 and time.monotonic() < deadline:
            data += sock.recv(1 << 20)
    assert data.count(b"HTTP/1.1 200 OK") == 200 and b" 431 " not in data


def test_slow_and_half_sent_requests_are_closed_within_10_s(hub: LiveHub) -> None:
    """A half-sent head, a byte-a-second head, a half-sent body, a silent connection and an idle
    keep-alive connection, all at once: each is closed by its deadline."""
    limits = Limits()

    def half_head() -> tuple[bytes, float]:
        with connect(hub) as sock:
            started = time.monotonic()
            sock.sendall(POLL)
            data, closed = read_until_closed(sock, started + 10)
        return data, closed - started

    def byte_a_second() -> tuple[bytes, float]:
        with connect(hub) as sock:
            started = time.monotonic()
            for byte in POLL + b"X-Slow: " + b"s" * 60:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                sock.settimeout(1.0)
                try:
                    if sock.recv(65536, socket.MSG_PEEK):
                        break
                except TimeoutError:
                    continue
            data, closed = read_until_closed(sock, started + 10)
        return data, closed - started

    def half_body() -> tuple[bytes, float]:
        with connect(hub) as sock:
            head = b"POST /api/v1/alerts HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json"
            sock.sendall(head + b"\r\nContent-Length: 100\r\n\r\n" + b'{"region_id": "U')
            started = time.monotonic()
            data, closed = read_until_closed(sock, started + 10)
        return data, closed - started

    def silent() -> tuple[bytes, float]:
        with connect(hub) as sock:
            started = time.monotonic()
            data, closed = read_until_closed(sock, started + 10)
        return data, closed - started

    def idle() -> tuple[bytes, float]:
        with connect(hub) as sock:
            sock.sendall(POLL + b"\r\n")
            first = sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 200 OK")
            started = time.monotonic()
            data, closed = read_until_closed(sock, started + 10)
        return data, closed - started

    with ThreadPoolExecutor(5) as pool:
        runs = {f.__name__: pool.submit(f) for f in (half_head, byte_a_second, half_body, silent)}
        runs["idle"] = pool.submit(idle)
        results = {name: run.result() for name, run in runs.items()}
    for name in ("half_head", "byte_a_second", "half_body"):
        data, seconds = results[name]
        status, _, body = json_answer(data)
        assert status == 408 and body["error"]["code"] == "request_timeout", name
        assert seconds < 10, name
    assert results["half_head"][1] >= limits.head_timeout - 0.5, "not before its deadline"
    assert results["silent"][0] == b"" and results["silent"][1] < 10
    assert results["idle"][0] == b"" and results["idle"][1] < limits.keepalive_timeout + 1.5


def test_limits_have_ranges() -> None:
    assert Settings.from_env({}).http == Limits()
    assert Settings.from_env({"TRYVOHA_HTTP_HEAD_TIMEOUT": "2.5"}).http.head_timeout == 2.5
    for variable, value in (
        ("TRYVOHA_HTTP_HEAD_TIMEOUT", "0"),
        ("TRYVOHA_HTTP_HEAD_TIMEOUT", "nan"),
        ("TRYVOHA_HTTP_MAX_HEAD_BYTES", "100"),
        ("TRYVOHA_HTTP_MAX_HEADERS", "1000000"),
        ("TRYVOHA_HTTP_KEEPALIVE_TIMEOUT", "soon"),
        ("TRYVOHA_HTTP_MAX_URL_BYTES", "32768"),  # longer than the whole head may be
    ):
        with pytest.raises(ValueError, match=variable):
            Settings.from_env({variable: value})


def test_hub_refuses_to_start_with_a_limit_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TRYVOHA_HTTP_BODY_TIMEOUT"):
        start_live_hub(
            str(tmp_path / "bad.db"), "--no-history", env={"TRYVOHA_HTTP_BODY_TIMEOUT": "-1"}
        )

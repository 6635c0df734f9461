"""channels/streams/frames.py: the WebSocket codec and the SSE / HTTP bytes of the streams.

The reference is the `websockets` library (installed with uvicorn[standard]): it writes the client
frames `WsReader` must read and reads the server frames `ws_frame` writes. h11 reads the HTTP heads.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Generator

import h11
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Frame, Opcode
from websockets.utils import accept_key

from tryvoha.channels.streams import frames
from tryvoha.channels.streams.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WsReader,
)

# The reference ------------------------------------------------------------------------------


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame as a real client (the `websockets` library) writes it."""
    return Frame(Opcode(opcode), payload, fin=fin).serialize(mask=True)


def unmasked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return Frame(Opcode(opcode), payload, fin=fin).serialize(mask=False)


def server_frames(data: bytes) -> list[Frame]:
    """Every frame in `data`, read as a client reads a server (an unmasked frame is required)."""
    pos = 0

    def read_exact(n: int) -> Generator[None, None, bytes]:
        nonlocal pos
        chunk = data[pos : pos + n]
        if len(chunk) < n:
            raise AssertionError(f"a truncated frame at byte {pos}")
        pos += n
        return chunk
        yield  # a generator, as the parser expects

    out = []
    while pos < len(data):
        parser = Frame.parse(read_exact, mask=False, max_size=None)
        try:
            next(parser)
        except StopIteration as done:
            out.append(done.value)
    return out


def payload_of(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def feed_in_chunks(reader: WsReader, data: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        out += reader.feed(data[start:cut])
        start = cut
    return out


# A client's stream: data messages (maybe fragmented) with control frames between fragments ----

sizes = st.one_of(
    st.integers(0, 130),  # 7-bit lengths and the first 16-bit ones
    st.sampled_from([125, 126, 127, 65535]),
    st.integers(126, 3000),
)
data_messages = st.tuples(
    st.sampled_from([OP_TEXT, OP_BINARY]),
    sizes,
    st.integers(0, 2**32),
    st.lists(st.integers(0, 3000), max_size=4),  # where the message is cut into fragments
    st.lists(st.sampled_from([OP_PING, OP_PONG]), max_size=3),  # control frames in between
)


def encode_stream(messages: list[tuple]) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The bytes a client sends for `messages`, and what a reader must return for them."""
    wire = b""
    expected: list[tuple[int, bytes]] = []
    for n, (opcode, size, seed, cuts, controls) in enumerate(messages):
        payload = payload_of(size, seed)
        points = sorted({c % (size + 1) for c in cuts})
        pieces = [payload[a:b] for a, b in zip([0, *points], [*points, size], strict=True)]
        pending_controls = list(controls)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            wire += client_frame(opcode if i == 0 else OP_CONT, piece, fin=last)
            if not last and pending_controls:  # a control frame between two fragments
                control = pending_controls.pop()
                body = b"c%d-%d" % (n, i)
                wire += client_frame(control, body)
                expected.append((control, body))
        expected.append((opcode, payload))
    return wire, expected


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(data_messages, min_size=1, max_size=5), cuts=st.lists(st.integers()))
def test_any_stream_of_client_frames_is_read_back_whatever_the_chunks(
    messages: list[tuple], cuts: list[int]
) -> None:
    wire, expected = encode_stream(messages)
    reader = WsReader()
    assert feed_in_chunks(reader, wire, cuts) == expected
    assert reader.buf == b"" and reader.fragments == []


def test_byte_at_a_time() -> None:
    wire, expected = encode_stream(
        [
            (OP_TEXT, 5, 1, [], []),
            (OP_BINARY, 300, 2, [100, 200], [OP_PING, OP_PONG]),  # 16-bit lengths, fragmented
            (OP_TEXT, 0, 3, [], []),
        ]
    )
    wire += client_frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
    reader = WsReader()
    got = []
    for i in range(len(wire)):
        got += reader.feed(wire[i : i + 1])
    assert got == [*expected, (OP_CLOSE, struct.pack("!H", 1000) + b"bye")]


@pytest.mark.parametrize("size", [65535, 65536])
def test_16_and_64_bit_lengths_with_the_header_arriving_byte_by_byte(size: int) -> None:
    payload = payload_of(size, size)
    wire = client_frame(OP_BINARY, payload)
    header = 2 + (2 if size < 65536 else 8) + 4
    assert wire[1] & 0x7F == (126 if size < 65536 else 127)
    reader = WsReader()  # 64 KiB, the default, holds a 65536-byte frame exactly
    for i in range(header):
        assert reader.feed(wire[i : i + 1]) == []
    assert reader.feed(wire[header:-1]) == []
    assert reader.feed(wire[-1:]) == [(OP_BINARY, payload)]


def test_a_frame_split_anywhere_is_held_until_complete() -> None:
    wire = client_frame(OP_TEXT, b"hello") + client_frame(OP_TEXT, b"world")
    for cut in range(len(wire) + 1):
        reader = WsReader()
        first = reader.feed(wire[:cut])
        assert first + reader.feed(wire[cut:]) == [(OP_TEXT, b"hello"), (OP_TEXT, b"world")]
        assert len(first) == (cut >= len(wire) // 2) + (cut == len(wire))


def test_control_frames_between_fragments_do_not_disturb_the_message() -> None:
    reader = WsReader()
    got = reader.feed(client_frame(OP_TEXT, b"hel", fin=False))
    got += reader.feed(client_frame(OP_PING, b"are you there"))
    got += reader.feed(client_frame(OP_CONT, b"l", fin=False))
    got += reader.feed(client_frame(OP_PONG, b""))
    got += reader.feed(client_frame(OP_CONT, b"o", fin=True))
    assert got == [(OP_PING, b"are you there"), (OP_PONG, b""), (OP_TEXT, b"hello")]


def test_unmasked_client_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="must be masked"):
        WsReader().feed(unmasked_frame(OP_TEXT, b"hi"))
    reader = WsReader()
    assert reader.feed(client_frame(OP_TEXT, b"ok")) == [(OP_TEXT, b"ok")]
    with pytest.raises(ValueError, match="must be masked"):
        reader.feed(unmasked_frame(OP_PING, b""))


@pytest.mark.parametrize("size", [65537, 2**31, 2**63 - 1])
def test_an_oversize_frame_is_refused_on_its_header_alone(size: int) -> None:
    """The reader never waits for (or buffers) a body it would refuse."""
    header = struct.pack("!BBQ", 0x80 | OP_BINARY, 0x80 | 127, size) + b"mask"
    with pytest.raises(ValueError, match="too large"):
        WsReader().feed(header)


def test_the_limit_is_the_reader_s_own() -> None:
    wire = client_frame(OP_TEXT, b"x" * 101)
    with pytest.raises(ValueError, match="too large"):
        WsReader(max_size=100).feed(wire)
    assert WsReader(max_size=101).feed(wire) == [(OP_TEXT, b"x" * 101)]


def test_a_fragmented_message_over_the_limit_is_refused() -> None:
    reader = WsReader(max_size=100)
    assert reader.feed(client_frame(OP_TEXT, b"a" * 60, fin=False)) == []
    with pytest.raises(ValueError, match="message too large"):
        reader.feed(client_frame(OP_CONT, b"b" * 60, fin=True))


def test_a_new_message_after_a_complete_one_starts_afresh() -> None:
    reader = WsReader()
    assert reader.feed(client_frame(OP_BINARY, b"\x00\x01")) == [(OP_BINARY, b"\x00\x01")]
    assert reader.feed(client_frame(OP_TEXT, b"a", fin=False)) == []
    assert reader.feed(client_frame(OP_CONT, b"b")) == [(OP_TEXT, b"ab")]


def raw_client_frame(first_byte: int, payload: bytes, mask: bytes = b"\x0f\xf0\x55\xaa") -> bytes:
    """A masked frame with any first byte, for frames the reference library refuses to write."""
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first_byte]) + length + mask + masked


PROTOCOL_VIOLATIONS = {
    "a ping of 126 bytes": raw_client_frame(0x80 | OP_PING, b"p" * 126),
    "a fragmented ping": raw_client_frame(OP_PING, b"p"),
    "a continuation with no message to continue": raw_client_frame(0x80 | OP_CONT, b"x"),
    "a reserved bit with no extension agreed": raw_client_frame(0x80 | 0x40 | OP_TEXT, b"x"),
    "a new message inside a fragmented one": (
        client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b")
    ),
    "a close of 126 bytes": raw_client_frame(0x80 | OP_CLOSE, b"\x03\xe8" + b"c" * 124),
    "a fragmented close": raw_client_frame(OP_CLOSE, b"\x03\xe8"),
    "a fragmented pong": raw_client_frame(OP_PONG, b""),
    "a continuation after a complete message": (
        client_frame(OP_TEXT, b"a") + raw_client_frame(0x80 | OP_CONT, b"x")
    ),
    "each reserved bit": raw_client_frame(0x80 | 0x20 | OP_BINARY, b"x"),
    "the third reserved bit": raw_client_frame(0x80 | 0x10 | OP_TEXT, b"x"),
    "an unknown data opcode": raw_client_frame(0x80 | 0x3, b"x"),
    "an unknown control opcode": raw_client_frame(0x80 | 0xB, b"x"),
}


@pytest.mark.parametrize("wire", PROTOCOL_VIOLATIONS.values(), ids=PROTOCOL_VIOLATIONS.keys())
def test_frames_rfc_6455_forbids_are_refused(wire: bytes) -> None:
    with pytest.raises(ValueError):
        WsReader().feed(wire)


def test_a_bad_header_is_refused_before_its_payload_arrives() -> None:
    with pytest.raises(ValueError, match="at most 125"):
        WsReader().feed(raw_client_frame(0x80 | OP_PING, b"p" * 126)[:8])


def test_control_frames_between_fragments_and_a_125_byte_ping_are_fine() -> None:
    reader = WsReader()
    wire = (
        client_frame(OP_TEXT, b"a", fin=False)
        + raw_client_frame(0x80 | OP_PING, b"p" * 125)
        + client_frame(OP_CONT, b"b", fin=False)
        + raw_client_frame(0x80 | OP_PONG, b"")
        + client_frame(OP_CONT, b"c")
    )
    assert reader.feed(wire) == [(OP_PING, b"p" * 125), (OP_PONG, b""), (OP_TEXT, b"abc")]


# Server frames --------------------------------------------------------------------------------


@given(
    opcode=st.sampled_from([OP_TEXT, OP_BINARY, OP_PING, OP_PONG]),
    size=st.one_of(st.integers(0, 200), st.sampled_from([125, 126, 65535, 65536, 70000])),
    seed=st.integers(0, 2**32),
)
def test_server_frames_are_read_by_a_real_client(opcode: int, size: int, seed: int) -> None:
    if opcode in (OP_PING, OP_PONG):
        size = min(size, 125)  # control frames carry at most 125 bytes
    payload = payload_of(size, seed)
    (frame,) = server_frames(frames.ws_frame(opcode, payload))
    assert (frame.opcode, frame.data, frame.fin) == (Opcode(opcode), payload, True)
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)


@pytest.mark.parametrize(
    ("size", "length_bytes"), [(0, 0), (125, 0), (126, 2), (65535, 2), (65536, 8)]
)
def test_server_frames_use_the_shortest_length(size: int, length_bytes: int) -> None:
    assert len(frames.ws_frame(OP_BINARY, b"\x00" * size)) == 2 + length_bytes + size


def test_a_burst_is_its_frames_back_to_back() -> None:
    burst = (
        frames.ws_json("alert", {"id": 1}) + frames.ws_frame(OP_PING, b"") + frames.ws_close(1000)
    )
    alert, ping, close = server_frames(burst)
    assert alert.opcode is Opcode.TEXT and orjson.loads(alert.data) == {"type": "alert", "id": 1}
    assert ping.opcode is Opcode.PING and ping.data == b""
    assert Close.parse(close.data) == Close(1000, "")


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, ""), (1001, "server shutting down"), (1013, "resume")]
)
def test_close_frames(code: int, reason: str) -> None:
    (frame,) = server_frames(frames.ws_close(code, reason))
    assert frame.opcode is Opcode.CLOSE
    assert Close.parse(frame.data) == Close(code, reason)


def test_a_long_close_reason_is_cut_to_fit_a_control_frame() -> None:
    (frame,) = server_frames(frames.ws_close(1002, "x" * 500))
    assert len(frame.data) == 125
    assert Close.parse(frame.data) == Close(1002, "x" * 123)


@given(reason=st.text(max_size=200))
def test_a_close_reason_is_cut_between_characters(reason: str) -> None:
    """The reason must be valid UTF-8 (RFC 6455 7.1.6): it is cut before a character that
    would not fit, never inside one."""
    encodable = reason.encode("utf-8", "replace").decode()  # a lone surrogate reads as "?"
    (frame,) = server_frames(frames.ws_close(1002, reason))
    assert len(frame.data) <= 125
    sent = Close.parse(frame.data).reason  # raises on invalid UTF-8
    assert encodable.startswith(sent)
    assert sent == encodable or len(encodable[: len(sent) + 1].encode()) > 123


@pytest.mark.parametrize("char", ["ї", "€", "🚨"])
def test_multibyte_reasons_keep_whole_characters(char: str) -> None:
    (frame,) = server_frames(frames.ws_close(1008, char * 100))
    reason = Close.parse(frame.data).reason
    assert set(reason) == {char} and len(reason) == 123 // len(char.encode())


def test_ws_json_puts_the_type_first() -> None:
    (frame,) = server_frames(frames.ws_json("snapshot", {"log_id": 3, "open_alerts": []}))
    assert frame.data.startswith(b'{"type":"snapshot"')
    assert orjson.loads(frame.data) == {"type": "snapshot", "log_id": 3, "open_alerts": []}


def test_accept_key_is_rfc_6455s() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # the example of RFC 6455 section 1.3
    assert frames.ws_accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" == accept_key(key)


# HTTP heads -----------------------------------------------------------------------------------


def read_response(
    data: bytes, *request_headers: tuple[str, str]
) -> tuple[h11.Response | h11.InformationalResponse, bytes]:
    """What an HTTP/1.1 client makes of `data`: the response head and its body."""
    client = h11.Connection(h11.CLIENT)
    headers = [("host", "hub"), *request_headers]
    client.send(h11.Request(method="GET", target="/", headers=headers))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    head = client.next_event()
    assert isinstance(head, h11.Response | h11.InformationalResponse), head
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            break
    return head, body


def headers_of(response: h11.Response) -> dict[bytes, bytes]:
    return dict(response.headers)


def test_the_sse_head_is_an_uncached_event_stream() -> None:
    head, _ = read_response(frames.SSE_HEAD)
    assert head.status_code == 200
    headers = headers_of(head)
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert b"no-cache" in headers[b"cache-control"]
    assert headers[b"x-accel-buffering"] == b"no"


def test_the_upgrade_head_answers_the_key() -> None:
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    upgrade = (("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", key))
    head, _ = read_response(frames.ws_upgrade_head(key), *upgrade)
    assert head.status_code == 101
    headers = headers_of(head)
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"sec-websocket-accept"] == accept_key(key).encode()


@pytest.mark.parametrize("status", [400, 401, 404, 405, 503, 409, 429])
def test_http_errors_are_complete_json_answers(status: int) -> None:
    data = frames.http_error(status, "some_code", "what went wrong", [(b"retry-after", b"3")])
    head, body = read_response(data)
    assert head.status_code == status
    headers = headers_of(head)
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"connection"] == b"close" and headers[b"retry-after"] == b"3"
    assert int(headers[b"content-length"]) == len(body)
    assert orjson.loads(body) == {"error": {"code": "some_code", "message": "what went wrong"}}


# SSE ------------------------------------------------------------------------------------------


def read_sse(stream: bytes) -> list[dict[str, str]]:
    """The events an EventSource dispatches (the WHATWG parsing rules, fields we use)."""
    events, current, data = [], {}, []
    for line in stream.decode().split("\n"):
        if line == "":
            if data:
                events.append({**current, "data": "\n".join(data)})
            current, data = {}, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id", "retry"):
                current[name] = value
    return events


@settings(max_examples=50)
@given(
    kind=st.sampled_from(["alert", "snapshot", "dropped"]),
    doc=st.dictionaries(
        st.text(max_size=10), st.text(max_size=30) | st.integers(-(2**63), 2**63 - 1), max_size=4
    ),
    event_id=st.none() | st.integers(0, 2**63 - 1),
)
def test_sse_events_are_read_back_by_an_event_source(kind, doc, event_id) -> None:
    data = orjson.dumps(doc)  # single-line JSON: a newline inside a string is escaped
    stream = frames.SSE_RETRY + frames.sse(kind, data, event_id) + frames.SSE_HEARTBEAT
    (event,) = read_sse(stream)
    assert event["event"] == kind and orjson.loads(event["data"]) == doc
    assert event.get("id") == (None if event_id is None else str(event_id))


def test_heartbeats_are_comments_and_a_burst_is_its_events() -> None:
    burst = frames.sse("alert", b"{}", 1) + frames.SSE_HEARTBEAT + frames.sse("alert", b"[]", 2)
    assert [e["id"] for e in read_sse(burst)] == ["1", "2"]
    assert read_sse(frames.SSE_HEARTBEAT) == []

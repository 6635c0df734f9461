"""Stream followers: extra processes that hold subscribers when one process cannot hold them all.

A process may hold only so many sockets (20,000 here), so `tryvoha serve --workers N` starts
N - 1 followers beside the hub. The hub still accepts every connection on its one port; a stream
request is parsed and admitted there, then the socket itself is passed to the least loaded process
(`SCM_RIGHTS` over a Unix `SOCK_SEQPACKET` pair), which answers it and streams to it from then on.

Each follower is a read-only follower of the log: it folds the log from the database at start,
then applies every committed event the hub sends down the same ordered channel, through the
follower core edges use too (`tryvoha.cluster.follower`: gaps, should any appear, are filled
from the log). It runs the very same broadcaster as the hub, so snapshots,
resume, filters, heartbeats and slow-consumer drops behave identically in every process, and
every process delivers each event exactly once, in log order, to each of its subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
from collections import deque
from typing import Any

import orjson

from tryvoha.alerts.model import Event
from tryvoha.bus.codec import decode_event, encode_event
from tryvoha.channels.receipts import DeliveryReceipts, ForwardingReceipts
from tryvoha.channels.streams.admission import Admitted
from tryvoha.channels.streams.broadcaster import Broadcaster
from tryvoha.channels.streams.spec import parse_spec
from tryvoha.cluster.follower import LogFollower
from tryvoha.config import Settings
from tryvoha.readmodel import LogView, ReadModel
from tryvoha.signing.hub import UNSIGNED, key_directory, open_signing

log = logging.getLogger(__name__)
EVENT, SUBSCRIBER, COUNTS, RECEIPTS = b"E", b"S", b"C", b"R"
MAX_MESSAGE = 256 * 1024
RECEIPTS_PER_MESSAGE = 2000
"""Hand-overs per receipts message: well under MAX_MESSAGE (each is about 60 bytes of JSON)."""


class Channel:
    """The hub's end of one follower's socket pair: ordered messages out, counts back in."""

    def __init__(self, sock: socket.socket, process: subprocess.Popen[bytes]) -> None:
        self.sock = sock
        self.process = process
        self.queue: deque[tuple[bytes, int | None]] = deque()
        self.assigned = 0
        self.closed = 0
        self.counts = {"sse": 0, "ws": 0}
        self.broken = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.receipts: DeliveryReceipts | None = None
        """The hub's receipts, where the follower's hand-overs are added."""

    @property
    def load(self) -> int:
        return self.assigned - self.closed

    def send(self, message: bytes, fd: int | None = None) -> None:
        if self.broken:
            return
        if self.queue:
            self.queue.append((message, None if fd is None else os.dup(fd)))
            return
        try:
            self._send_now(message, fd)
        except BlockingIOError:
            self.queue.append((message, None if fd is None else os.dup(fd)))
            self._want_write()
        except OSError:
            self._break()

    def _send_now(self, message: bytes, fd: int | None) -> None:
        """One message, with a socket to pass along when `fd` is given."""
        if fd is None:
            self.sock.send(message)
        else:
            socket.send_fds(self.sock, [message], [fd])

    def _want_write(self) -> None:
        loop = self._loop()
        if loop is not None:
            loop.add_writer(self.sock.fileno(), self._flush)

    def _flush(self) -> None:
        while self.queue:
            message, fd = self.queue[0]
            try:
                self._send_now(message, fd)
            except BlockingIOError:
                return
            except OSError:
                self._break()
                return
            self.queue.popleft()
            if fd is not None:
                os.close(fd)
        loop = self._loop()
        if loop is not None:
            loop.remove_writer(self.sock.fileno())

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        if self.loop is None:
            try:
                self.loop = asyncio.get_running_loop()
                self.loop.add_reader(self.sock.fileno(), self._read)
            except RuntimeError:
                return None
        return self.loop

    def _read(self) -> None:
        while True:
            try:
                message = self.sock.recv(MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                self._break()
                return
            if not message:
                self._break()
                return
            if message[:1] == COUNTS:
                report = orjson.loads(message[1:])
                self.closed = report["closed"]
                self.counts = {"sse": report["sse"], "ws": report["ws"]}
            elif message[:1] == RECEIPTS and self.receipts is not None:
                for channel, event_id, recorded_at, reached, at in orjson.loads(message[1:]):
                    self.receipts.handed(channel, event_id, recorded_at, reached, at)

    def _break(self) -> None:
        if not self.broken:
            self.broken = True
            log.error("stream follower pid %d is gone", self.process.pid)
            if self.loop is not None:
                self.loop.remove_reader(self.sock.fileno())
                self.loop.remove_writer(self.sock.fileno())
            for _, fd in self.queue:
                if fd is not None:
                    os.close(fd)
            self.queue.clear()


class Followers:
    """The hub side: feeds every follower and places each new subscriber on the least loaded."""

    def __init__(self, hub: ReadModel, local: Broadcaster, channels: list[Channel]) -> None:
        self.hub = hub
        self.channels = channels
        self.local = local
        local.extra_counts = self.remote_counts
        local.place = self.place
        for channel in channels:
            channel.receipts = local.receipts
        self._unsubscribe = hub.subscribe(self.feed, whole_log=True)

    def feed(self, event: Event) -> None:
        message = EVENT + encode_event(event)
        for channel in self.channels:
            channel._loop()
            channel.send(message)

    def remote_counts(self) -> dict[str, int]:
        totals = {"sse": 0, "ws": 0}
        for channel in self.channels:
            if not channel.broken:
                for name, n in channel.counts.items():
                    totals[name] += n
        return totals

    def place(self, transport: Any, admitted: Admitted) -> bool:
        """Pass a new subscriber to the least loaded follower; False keeps it here."""
        local_load = sum(self.local.counts.values())
        target = None
        for channel in self.channels:
            channel._loop()
            usable = not channel.broken and channel.load < local_load
            if usable and (target is None or channel.load < target.load):
                target = channel
        if target is None:
            return False
        sock = transport.get_extra_info("socket")
        message = SUBSCRIBER + orjson.dumps(
            {
                "query": admitted.spec.to_query(),
                "ws": admitted.ws,
                "head": admitted.head.decode("latin-1"),
            }
        )
        transport.pause_reading()
        target.send(message, sock.fileno())
        target.assigned += 1
        transport.close()  # the follower holds its own descriptor of the same connection
        return True

    def stop(self) -> None:
        self._unsubscribe()
        self.local.place = None
        for channel in self.channels:
            channel.sock.close()
        for channel in self.channels:
            try:
                channel.process.wait(5)
            except subprocess.TimeoutExpired:
                channel.process.kill()


def start_followers(hub: ReadModel, local: Broadcaster, settings: Settings) -> Followers:
    """Spawn `settings.workers - 1` followers; they inherit this process's CPU affinity."""
    channels = []
    for _ in range(1, settings.workers):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for s in (ours, theirs):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        ours.setblocking(False)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tryvoha.channels.streams.workers",
                "--fd",
                str(theirs.fileno()),
                "--db",
                settings.db_url,
                "--keys",
                str(key_directory(settings)),
            ],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        channels.append(Channel(ours, process))
    return Followers(hub, local, channels)


# The follower process ---------------------------------------------------------------------------


class _Placeholder(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:  # replaced by the subscriber at once
        pass


class Follower:
    """The follower side: a `LogView` fed by the hub's channel, and its own broadcaster."""

    def __init__(self, hub: LogView, sock: socket.socket, broadcaster: Broadcaster) -> None:
        self.hub = hub
        self.sock = sock
        self.broadcaster = broadcaster
        self.core = LogFollower(hub, fill=hub.store.events_after)
        self.failed = 0
        self.reported: tuple[int, int, int] | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_readable(self) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message:
                if not self.done.done():
                    self.done.set_result(None)
                return
            kind, body = message[:1], message[1:]
            if kind == EVENT:
                self.apply(decode_event(body))
            elif kind == SUBSCRIBER:
                for fd in fds:
                    asyncio.get_running_loop().create_task(self.adopt(orjson.loads(body), fd))

    def apply(self, event: Event) -> None:
        """Gaps (never expected) are filled from the log; the core says how."""
        self.core.offer(event)

    async def adopt(self, order: dict[str, Any], fd: int) -> None:
        sock = socket.socket(fileno=fd)
        try:
            spec = parse_spec(order["query"], self.hub.catalogue)
            loop = asyncio.get_running_loop()
            transport, _ = await loop.connect_accepted_socket(_Placeholder, sock)
        except Exception:
            log.exception("could not adopt a subscriber")
            sock.close()
            self.failed += 1
            return
        self.broadcaster.accept(transport, spec, order["ws"], order["head"].encode("latin-1"))

    def report(self) -> None:
        counts = self.broadcaster.counts
        now = (self.broadcaster.closed_total + self.failed, counts["sse"], counts["ws"])
        if now != self.reported:
            self.reported = now
            body = {"closed": now[0], "sse": now[1], "ws": now[2]}
            try:
                self.sock.send(COUNTS + orjson.dumps(body))
            except BlockingIOError:
                self.reported = None
            except OSError:
                pass
        self.report_receipts()
        asyncio.get_running_loop().call_later(0.2, self.report)

    def report_receipts(self) -> None:
        """Send the hub the hand-overs since the last report (they count in its receipts)."""
        receipts = self.broadcaster.receipts
        if not isinstance(receipts, ForwardingReceipts):
            return
        while batch := receipts.take(RECEIPTS_PER_MESSAGE):
            try:
                self.sock.send(RECEIPTS + orjson.dumps(batch))
            except BlockingIOError:  # the hub is busy: the next report tries again
                receipts.pending.extendleft(reversed(batch))
                return
            except OSError:  # the hub is gone
                return


async def follow(fd: int, db_url: str, keys: str | None = None) -> None:
    from tryvoha.regions import load_catalogue
    from tryvoha.store import SqlStore

    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    view = LogView(load_catalogue(), SqlStore(db_url))
    view.load()
    settings = Settings.from_env(db=db_url, keys=keys)
    # The hub's own keys: a follower signs exactly what the hub signs.
    signing = open_signing(settings, create=False) if keys is not None else UNSIGNED
    broadcaster = Broadcaster(
        view, settings.streams, signing, ForwardingReceipts(settings.receipts_keep)
    )
    broadcaster.follow()
    follower = Follower(view, sock, broadcaster)
    loop = asyncio.get_running_loop()
    loop.add_reader(sock.fileno(), follower.on_readable)
    follower.report()
    follower.on_readable()
    await follower.done
    broadcaster.stop()
    await asyncio.sleep(0.2)
    view.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stream follower (started by tryvoha serve).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--keys", default=None)
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(follow(args.fd, args.db, args.keys))


if __name__ == "__main__":
    main()

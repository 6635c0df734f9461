"""The log on NATS JetStream: the writer's relay publishes it, every edge's feed follows it.

The invariant
    The stream holds the log and nothing else, one message per event, and **the message's stream
    sequence equals the event's log id**. The relay guarantees it by publishing each event with
    `Nats-Msg-Id: <id>` and `Nats-Expected-Last-Sequence: <id - 1>`: JetStream stores the event at
    sequence `id` or refuses it. So any node can resume "after log id N" by starting a consumer
    at sequence N + 1, a position means the same thing in the database and in the stream, and a
    gap, a reordering or a second copy of an event can never be stored. The stream keeps
    everything (file storage, no age limit unless asked, deletes of single messages denied), so
    an edge can rebuild the whole log from it.

The relay (`LogRelay`, in the writer)
    A durable outbox that follows the log: from its saved position it reads committed events in
    order (handed over by the bus on commit, else read from the store) and publishes them
    pipelined, up to `window` unacknowledged at once, each acknowledgement checked against its id.
    The position moves after each PubAck and is saved in batches; a crash between a PubAck and the
    save only means publishing again, which the stream refuses (below). Failures:

    - *PubAck `duplicate`*: the event is stored already; accepted when the ack names its id.
      (nats-server checks the expected sequence before the message id, so a republish of a stored
      event is usually refused as the wrong last sequence instead; both end the same way.)
    - *Wrong last sequence* (the stream is not at `id - 1`): the relay reads the stream's last
      sequence L. If the messages at the failed id and at L carry their own ids and the event at
      L equals the log's, the stream is ahead (a crash before the position was saved, or another
      relay): it skips to L. If L is behind the position (the stream was lost or recreated; 0 when
      empty) it publishes again from L + 1, logging an error. If the stream holds an event the log
      does not have, or a different one, it stops publishing and keeps saying so (the stream must
      be deleted by an operator): a relay never writes over history.
    - *No stream* (deleted): the stream is created again and the log republished from 1.
    - *NATS down or restarting*: nothing blocks the writer (the relay only reads the store);
      unacknowledged publishes time out, the relay retries with capped exponential backoff and,
      once connected, continues from its last acknowledged id; the backlog goes out pipelined.
      (Publishes the client buffered while disconnected may land first; the relay then finds the
      stream ahead and skips, as above.)
    - *Two relays on one stream*: each event is stored once, by whichever asked first; the other
      is refused by the expected-sequence check, reconciles and skips ahead. Nothing is corrupted.

The feed (`LogFollowerFeed`, in each edge)
    `async for event in feed.events(after_id)` yields the log from `after_id + 1` in order, each
    event once. It drives its own ordered push consumer (ephemeral, in memory, no acks, flow
    control, idle heartbeats) starting at sequence `after_id + 1`, and checks every message: its
    stream sequence must be the last applied id + 1 and the event inside must carry that id.
    Whenever that cannot be confirmed it re-creates the consumer at last applied + 1, i.e. it
    fetches again from the stream by sequence; it never skips. Failures:

    - *Gap* (a sequence jump, or a heartbeat naming a later sequence than applied; e.g. the
      client dropped messages a slow reader left in its bounded buffer): re-create.
    - *Missed heartbeats* (consumer lost, server restarted, silent network): after three heartbeat
      intervals without a word the feed reports itself stale and re-creates the consumer, retrying
      with capped backoff until NATS answers; once a consumer is delivering again it is fresh.
    - *Disconnect / reconnect*: stale at once; re-created on reconnect.
    - *Stream recreated, emptied or truncated behind the feed* (its creation time — the epoch —
      changed, its last sequence went back, or it no longer holds the next id): `ResyncNeeded`
      is raised; the node must rebuild its state (from the database or the stream from 1) and
      call `events()` again. An event that does not carry its sequence as id raises it too.
    - *An event in a format this node cannot read*: `CodecError` is raised, never skipped.

    `feed.health()` tells whether the feed is connected, since when it is stale, the last applied
    id, the stream's last sequence, and the lag in events and in seconds.

    nats-py's own ordered consumer (`js.subscribe(ordered_consumer=True)`) is not used: it hides
    heartbeats (so no honest "stale"), re-creates its consumer on whatever stream now has the
    name (so a recreated stream would slip through unnoticed until the next state check), and
    advances its sequence for messages it then drops as a slow consumer.

Wiring
    Writer: `relay = LogRelay(url, events_after=store.events_after, load_position=...,
    save_position=...)`, `hub.bus.subscribe(relay.wake, whole_log=True)`, a task running
    `relay.run()`, and `await relay.stop()` at shutdown. Edge: `feed = LogFollowerFeed(url)`, then
    `async for event in feed.events(state.last_event_id): fold(event)`; on `ResyncNeeded`,
    rebuild and call `events()` again; serve `feed.health()` on the health endpoint.
"""

from tryvoha.bus.feed import FeedHealth, LogFollowerFeed
from tryvoha.bus.logstream import (
    DEFAULT_STREAM,
    DEFAULT_SUBJECT,
    DUPLICATE_WINDOW,
    ResyncNeeded,
    StreamConflict,
    StreamDiverged,
    connect,
    ensure_stream,
    epoch_of,
)
from tryvoha.bus.relay import LogRelay, RelayStatus

__all__ = [
    "DEFAULT_STREAM",
    "DEFAULT_SUBJECT",
    "DUPLICATE_WINDOW",
    "FeedHealth",
    "LogFollowerFeed",
    "LogRelay",
    "RelayStatus",
    "ResyncNeeded",
    "StreamConflict",
    "StreamDiverged",
    "connect",
    "ensure_stream",
    "epoch_of",
]

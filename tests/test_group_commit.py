"""Group commit: concurrent operator commands share one durable transaction, each keeping its
own answer, idempotency record and refusal, in log order (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Rejected, Update
from tryvoha.alerts.model import Threat
from tryvoha.hub import Hub, Outcome
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore, TokenRole, hash_token
from tryvoha.store.group_commit import CommitQueue

ACTOR = Actor("token:group")


@pytest.fixture
def any_hub(catalogue: Catalogue, db_url: str):
    hub = Hub(catalogue, SqlStore(db_url))
    hub.load()
    yield hub
    hub.close()


async def submit_all(hub: Hub, commands: list, keys: list[str | None] | None = None) -> list:
    keys = keys or [None] * len(commands)
    return await asyncio.gather(
        *(hub.submit(c, ACTOR, k) for c, k in zip(commands, keys, strict=True)),
        return_exceptions=True,
    )


def logged(hub: Hub) -> list:
    return hub.store.events_after(0)


async def test_concurrent_declares_share_transactions_and_are_all_acknowledged(
    any_hub: Hub, catalogue: Catalogue
) -> None:
    regions = [o.id for o in catalogue.oblasts]
    outcomes = await submit_all(any_hub, [Declare(r, Threat.AIR_RAID) for r in regions])

    assert all(isinstance(o, Outcome) and o.status_code == 201 for o in outcomes), outcomes
    assert any_hub.commits.batches < len(regions)  # folded, not one transaction each
    assert any_hub.commits.largest > 1
    ids = [o.event.id for o in outcomes]
    assert ids == list(range(1, len(regions) + 1))  # answer order = log order, gapless
    log = logged(any_hub)
    assert [e.id for e in log] == ids
    assert [e.region_id for e in log] == regions
    for outcome, event in zip(outcomes, log, strict=True):
        assert orjson.loads(outcome.body)["event"]["id"] == event.id
    assert any_hub.state.last_event_id == len(regions)
    assert len(any_hub.open_alerts()) == len(regions)


async def test_a_batch_decides_each_command_against_its_predecessors(
    any_hub: Hub, catalogue: Catalogue
) -> None:
    region = catalogue.oblasts[0].id
    ref = AlertRef(region_id=region, threat=Threat.AIR_RAID)
    outcomes = await submit_all(
        any_hub,
        [Declare(region, Threat.AIR_RAID), Update(ref, notes="second"), End(ref)],
    )
    assert [o.status_code for o in outcomes] == [201, 200, 200]
    assert [e.kind.value for e in logged(any_hub)] == ["declared", "updated", "ended"]
    assert orjson.loads(outcomes[1].body)["alert"]["notes"] == "second"
    assert any_hub.open_alerts() == []
    # the alerts projection holds the final form
    alert = any_hub.store.get_alert(outcomes[0].event.id)
    assert alert is not None and alert.ended_at is not None and alert.notes == "second"


async def test_a_refused_command_leaves_its_batch_mates_alone(
    any_hub: Hub, catalogue: Catalogue
) -> None:
    a, b, c = (o.id for o in catalogue.oblasts[:3])
    outcomes = await submit_all(
        any_hub,
        [
            Declare(a, Threat.AIR_RAID),
            Declare(a, Threat.AIR_RAID),  # already open, by the command before it
            Declare("UA99999999999999999", Threat.AIR_RAID),  # no such region
            Declare(b, Threat.AIR_RAID, notes="x" * 5000),  # notes out of range
            Declare(c, Threat.AIR_RAID),
        ],
    )
    assert isinstance(outcomes[0], Outcome) and isinstance(outcomes[4], Outcome)
    for refused in outcomes[1:4]:
        assert isinstance(refused, Rejected) and 400 <= refused.http_status < 500, refused
    assert [e.id for e in logged(any_hub)] == [1, 2]
    assert [e.region_id for e in logged(any_hub)] == [a, c]
    assert outcomes[4].event.id == 2


async def test_a_command_whose_token_is_no_longer_valid_is_refused_alone(
    any_hub: Hub, catalogue: Catalogue
) -> None:
    """The writer checks each command's token (`Actor.credential`) just before the transaction:
    revoked, unknown or read-only, that command is refused and its batch-mates commit."""
    store = any_hub.store
    valid, _ = store.create_token("valid", None)
    revoked, _ = store.create_token("revoked", None)
    key, _ = store.create_token("led-map", None, role=TokenRole.READ_ONLY)
    store.revoke_token("revoked")
    a, b, c, d = (o.id for o in catalogue.oblasts[:4])
    submitted = [
        (Declare(a, Threat.AIR_RAID), valid),
        (Declare(b, Threat.AIR_RAID), revoked),
        (Declare(c, Threat.AIR_RAID), "tv_made_up"),
        (Declare(d, Threat.AIR_RAID), key),
    ]
    outcomes = await asyncio.gather(
        *(
            any_hub.submit(command, Actor(f"token:{i}", credential=hash_token(token)))
            for i, (command, token) in enumerate(submitted)
        ),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], Outcome) and outcomes[0].status_code == 201
    for refused in outcomes[1:]:
        assert isinstance(refused, Rejected), refused
        assert (refused.http_status, refused.code) == (401, "token_revoked")
    assert any_hub.commits.batches == 1
    assert [e.region_id for e in logged(any_hub)] == [a]


async def test_idempotent_repeats_in_and_across_batches_get_the_first_answer(
    any_hub: Hub, catalogue: Catalogue
) -> None:
    a, b = (o.id for o in catalogue.oblasts[:2])
    declare_a = Declare(a, Threat.AIR_RAID)
    first = await submit_all(
        any_hub,
        [declare_a, declare_a, Declare(b, Threat.AIR_RAID), declare_a],
        ["k-a", "k-a", "k-a", None],
    )
    original, repeat, reused, plain_repeat = first
    assert isinstance(original, Outcome) and original.status_code == 201
    assert isinstance(repeat, Outcome) and repeat.replayed and repeat.events == ()
    assert repeat.body == original.body and repeat.status_code == original.status_code
    assert isinstance(reused, Rejected) and reused.code == "idempotency_key_reused"
    assert isinstance(plain_repeat, Rejected)  # no key: a second declaration of an open alert
    assert [e.id for e in logged(any_hub)] == [1]

    later = await submit_all(any_hub, [declare_a, declare_a], ["k-a", "k-a"])
    assert all(o.replayed and o.body == original.body for o in later)
    assert [e.id for e in logged(any_hub)] == [1]
    record = any_hub.store.find_idempotent(ACTOR.originator, "k-a")
    assert record is not None and record.body == original.body and record.event_id == 1


async def test_commit_queue_hands_out_each_result_and_isolates_failures() -> None:
    seen: list[list[int]] = []

    async def run(batch):
        seen.append(list(batch))
        await asyncio.sleep(0)
        return [ValueError(n) if n % 3 == 0 else n * 10 for n in batch]

    queue: CommitQueue[int, int] = CommitQueue(run, max_batch=4)
    results = await asyncio.gather(*(queue.submit(n) for n in range(1, 11)), return_exceptions=True)
    assert [r if isinstance(r, int) else "refused" for r in results] == [
        10, 20, "refused", 40, 50, "refused", 70, 80, "refused", 100
    ]  # fmt: skip
    assert [n for batch in seen for n in batch] == list(range(1, 11))  # arrival order
    assert max(len(b) for b in seen) == 4  # bounded

    async def broken(batch):
        raise RuntimeError("disk full")

    failing: CommitQueue[int, int] = CommitQueue(broken)
    outcomes = await asyncio.gather(failing.submit(1), failing.submit(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    with pytest.raises(ValueError, match="max_batch"):
        CommitQueue(run, max_batch=0)


async def _feed(queue: CommitQueue[int, int], count: int, until_run: list | None = None) -> list:
    """Submit requests 1, 2, ... one per turn of the loop, as a burst read off many connections
    reaches the queue; stop after `count`, or once a batch ran when `until_run` is given."""
    submitted = []
    for n in range(1, count + 1):
        if until_run:
            break
        submitted.append(asyncio.ensure_future(queue.submit(n)))
        await asyncio.sleep(0)
    return await asyncio.gather(*submitted)


def _recording(seen: list[list[int]]):
    async def run(batch):
        seen.append(list(batch))
        return [n * 10 for n in batch]

    return run


@pytest.mark.parametrize(("gather", "first_batch"), [(0.1, [1, 2, 3, 4, 5, 6]), (0.0, [1])])
async def test_requests_arriving_turn_after_turn_share_one_batch(
    gather: float, first_batch: list[int]
) -> None:
    """Commands of a burst reach the queue a few per turn of the loop: while each turn brings
    more, the batch waits for them (bounded by `gather`) and they share one transaction."""
    seen: list[list[int]] = []
    queue: CommitQueue[int, int] = CommitQueue(_recording(seen), gather=gather)
    assert await _feed(queue, 6) == [10, 20, 30, 40, 50, 60]
    assert seen[0] == first_batch
    assert [n for batch in seen for n in batch] == [1, 2, 3, 4, 5, 6]


async def test_a_steady_stream_of_requests_does_not_hold_the_first_back() -> None:
    """Requests arriving on every turn, without end: the first batch still goes, at `gather`."""
    seen: list[list[int]] = []
    queue: CommitQueue[int, int] = CommitQueue(_recording(seen), gather=0.02)
    results = await asyncio.wait_for(_feed(queue, 10**9, until_run=seen), 60)
    assert seen and len(seen[0]) < len(results)
    assert [n for batch in seen for n in batch] == list(range(1, len(results) + 1))


async def test_a_lone_request_waits_one_turn_not_the_gather_time() -> None:
    seen: list[list[int]] = []
    queue: CommitQueue[int, int] = CommitQueue(_recording(seen), gather=0.1)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.ensure_future(count_turns())
    assert await queue.submit(7) == 70
    counter.cancel()
    assert seen == [[7]]
    assert turns <= 3
    with pytest.raises(ValueError, match="gather"):
        CommitQueue(_recording(seen), gather=1)

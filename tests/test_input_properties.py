"""Property tests over arbitrary commands and requests: whatever the hub accepts round-trips
through the store (SQLite and PostgreSQL), a restart, every wire format and the statistics;
whatever it refuses is a 4xx that changes nothing."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from tryvoha.alerts.commands import (
    Actor,
    AlertRef,
    Approve,
    Command,
    Declare,
    DeclareMany,
    End,
    Reject,
    Rejected,
    Retract,
    Update,
)
from tryvoha.alerts.model import Alert, AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.state import fold
from tryvoha.alerts.wire import alert_doc, event_doc, proposal_doc
from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import payload
from tryvoha.compat import alerts_in_ua as aiu
from tryvoha.compat import ukrainealarm as ua
from tryvoha.compat import webhooks as compat_webhooks
from tryvoha.compat.clock import ModifiedClock
from tryvoha.compat.ids import crosswalk
from tryvoha.config import Settings
from tryvoha.history import stats
from tryvoha.history.engine import StatsEngine
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, Level
from tryvoha.store import SqlStore
from tryvoha.store.schema import alerts
from tryvoha.store.timeutil import from_us

from .conftest import auth

START = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
CHARS = st.characters(codec=None, exclude_categories=[])  # every code point, surrogates too
ANY_TEXT = st.text(CHARS, max_size=40)
OFFSETS = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
).map(lambda d: timezone(timedelta(minutes=d // timedelta(minutes=1))))
ZONES = st.one_of(st.none(), st.just(UTC), OFFSETS)
ANYWHEN = st.datetimes(timezones=ZONES)  # year 1 … 9999, any offset, naive too
NOTES = st.one_of(
    st.none(),
    ANY_TEXT,
    st.sampled_from(["{event_id}", "рядок\nдва\tтри", "x" * 2000, "x" * 2001, "a\x00b", "\r"]),
)
KEYS = st.one_of(st.none(), ANY_TEXT, st.text(st.sampled_from("abc-{}_ 09~"), max_size=8))
REASONS = st.one_of(
    ANY_TEXT, st.sampled_from(["помилка", "", " ", "x" * 500, "x" * 501, "a\x00b", "рядок\nдва"])
)
IDS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64]),
)


class Clock:
    """The hub's clock: a millisecond later at every reading, so runs are reproducible."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def regions(catalogue: Catalogue) -> st.SearchStrategy[str]:
    known = [catalogue.country.id, *(o.id for o in catalogue.oblasts[:6])]
    for oblast in catalogue.oblasts[:3]:
        raion = catalogue.children(oblast.id)[0]
        known += [raion.id, catalogue.children(raion.id)[0].id]
    return st.one_of(st.sampled_from(known), ANY_TEXT)


def times() -> st.SearchStrategy[datetime | None]:
    near = st.datetimes(
        min_value=(START - timedelta(days=1)).replace(tzinfo=None),
        max_value=(START + timedelta(days=2)).replace(tzinfo=None),
        timezones=ZONES,
    )
    return st.one_of(st.none(), near, ANYWHEN)


def commands(
    catalogue: Catalogue,
    open_ids: list[int],
    proposal_ids: list[int] = (),  # type: ignore[assignment]
) -> st.SearchStrategy[Command]:
    where = regions(catalogue)
    details = st.lists(st.sampled_from(Detail), max_size=3).map(tuple)
    ids = st.one_of(IDS, st.sampled_from(open_ids)) if open_ids else IDS
    proposals = st.one_of(IDS, st.sampled_from(proposal_ids)) if proposal_ids else IDS
    refs = st.one_of(
        st.builds(AlertRef, alert_id=ids),
        st.builds(
            AlertRef,
            region_id=where,
            threat=st.sampled_from(Threat),
            status=st.sampled_from(AlertStatus),
        ),
    )
    when = times()
    return st.one_of(
        st.builds(
            Declare,
            region_id=where,
            threat=st.sampled_from(Threat),
            status=st.sampled_from(AlertStatus),
            details=details,
            notes=NOTES,
            occurred_at=when,
        ),
        st.builds(
            Update,
            ref=refs,
            details=st.one_of(st.none(), details),
            notes=NOTES,
            clear_notes=st.booleans(),
            occurred_at=when,
        ),
        st.builds(End, ref=refs, occurred_at=when),
        st.builds(
            DeclareMany,
            region_ids=st.lists(where, max_size=5).map(tuple),
            threat=st.sampled_from(Threat),
            status=st.sampled_from(AlertStatus),
            details=details,
            notes=NOTES,
            occurred_at=when,
        ),
        st.builds(Retract, ref=refs, reason=REASONS, occurred_at=when),
        st.builds(Approve, proposal_id=proposals),
        st.builds(Reject, proposal_id=proposals, reason=REASONS),
    )


def actors(catalogue: Catalogue) -> st.SearchStrategy[Actor]:
    return st.one_of(
        st.just(Actor("token:prop")),
        st.just(Actor("token:second")),
        st.just(Actor("token:drills", drills_only=True)),
        st.just(Actor("token:oblast", scopes=(catalogue.oblasts[0].id,))),
        st.builds(Actor, st.text(CHARS, max_size=220)),
    )


def ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parsed(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_wire(event: Event, alert: Alert, body: bytes, before: Alert | None, hub: Hub) -> None:
    """Every format that carries the event parses back to what was committed."""
    doc = orjson.loads(body)
    assert doc == {"event": event_doc(event), "alert": alert_doc(alert)}
    assert parsed(doc["event"]["occurred_at"]) == ms(event.occurred_at)
    assert parsed(doc["event"]["recorded_at"]) == ms(event.recorded_at)
    assert parsed(doc["alert"]["started_at"]) == ms(alert.started_at)
    assert doc["event"]["notes"] == event.notes and doc["event"]["id"] == event.id
    assert payload.render(event, before) == body  # the webhook payload is the answer
    for hook in compat_webhooks.payloads(hub, event):
        assert parsed(orjson.loads(hook)["createdAt"]) == ms(event.occurred_at)


class Run:
    """One hub on one database, commands submitted and checked one at a time."""

    def __init__(self, catalogue: Catalogue, url: str) -> None:
        self.catalogue, self.url = catalogue, url
        self.clock = Clock()
        self.hub = Hub(catalogue, SqlStore(url), clock=self.clock)
        self.hub.load()
        self.loop = asyncio.new_event_loop()
        self.answers: dict[tuple[str, str], bytes] = {}
        self.engine = StatsEngine(catalogue, self.hub.store)
        self.modified = ModifiedClock(self.hub, self.hub)
        self.accepted = self.refused = 0

    def close(self) -> None:
        self.hub.close()
        self.loop.close()

    def run(self, job: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(job)

    def submit(self, command: Command, actor: Actor, key: str | None) -> None:
        hub = self.hub
        self.run(hub.expire_due())  # what a command would expire first, so it is measured alone
        before_id, before_state = hub.last_event_id, hub.state.canonical()
        open_before = dict(hub.state.open_alerts)
        try:
            outcome = self.run(hub.submit(command, actor, key))
        except Rejected as refusal:
            assert 400 <= refusal.http_status < 500, refusal.body()
            orjson.dumps(refusal.body())  # the refusal itself is JSON
            assert hub.last_event_id == before_id == hub.store.last_event_id
            assert hub.state.canonical() == before_state
            self.refused += 1
            return
        if outcome.replayed:
            assert key is not None and outcome.body == self.answers[(actor.originator, key)]
            assert hub.last_event_id == before_id and hub.state.canonical() == before_state
            return
        self.accepted += 1
        events = list(outcome.events)
        assert [e.id for e in events] == list(range(before_id + 1, hub.store.last_event_id + 1))
        assert hub.store.events_after(before_id) == events  # the store gives back the same
        doc = orjson.loads(outcome.body)
        if "proposal" in doc:  # a proposal, an approval or a rejection
            proposal = hub.state.proposals[doc["proposal"]["id"]]
            assert doc["proposal"] == proposal_doc(proposal)
            assert not any(e.is_public for e in events) or all(
                e.kind is EventKind.DECLARED and e.proposal_id == proposal.id for e in events
            )
        public = [e for e in events if e.is_public]
        for k, event in enumerate(public):
            alert = hub.state.open_alerts.get(event.alert_id) or hub.store.get_alert(event.alert_id)
            assert alert is not None and hub.store.get_alert(event.alert_id) == alert
            before = open_before.get(event.alert_id)
            if "alert" in doc:
                check_wire(event, alert, outcome.body, before, hub)
            else:
                one = {"event": doc["events"][k], "alert": doc["alerts"][k]}
                check_wire(event, alert, orjson.dumps(one), before, hub)
        if key is not None:
            self.answers[(actor.originator, key)] = outcome.body
            record = hub.store.find_idempotent(actor.originator, key)
            assert record is not None and record.body == outcome.body

    def check_everything_reads_back(self) -> None:
        hub = self.hub
        again = Hub(self.catalogue, SqlStore(self.url), clock=self.clock)
        try:
            again.load()  # a restart
            assert again.state.canonical() == hub.state.canonical()
        finally:
            again.close()
        assert fold(hub.store.iter_events()).canonical() == hub.state.canonical()
        orjson.loads(aiu.render_active(hub, self.modified))
        orjson.loads(ua.render_alerts(hub))
        cw = crosswalk(self.catalogue)
        for alert in hub.open_alerts():
            for target in cw.targets(alert.region_id, cw.ua_id_of):
                orjson.loads(ua.render_region(hub, target))
        assert self.engine.refresh() == hub.last_event_id
        with hub.store.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
        assert self.engine.count() == stored
        first, _ = self.engine.span()  # the earliest accepted start: the period holds them all
        since = START if first is None else min(START, from_us(first))
        scope = stats.Scope("UA", since, self.clock.now + timedelta(days=3), now=self.clock.now)
        summary = stats.summary(self.engine, scope)
        stats.calendar(self.engine, scope)
        stats.nationwide(self.engine, scope.since, scope.until, now=self.clock.now)
        orjson.dumps(summary.doc())


@pytest.fixture
def fresh_log(db_url: str, migrated_sqlite: Path, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of empty, migrated logs on the database under test, one per example."""
    numbers = itertools.count()
    if db_url.startswith("sqlite"):

        def copy() -> str:
            target = tmp_path / f"example-{next(numbers)}.db"
            shutil.copyfile(migrated_sqlite, target)
            return f"sqlite:///{target}"

        yield copy
        return
    admin = SqlStore(db_url)

    def emptied() -> str:
        with admin.engine.begin() as conn:
            conn.execute(text("TRUNCATE events, alerts, idempotency"))
        return db_url

    yield emptied
    admin.close()


def test_whatever_is_accepted_reads_back_everywhere(
    fresh_log: Callable[[], str], catalogue: Catalogue, db_url: str
) -> None:
    examples = 60 if db_url.startswith("sqlite") else 25
    totals = {"accepted": 0, "refused": 0}

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def property_(data: st.DataObject) -> None:
        run = Run(catalogue, fresh_log())
        try:
            for _ in range(data.draw(st.integers(1, 8), label="commands")):
                if data.draw(st.integers(0, 9), label="wait") == 0:
                    run.clock.now += timedelta(seconds=121)  # proposals expire
                open_ids = sorted(run.hub.state.open_alerts)
                proposal_ids = sorted(run.hub.state.proposals)
                command = data.draw(commands(catalogue, open_ids, proposal_ids), label="command")
                actor = data.draw(actors(catalogue), label="actor")
                run.submit(command, actor, data.draw(KEYS, label="Idempotency-Key"))
            run.check_everything_reads_back()
        finally:
            run.close()
        totals["accepted"] += run.accepted
        totals["refused"] += run.refused

    property_()
    assert totals["accepted"] > 0 and totals["refused"] > 0  # both sides were exercised


def as_json(value: Any) -> bytes:
    """JSON as a client may send it: a lone surrogate as its `\\ud800` escape (UTF-8 has none)."""
    return json.dumps(value, allow_nan=False).encode()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | IDS
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT
    | ANYWHEN.map(str),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=6,
)
VALID_QUERY_VALUES = st.sampled_from(
    ["2026-03-01T00:00:00Z", "2026-03-08T00:00:00+02:00", "5", "air_raid", "night", "20260301"]
)
QUERY_VALUES = st.one_of(
    VALID_QUERY_VALUES,
    ANY_TEXT,
    IDS.map(str),
    ANYWHEN.map(lambda d: d.isoformat()),
    st.sampled_from(
        ["", "nan", "inf", "-0", "1e400", "0001-01-01", "99991231", "00010101", "20240101"]
    ),
)
READS = [
    ("/api/v1/alerts/history", ["since", "until", "cursor", "limit", "region_id", "source"]),
    ("/api/v1/log", ["after", "limit"]),
    ("/api/v1/alerts/active", ["region_id", "threat", "status"]),
    ("/api/v1/map/at", ["time"]),
    ("/api/v1/map/alerts", ["since", "until"]),
    ("/api/v1/map/locate", ["lat", "lon", "q"]),
    ("/api/v1/stats/summary", ["from", "to", "region", "threat"]),
    ("/api/v1/stats/longest", ["from", "to", "limit"]),
    ("/api/v1/stats/nationwide", ["from", "to", "kind"]),
    ("/api/v3/alerts/dateHistory", ["date"]),
    ("/api/v3/alerts/regionHistory", ["regionId"]),
]
PATHS = [
    "/api/v1/alerts/{}",
    "/api/v1/proposals/{}",
    "/api/v1/regions/{}",
    "/api/v1/map/regions/{}/today",
    "/v1/iot/active_air_raid_alerts/{}.json",
    "/v1/regions/{}/alerts/week_ago.json",
    "/api/v3/alerts/{}",
]


def test_no_request_gets_a_server_error(
    hub: Hub,
    settings: Settings,
    admin_token: str,
    catalogue: Catalogue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AIU_PER_MIN", "AIU_HISTORY_PER_MIN", "UA_PER_MIN", "KEYLESS_PER_5MIN"):
        monkeypatch.setenv(f"TRYVOHA_COMPAT_{name}", "0")
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub, settings)), base_url="http://hub"
    )
    h = auth(admin_token)
    sent = {**h, "content-type": "application/json"}
    oblasts = [o.id for o in catalogue.oblasts if o.level is Level.OBLAST][:5]
    seen = {"writes": 0, "reads": 0, "proposals": 0}

    def call(job: Callable[[], Coroutine[Any, Any, httpx.Response]]) -> httpx.Response:
        r = loop.run_until_complete(job())
        assert r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.json()["error"]["code"], r.text
        return r

    @hypothesis.settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["threat", "details", "status", "notes", "occurred_at", "reason", "x"]
                ),
                JSON_VALUES,
                max_size=4,
            ),
            st.sampled_from([{}, {"threat": "nuclear"}, {"reason": "помилка"}]),
        ),
        region=st.one_of(
            st.sampled_from(oblasts), JSON_VALUES, st.lists(st.sampled_from(oblasts), max_size=5)
        ),
        region_key=st.sampled_from(["region_id", "region_ids"]),
        read=st.sampled_from(READS),
        params=st.lists(QUERY_VALUES, min_size=1, max_size=6),
        path=st.sampled_from(PATHS),
        segment=st.one_of(QUERY_VALUES, IDS.map(str)),
        key=st.one_of(st.none(), st.text(st.sampled_from("ab-{}"), min_size=1, max_size=4)),
    )
    def property_(
        body: dict[str, Any],
        region: Any,
        region_key: str,
        read: tuple[str, list[str]],
        params: list[str],
        path: str,
        segment: str,
        key: str | None,
    ) -> None:
        before = hub.last_event_id
        headers = {**sent, **({"Idempotency-Key": key} if key else {})}
        declared = call(
            lambda: client.post(
                "/api/v1/alerts", content=as_json({region_key: region, **body}), headers=headers
            )
        )
        answer = declared.json()
        if declared.headers.get("idempotent-replayed"):
            assert hub.last_event_id == before
        elif declared.status_code == 201:
            seen["writes"] += 1
            events = [answer["event"]] if "event" in answer else answer["events"]
            ids = [e["id"] for e in events]
            assert ids == list(range(before + 1, hub.last_event_id + 1))
            for alert in [answer["alert"]] if "alert" in answer else answer["alerts"]:
                path = f"/api/v1/alerts/{alert['id']}"
                call(lambda p=path: client.patch(p, content=as_json(body), headers=sent))
                call(
                    lambda p=path: client.post(f"{p}/retract", content=as_json(body), headers=sent)
                )
                call(lambda p=path: client.post(f"{p}/end", content=as_json(body), headers=sent))
        elif declared.status_code == 202:
            seen["proposals"] += 1
            proposal = f"/api/v1/proposals/{answer['proposal']['id']}"
            assert hub.last_event_id == before + len(answer["proposal"]["region_ids"])
            call(lambda: client.get(proposal, headers=h))
            call(lambda: client.post(f"{proposal}/approve", headers=h))  # its own: refused
            call(lambda: client.post(f"{proposal}/reject", content=as_json(body), headers=sent))
        else:
            assert hub.last_event_id == before
        proposal = f"/api/v1/proposals/{quote(segment.encode('utf-8', 'surrogatepass'), safe='')}"
        call(lambda: client.post(f"{proposal}/approve", content=as_json(body), headers=sent))
        call(lambda: client.post(f"{proposal}/reject", content=as_json(body), headers=sent))
        route, names = read
        query = "&".join(  # lone surrogates as the bytes they are, as a client may send them
            f"{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
            for name, value in zip(names, params, strict=False)
        )
        r = call(lambda: client.get(f"{route}?{query}", headers=h))
        seen["reads"] += r.status_code == 200
        raw = segment.encode("utf-8", "surrogatepass")  # lone surrogates as the bytes they are
        target = path.format(quote(raw, safe="") or "0")
        call(lambda: client.get(target, headers=h))

    try:
        property_()
        for surface in ("/api/v1/log", "/api/v1/alerts/active", "/api/v3/alerts"):
            assert call(lambda s=surface: client.get(s, headers=h)).status_code == 200
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    assert seen["writes"] > 0 and seen["reads"] > 0, seen  # the generator reached the handlers


def test_times_sent_with_an_offset_read_back_the_same_after_a_restart(
    fresh_log: Callable[[], str], catalogue: Catalogue
) -> None:
    """A case the property above found: the live state kept the sender's offset (+00:01) where
    the restarted one, read from the log, had UTC."""
    run = Run(catalogue, fresh_log())
    try:
        a_minute_east = timezone(timedelta(seconds=60))
        declare = Declare(
            "UA", Threat.AIR_RAID, occurred_at=datetime(2026, 3, 8, tzinfo=a_minute_east)
        )
        run.submit(declare, Actor("token:prop"), None)  # the whole country: a proposal
        crimea = catalogue.resolve("Crimea").id
        kolkata = timezone(timedelta(hours=5, minutes=30))
        declare = Declare(
            crimea, Threat.AIR_RAID, occurred_at=datetime(2026, 3, 8, 9, tzinfo=kolkata)
        )
        run.submit(declare, Actor("token:prop"), None)
        assert run.accepted == 2
        run.check_everything_reads_back()
    finally:
        run.close()

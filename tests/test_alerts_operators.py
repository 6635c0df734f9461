"""The pure domain of the dispatcher's safeguards: retraction, multi-region declarations and the
second-person rule (proposals, approval, rejection, expiry), each rule on its own and all of them
mixed in random command sequences (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tryvoha.alerts.approval import ApprovalPolicy, oblasts_touched
from tryvoha.alerts.commands import (
    HUB_ORIGINATOR,
    Actor,
    AlertRef,
    Approve,
    Declare,
    DeclareMany,
    End,
    Reject,
    Rejected,
    Retract,
    Update,
    decide,
    expirations,
)
from tryvoha.alerts.model import (
    AlertStatus,
    Detail,
    Event,
    EventDraft,
    EventKind,
    ProposalState,
    RegionStatus,
    Threat,
    assign,
)
from tryvoha.alerts.state import AlertState, LogOrderError, alert_after, fold
from tryvoha.alerts.status import threat_status
from tryvoha.regions import Catalogue, Level

START = datetime(2026, 3, 9, 1, 15, tzinfo=UTC)  # 03:15 in Kyiv
ANNA = Actor("token:anna")
BORYS = Actor("token:borys")


class Log:
    """A state and the log it was folded from: commands decided and appended as the hub does."""

    def __init__(self, catalogue: Catalogue, policy: ApprovalPolicy | None = None) -> None:
        self.catalogue = catalogue
        self.policy = policy or ApprovalPolicy()
        self.state = AlertState()
        self.events: list[Event] = []

    def run(self, actor: Actor, command: object, now: datetime = START) -> list[Event]:
        drafts = decide(self.state, self.catalogue, actor, command, now, self.policy)  # type: ignore[arg-type]
        return self.append(drafts, now)

    def append(self, drafts: tuple[EventDraft, ...], now: datetime) -> list[Event]:
        events = assign(drafts, len(self.events) + 1, now)
        for event in events:
            self.state.apply(event)
        self.events.extend(events)
        return events

    def refused(self, actor: Actor, command: object, now: datetime = START) -> Rejected:
        before = self.state.canonical()
        with pytest.raises(Rejected) as info:
            decide(self.state, self.catalogue, actor, command, now, self.policy)  # type: ignore[arg-type]
        assert self.state.canonical() == before
        assert info.value.message and 400 <= info.value.http_status < 500
        return info.value


# Retraction ---------------------------------------------------------------------------------


def test_retraction_closes_the_alert_like_an_end_and_says_why(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    oblast = catalogue.resolve("Kyivska oblast")
    raion = catalogue.children(oblast.id)[0]
    (declared,) = log.run(ANNA, Declare(raion.id, Threat.AIR_RAID, details=(Detail.DRONES,)))
    (event,) = log.run(
        ANNA, Retract(AlertRef(alert_id=declared.id), "не той район"), START + timedelta(minutes=2)
    )
    assert event.kind is EventKind.RETRACTED and event.alert_id == declared.id
    assert event.reason == "не той район" and event.details == (Detail.DRONES,)
    assert event.is_public and event.is_broadcast
    assert log.state.open_alerts == {}
    status = threat_status(catalogue, log.state.open_alerts.values(), Threat.AIR_RAID)
    assert status.of(raion.id) is RegionStatus.NONE and status.of(oblast.id) is RegionStatus.NONE
    uk, en = event.correction.split("\n")  # type: ignore[union-attr]
    assert uk.startswith("Скасовано: Повітряна тривога — ") and "оголошено о 03:15 09.03.2026" in uk
    assert raion.label("uk") in uk and oblast.label("uk") in uk and "помилково" in uk
    assert en.startswith("Withdrawn: Air raid alert — ") and "declared at 03:15 on 09.03.2026" in en
    assert raion.label("en") in en and "(Kyiv time)" in en and "in error" in en


def test_retracted_alert_is_marked_and_the_key_is_free_again(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    oblast = catalogue.oblasts[4].id
    (declared,) = log.run(ANNA, Declare(oblast, Threat.ARTILLERY_SHELLING))
    open_alert = log.state.open_alerts[declared.id]
    ref = AlertRef(region_id=oblast, threat=Threat.ARTILLERY_SHELLING)
    (event,) = log.run(BORYS, Retract(ref, "wrong threat"))
    closed = alert_after(event, open_alert)
    assert closed.retracted and closed.ended_by == "token:borys" and not closed.is_open
    assert closed.ended_at == event.occurred_at
    assert "Загроза артобстрілу" in event.correction  # type: ignore[operator]
    log.run(ANNA, Declare(oblast, Threat.ARTILLERY_SHELLING))  # may be declared again at once


def test_retraction_of_a_drill_says_so(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    oblast = catalogue.oblasts[2].id
    log.run(ANNA, Declare(oblast, Threat.AIR_RAID, AlertStatus.EXERCISE))
    ref = AlertRef(region_id=oblast, threat=Threat.AIR_RAID, status=AlertStatus.EXERCISE)
    (event,) = log.run(ANNA, Retract(ref, "wrong drill"))
    assert "Повітряна тривога (навчання)" in event.correction  # type: ignore[operator]
    assert "Air raid alert (exercise)" in event.correction  # type: ignore[operator]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "reason_missing"),
        ("   \n", "reason_missing"),
        ("x" * 501, "reason_too_long"),
        ("a\x00b", "reason_invalid"),
        ("\ufffe", "reason_invalid"),
    ],
)
def test_retraction_needs_a_reason_within_range(
    catalogue: Catalogue, reason: str, code: str
) -> None:
    log = Log(catalogue)
    (declared,) = log.run(ANNA, Declare(catalogue.oblasts[0].id, Threat.AIR_RAID))
    refusal = log.refused(ANNA, Retract(AlertRef(alert_id=declared.id), reason))
    assert (refusal.http_status, refusal.code) == (422, code)
    assert refusal.extra.get("field") == "reason"
    log.run(ANNA, Retract(AlertRef(alert_id=declared.id), "x" * 500))  # the limit itself


def test_retraction_obeys_scope_drills_and_openness(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    first, second = catalogue.oblasts[0].id, catalogue.oblasts[1].id
    (real,) = log.run(ANNA, Declare(first, Threat.AIR_RAID))
    (drill,) = log.run(ANNA, Declare(first, Threat.AIR_RAID, AlertStatus.TEST))
    scoped = Actor("token:second", scopes=(second,))
    drills = Actor("token:drills", drills_only=True)
    assert log.refused(scoped, Retract(AlertRef(alert_id=real.id), "r")).code == (
        "region_out_of_scope"
    )
    assert log.refused(drills, Retract(AlertRef(alert_id=real.id), "r")).code == "drills_only"
    log.run(drills, Retract(AlertRef(alert_id=drill.id), "r"))  # drills only: drills only
    log.run(ANNA, End(AlertRef(alert_id=real.id)))
    refusal = log.refused(ANNA, Retract(AlertRef(alert_id=real.id), "too late"))
    assert (refusal.http_status, refusal.code) == (409, "alert_not_open")
    refusal = log.refused(ANNA, Retract(AlertRef(region_id=first), "no threat named"))
    assert refusal.code == "alert_not_named"


# Multi-region declarations --------------------------------------------------------------------


def test_a_batch_declares_every_region_with_consecutive_ids(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    regions = tuple(o.id for o in catalogue.oblasts[:3])
    events = log.run(
        ANNA, DeclareMany(regions, Threat.AIR_RAID, details=(Detail.DRONES,), notes="шахеди")
    )
    assert [e.id for e in events] == [1, 2, 3] and [e.alert_id for e in events] == [1, 2, 3]
    assert [e.region_id for e in events] == list(regions)
    assert {(e.kind, e.notes, e.details) for e in events} == {
        (EventKind.DECLARED, "шахеди", (Detail.DRONES,))
    }
    assert sorted(log.state.open_alerts) == [1, 2, 3]


@pytest.mark.parametrize(
    ("make", "code", "status"),
    [
        (lambda c, o: (), "region_count_out_of_range", 422),
        (lambda c, o: tuple(r.id for r in list(c)[1:102]), "region_count_out_of_range", 422),
        (lambda c, o: (o[0], o[1], o[0]), "duplicate_region", 422),
        (lambda c, o: (o[0], c.children(o[0])[0].id), "regions_overlap", 422),
        (lambda c, o: (c.children(c.children(o[1])[0].id)[0].id, o[1]), "regions_overlap", 422),
        (lambda c, o: (o[0], "UA99999"), "unknown_region", 404),
        (lambda c, o: (o[0], "x" * 40), "text_too_long", 422),
    ],
)
def test_a_bad_batch_is_refused_whole(catalogue: Catalogue, make, code: str, status: int) -> None:
    log = Log(catalogue)
    oblasts = [o.id for o in catalogue.oblasts[:3]]
    refusal = log.refused(ANNA, DeclareMany(make(catalogue, oblasts), Threat.AIR_RAID))
    assert (refusal.code, refusal.http_status) == (code, status)
    assert log.events == []


def test_a_batch_names_the_region_that_fails(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    a, b, c = (o.id for o in catalogue.oblasts[5:8])
    log.run(ANNA, Declare(b, Threat.AIR_RAID))
    refusal = log.refused(ANNA, DeclareMany((a, b, c), Threat.AIR_RAID))
    assert (refusal.code, refusal.extra["region_id"]) == ("alert_already_open", b)
    scoped = Actor("token:a", scopes=(a,))
    refusal = log.refused(scoped, DeclareMany((a, c), Threat.AIR_RAID))
    assert (refusal.code, refusal.extra["region_id"]) == ("region_out_of_scope", c)
    assert refusal.http_status == 403
    assert len(log.events) == 1


# The approval policy -----------------------------------------------------------------------


def test_the_default_policy(catalogue: Catalogue) -> None:
    policy = ApprovalPolicy()
    why = policy.why
    oblast = catalogue.oblasts[0].id
    hromada = catalogue.children(catalogue.children(oblast)[0].id)[0].id
    actual = AlertStatus.ACTUAL
    assert why(catalogue, [oblast], Threat.AIR_RAID, actual) is None
    assert why(catalogue, [hromada], Threat.ARTILLERY_SHELLING, actual) is None
    assert "nuclear" in why(catalogue, [hromada], Threat.NUCLEAR, actual)  # type: ignore[operator]
    assert "chemical" in why(catalogue, [hromada], Threat.CHEMICAL, actual)  # type: ignore[operator]
    assert "whole country" in why(catalogue, ["UA"], Threat.AIR_RAID, actual)  # type: ignore[operator]
    three = [o.id for o in catalogue.oblasts[:3]]
    four = [o.id for o in catalogue.oblasts[:4]]
    assert why(catalogue, three, Threat.AIR_RAID, actual) is None
    assert "4 oblasts" in why(catalogue, four, Threat.AIR_RAID, actual)  # type: ignore[operator]
    # raions of three oblasts touch three oblasts
    raions = [catalogue.children(o)[i].id for o in three for i in range(2)]
    assert oblasts_touched(catalogue, raions) == 3
    assert why(catalogue, raions, Threat.AIR_RAID, actual) is None
    for drill in (AlertStatus.EXERCISE, AlertStatus.TEST):  # drills never wait
        assert why(catalogue, ["UA"], Threat.NUCLEAR, drill) is None
        assert why(catalogue, four, Threat.CHEMICAL, drill) is None


def test_policy_from_settings_and_their_ranges(catalogue: Catalogue) -> None:
    policy = ApprovalPolicy.from_env(
        {
            "TRYVOHA_APPROVAL_THREATS": "nuclear, air_raid",
            "TRYVOHA_APPROVAL_MAX_OBLASTS": "1",
            "TRYVOHA_APPROVAL_LEVELS": "oblast",
            "TRYVOHA_APPROVAL_TTL": "30",
        }
    )
    assert policy.threats == {Threat.NUCLEAR, Threat.AIR_RAID} and policy.max_oblasts == 1
    assert policy.levels == {Level.OBLAST} and policy.ttl == timedelta(seconds=30)
    oblast = catalogue.oblasts[0].id
    raion = catalogue.children(oblast)[0].id
    other_raion = catalogue.children(catalogue.oblasts[1].id)[0].id
    shelling = Threat.ARTILLERY_SHELLING
    assert policy.why(catalogue, [oblast], shelling, AlertStatus.ACTUAL)
    assert policy.why(catalogue, [raion], shelling, AlertStatus.ACTUAL) is None
    assert policy.why(catalogue, [raion, other_raion], shelling, AlertStatus.ACTUAL)
    none = ApprovalPolicy.from_env({"TRYVOHA_APPROVAL_THREATS": "none"})
    assert none.threats == frozenset()
    assert none.why(catalogue, ["UA"], Threat.AIR_RAID, AlertStatus.ACTUAL)  # always
    assert ApprovalPolicy.from_env({}) == ApprovalPolicy()
    for name, value, words in [
        ("TRYVOHA_APPROVAL_THREATS", "meteor", "not one of"),
        ("TRYVOHA_APPROVAL_LEVELS", "country", "not one of"),
        ("TRYVOHA_APPROVAL_MAX_OBLASTS", "0", "from 1 to 26"),
        ("TRYVOHA_APPROVAL_MAX_OBLASTS", "27", "from 1 to 26"),
        ("TRYVOHA_APPROVAL_TTL", "10", "from 30 to 3600"),
        ("TRYVOHA_APPROVAL_TTL", "two minutes", "from 30 to 3600"),
    ]:
        with pytest.raises(ValueError, match=words) as info:
            ApprovalPolicy.from_env({name: value})
        assert name in str(info.value)


# Proposals -----------------------------------------------------------------------------------


def propose(log: Log, actor: Actor = ANNA, now: datetime = START) -> list[Event]:
    regions = tuple(o.id for o in log.catalogue.oblasts[:2])
    return log.run(actor, DeclareMany(regions, Threat.NUCLEAR, notes="Запоріжжя"), now)


def test_a_proposal_is_logged_but_changes_no_public_status(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    events = propose(log)
    assert [e.kind for e in events] == [EventKind.PROPOSED] * 2
    assert [e.proposal_id for e in events] == [1, 1] and [e.alert_id for e in events] == [1, 2]
    assert all(e.deadline == START + timedelta(seconds=120) for e in events)
    assert not any(e.is_public or e.is_broadcast for e in events)
    assert log.state.open_alerts == {} and log.state.last_recorded_at is None
    assert log.state.last_event_at == {}
    proposal = log.state.proposals[1]
    assert proposal.region_ids == tuple(o.id for o in catalogue.oblasts[:2])
    assert (proposal.state, proposal.proposed_by, proposal.event_ids) == (
        ProposalState.PENDING,
        "token:anna",
        (1, 2),
    )
    # a single-region declaration is caught the same way
    (single,) = log.run(BORYS, Declare(catalogue.oblasts[9].id, Threat.CHEMICAL))
    assert single.kind is EventKind.PROPOSED and single.proposal_id == single.id == 3


def test_while_pending_the_same_declaration_or_proposal_is_refused(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    propose(log)
    oblast = catalogue.oblasts[1].id
    refusal = log.refused(BORYS, Declare(oblast, Threat.NUCLEAR))
    assert (refusal.http_status, refusal.code) == (409, "proposal_pending")
    assert refusal.extra["proposal_id"] == 1 and refusal.extra["region_id"] == oblast
    assert "proposal 1" in refusal.message
    # another threat, another region, or a drill are free
    log.run(BORYS, Declare(oblast, Threat.AIR_RAID))
    log.run(BORYS, Declare(oblast, Threat.NUCLEAR, AlertStatus.EXERCISE))


def test_approval_by_a_different_operator_sends_every_region(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    propose(log)
    later = START + timedelta(seconds=119)
    events = log.run(BORYS, Approve(1), later)
    assert [e.kind for e in events] == [EventKind.DECLARED] * 2
    assert [e.alert_id for e in events] == [3, 4]
    for event in events:
        assert (event.originator, event.proposed_by, event.proposal_id) == (
            "token:borys",
            "token:anna",
            1,
        )
        assert event.occurred_at == later and event.notes == "Запоріжжя" and event.is_broadcast
    assert {a.proposed_by for a in log.state.open_alerts.values()} == {"token:anna"}
    proposal = log.state.proposals[1]
    assert (proposal.state, proposal.decided_by, proposal.alert_ids) == (
        ProposalState.APPROVED,
        "token:borys",
        (3, 4),
    )
    assert log.state.pending_by_key == {}
    refusal = log.refused(BORYS, Approve(1), later)
    assert (refusal.http_status, refusal.code) == (409, "proposal_decided")


def test_approval_refusals(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    propose(log)
    first = catalogue.oblasts[0].id
    cases = [
        (ANNA, Approve(1), 403, "approval_by_proposer"),
        (Actor("token:one", scopes=(first,)), Approve(1), 403, "proposal_out_of_scope"),
        (Actor("token:drill", drills_only=True), Approve(1), 403, "proposal_out_of_scope"),
        (BORYS, Approve(2), 404, "unknown_proposal"),
        (BORYS, Approve(0), 422, "id_out_of_range"),
    ]
    for actor, command, status, code in cases:
        refusal = log.refused(actor, command)
        assert (refusal.http_status, refusal.code) == (status, code), actor
    refusal = log.refused(BORYS, Approve(1), START + timedelta(seconds=120))
    assert (refusal.http_status, refusal.code) == (409, "proposal_expired")
    # a token whose regions cover the area piece by piece may approve
    both = Actor("token:both", scopes=tuple(o.id for o in catalogue.oblasts[:2]))
    log.run(both, Approve(1))


def test_rejection_by_proposer_or_approver_only(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    propose(log)
    outsider = Actor("token:one", scopes=(catalogue.oblasts[5].id,))
    assert log.refused(outsider, Reject(1, "no")).code == "proposal_out_of_scope"
    assert log.refused(BORYS, Reject(1, " ")).code == "reason_missing"
    events = log.run(ANNA, Reject(1, "передумала"))  # the proposer withdraws it
    assert [e.kind for e in events] == [EventKind.REJECTED] * 2
    assert [e.alert_id for e in events] == [1, 2] and {e.reason for e in events} == {"передумала"}
    proposal = log.state.proposals[1]
    assert (proposal.state, proposal.reason, proposal.decided_by) == (
        ProposalState.REJECTED,
        "передумала",
        "token:anna",
    )
    assert log.refused(BORYS, Approve(1)).code == "proposal_decided"
    assert log.refused(BORYS, Reject(1, "again")).code == "proposal_decided"
    propose(log)  # the regions are free for a new proposal
    log.run(BORYS, Reject(5, "no confirmation"))  # an approver may reject too


def test_expiry_is_a_pure_function_of_the_clock(catalogue: Catalogue) -> None:
    log = Log(catalogue, ApprovalPolicy(ttl=timedelta(seconds=30)))
    propose(log)
    deadline = START + timedelta(seconds=30)
    assert expirations(log.state, deadline - timedelta(microseconds=1)) == ()
    drafts = expirations(log.state, deadline + timedelta(hours=1))
    assert [(d.kind, d.alert_id, d.occurred_at, d.originator) for d in drafts] == [
        (EventKind.EXPIRED, 1, deadline, HUB_ORIGINATOR),
        (EventKind.EXPIRED, 2, deadline, HUB_ORIGINATOR),
    ]
    log.append(drafts, deadline + timedelta(hours=1))
    assert log.state.proposals[1].state is ProposalState.EXPIRED
    assert expirations(log.state, deadline + timedelta(hours=2)) == ()
    refusal = log.refused(BORYS, Approve(1), deadline + timedelta(hours=1))
    assert (refusal.http_status, refusal.code) == (409, "proposal_expired")
    assert log.refused(ANNA, Reject(1, "late")).code == "proposal_expired"


def test_the_fold_checks_a_proposal_s_events(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    propose(log)
    stray = replace(log.events[0], id=3, kind=EventKind.REJECTED, region_id="UA", reason="x")
    with pytest.raises(LogOrderError, match="not in the proposal"):
        fold([*log.events, stray])
    orphan = replace(log.events[0], id=1, proposal_id=9)
    with pytest.raises(LogOrderError):
        fold([orphan])
    unnamed = replace(log.events[0], proposal_id=None)
    with pytest.raises(LogOrderError, match="names no proposal"):
        fold([unnamed])


def test_decided_proposals_kept_are_bounded(catalogue: Catalogue) -> None:
    from tryvoha.alerts import state as state_module

    log = Log(catalogue)
    keep = state_module.DECIDED_KEPT
    region = catalogue.oblasts[0].id
    for k in range(3):
        (event,) = log.run(ANNA, Declare(region, Threat.NUCLEAR))
        log.run(ANNA, Reject(event.id, f"no {k}"))
    assert len(log.state.proposals) == 3 and list(log.state.decided) == [1, 3, 5]
    state_module.DECIDED_KEPT = 2
    try:
        again = fold(log.events)
    finally:
        state_module.DECIDED_KEPT = keep
    assert sorted(again.proposals) == [3, 5]


# Everything mixed: replay equality and refusals that change nothing ---------------------------


def mixed_command(catalogue: Catalogue, state: AlertState) -> st.SearchStrategy:
    """One command by one of four operators, naming (mostly) what the state holds now."""
    oblasts = [o.id for o in catalogue.oblasts[:5]]
    raions = [catalogue.children(o)[0].id for o in oblasts[:2]]
    region = st.sampled_from([*oblasts, *raions, "UA", "UA99999"])
    threat = st.sampled_from([Threat.AIR_RAID, Threat.NUCLEAR, Threat.CHEMICAL])
    status = st.sampled_from([AlertStatus.ACTUAL, AlertStatus.ACTUAL, AlertStatus.TEST])
    alert_ids = st.one_of(st.sampled_from(sorted(state.open_alerts) or [1]), st.integers(1, 60))
    pending = sorted(p.id for p in state.proposals.values() if p.is_pending)
    proposal_ids = st.one_of(
        st.sampled_from(pending or [1]), st.sampled_from(sorted(state.proposals) or [1])
    )
    reason = st.sampled_from(["помилка", "wrong region", "wrong region", "", "x" * 501])
    actor = st.sampled_from(
        [ANNA, BORYS, Actor("token:o0", scopes=(oblasts[0],)), Actor("token:d", drills_only=True)]
    )
    ref = st.one_of(
        st.builds(AlertRef, alert_id=alert_ids),
        st.builds(AlertRef, region_id=region, threat=threat, status=status),
    )
    choices = [
        st.builds(Declare, region, threat, status),
        st.builds(DeclareMany, st.lists(region, max_size=5).map(tuple), threat, status),
        st.builds(Update, ref, details=st.just((Detail.DRONES,))),
        st.builds(End, ref),
        st.builds(Retract, ref, reason),
        st.builds(Retract, st.builds(AlertRef, alert_id=alert_ids), reason),
        st.builds(Approve, st.integers(1, 60)),
    ]
    if state.proposals:  # decide the proposals there are, more often than not
        choices += [st.builds(Approve, proposal_ids)] * 4 + [
            st.builds(Reject, proposal_ids, reason)
        ]
    return st.tuples(actor, st.one_of(choices), st.integers(0, 40))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_replay_equals_incremental_with_everything_mixed(
    catalogue: Catalogue, data: st.DataObject
) -> None:
    log = Log(catalogue)
    now = START
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        actor, command, seconds = data.draw(mixed_command(catalogue, log.state), label="step")
        now += timedelta(seconds=seconds)
        log.append(expirations(log.state, now), now)  # as the hub does before every command
        before = log.state.canonical()
        try:
            drafts = decide(log.state, catalogue, actor, command, now, log.policy)
        except Rejected as refusal:
            assert 400 <= refusal.http_status < 500 and refusal.code
            assert log.state.canonical() == before  # a refused command changes nothing
            continue
        log.append(drafts, now)
        assert fold(log.events).canonical() == log.state.canonical()
    assert fold(log.events).canonical() == log.state.canonical()
    for alert in log.state.open_alerts.values():  # no alert is ever held by a proposal
        assert log.state.pending_proposal(alert.region_id, alert.threat, alert.status) is None
    for key, proposal_id in log.state.pending_by_key.items():
        assert log.state.proposals[proposal_id].is_pending
        assert key[0] in log.state.proposals[proposal_id].region_ids

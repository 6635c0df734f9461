"""channels/webhooks/dispatcher.py: the retry schedule, which events a subscription gets, and
what a sender takes from the follower's hands."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
from tryvoha.channels.webhooks import dispatcher
from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.channels.webhooks.dispatcher import Pending, backoff, matches
from tryvoha.regions import Catalogue
from tryvoha.store.webhooks import PENDING, Delivery, Subscription

CONFIG = WebhookConfig(backoff_base=1.0, backoff_max=3600.0, allow_networks=())
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def at_least() -> float:
    return 0.0


def at_most() -> float:
    return 1.0


@pytest.mark.parametrize(
    ("attempt", "full"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (10, 512.0), (12, 2048.0), (13, 3600.0), (200, 3600.0)],
)
def test_delays_double_up_to_the_cap_with_half_of_each_random(attempt: int, full: float) -> None:
    assert backoff(attempt, CONFIG, rng=at_least) == full / 2
    assert backoff(attempt, CONFIG, rng=at_most) == full


@given(attempt=st.integers(1, 1000), draw=st.floats(0, 1, exclude_max=True))
def test_every_delay_lies_in_the_upper_half_of_its_step(attempt: int, draw: float) -> None:
    full = min(CONFIG.backoff_max, CONFIG.backoff_base * 2 ** (attempt - 1))
    assert full / 2 <= backoff(attempt, CONFIG, rng=lambda: draw) <= full


def test_the_jitter_spreads_receivers_that_failed_together() -> None:
    delays = {backoff(5, CONFIG) for _ in range(50)}
    assert len(delays) > 40 and all(8.0 <= d < 16.0 for d in delays)


@pytest.mark.parametrize("attempt", [1024, 1025, 1100, 10**6, 2**63])
def test_the_cap_holds_for_any_attempt(attempt: int) -> None:
    quick = WebhookConfig(backoff_base=1.0, backoff_max=1.0, allow_networks=())
    assert backoff(attempt, quick, rng=at_most) == 1.0
    assert backoff(attempt, CONFIG, rng=at_least) == 1800.0


@given(
    attempt=st.integers(1, 10**9),
    base=st.floats(5e-324, 1e308),
    cap=st.floats(5e-324, 1.7e308),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_any_configuration_gives_a_delay_within_the_cap(
    attempt: int, base: float, cap: float, draw: float
) -> None:
    config = WebhookConfig(backoff_base=base, backoff_max=cap, allow_networks=())
    full = float(min(Fraction(cap), Fraction(base) * 2 ** min(attempt - 1, 2200)))  # exact
    delay = backoff(attempt, config, rng=lambda: draw)
    assert full / 2 <= delay * (1 + 1e-12) and delay <= full * (1 + 1e-12)


# matches --------------------------------------------------------------------------------------


def subscription(regions, threats=(), statuses=(AlertStatus.ACTUAL,), after=0) -> Subscription:
    return Subscription(
        1, "token:1", "https://example.org/hook", tuple(regions), tuple(threats),
        tuple(statuses), None, "whsec_x", after, AT,
    )  # fmt: skip


def an_event(
    region: str,
    event_id: int = 10,
    threat: Threat = Threat.AIR_RAID,
    status: AlertStatus = AlertStatus.ACTUAL,
    source: str = "live",
) -> Event:
    return Event(
        event_id, EventKind.DECLARED, event_id, region, threat, status, AT, AT, "t", source=source
    )


def test_a_subscription_covers_its_regions_what_is_in_them_and_what_contains_them(
    catalogue: Catalogue,
) -> None:
    oblast = catalogue.oblasts[7]
    raion = catalogue.children(oblast.id)[0]
    hromada = catalogue.children(raion.id)[0]
    other = catalogue.children(oblast.id)[1]
    sub = subscription([raion.id])
    for region in (raion, hromada, oblast, catalogue.country):
        assert matches(sub, an_event(region.id), catalogue), region.id
    for region in (other, catalogue.oblasts[8]):
        assert not matches(sub, an_event(region.id), catalogue), region.id


def test_only_live_events_after_the_subscription_began(catalogue: Catalogue) -> None:
    region = catalogue.oblasts[0].id
    sub = subscription([region], after=10)
    assert not matches(sub, an_event(region, event_id=10), catalogue)
    assert matches(sub, an_event(region, event_id=11), catalogue)
    imported = an_event(region, event_id=11, source="import:official")
    assert not matches(sub, imported, catalogue)


def test_threats_and_statuses(catalogue: Catalogue) -> None:
    region = catalogue.oblasts[0].id
    every_threat = subscription([region])
    shelling = subscription([region], threats=[Threat.ARTILLERY_SHELLING])
    drills = subscription([region], statuses=[AlertStatus.EXERCISE, AlertStatus.TEST])
    for threat in Threat:
        assert matches(every_threat, an_event(region, threat=threat), catalogue)
        assert matches(shelling, an_event(region, threat=threat), catalogue) == (
            threat is Threat.ARTILLERY_SHELLING
        )
    assert not matches(every_threat, an_event(region, status=AlertStatus.EXERCISE), catalogue)
    assert matches(drills, an_event(region, status=AlertStatus.TEST), catalogue)
    assert not matches(drills, an_event(region), catalogue)


def delivery(delivery_id: int) -> Delivery:
    return Delivery(
        delivery_id, 1, 100 + delivery_id, PENDING, b"{}", AT, AT, 0, AT, AT, None, None, None, None
    )


def test_handed_rows_are_taken_in_order_skipping_what_the_outbox_read_gave() -> None:
    pending = Pending()
    pending.hand([delivery(1), delivery(2)])
    pending.took([delivery(1), delivery(2), delivery(3)])  # a read of the outbox saw 1-3
    pending.hand([delivery(3), delivery(4), delivery(5)])
    assert [r.id for r in pending.take(1)] == [4]  # 1-3 were taken already
    assert [r.id for r in pending.take(10)] == [5]
    assert pending.take(10) == [] and pending.taken == 5


def test_rows_handed_again_by_a_retried_write_are_taken_once() -> None:
    pending = Pending(drained=True)
    pending.hand([delivery(1), delivery(2)])
    pending.hand([delivery(1), delivery(2), delivery(3)])  # the write failed, the retry hands
    assert [r.id for r in pending.take(10)] == [1, 2, 3]
    assert pending.take(10) == []


def test_a_sender_far_behind_goes_back_to_the_outbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatcher, "HANDED_MAX", 3)
    pending = Pending(drained=True)
    pending.hand([delivery(i) for i in (1, 2, 3)])
    assert pending.drained and len(pending.handed) == 3
    pending.hand([delivery(4)])  # more than it may hold: the outbox has them all
    assert not pending.drained and not pending.handed


def test_a_read_that_began_before_rows_were_forgotten_does_not_declare_the_outbox_drained() -> None:
    pending = Pending()
    resets = pending.resets  # a sender reads the outbox, sends what it read...
    pending.hand([delivery(7)])
    pending.forget()  # ...while an operator's retry brings back rows it did not read
    pending.drained_if(True, resets)
    assert not pending.drained
    pending.drained_if(True, pending.resets)  # the next full read, all sent
    assert pending.drained

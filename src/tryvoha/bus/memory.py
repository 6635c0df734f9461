"""The in-process bus: committed events reach every listener in log order, synchronously.

Listeners must be quick (put the event on their own queue and return); they run on the event loop
right after the commit. By default a listener gets the events that go out on live channels
(`Event.is_broadcast`: public kinds, happening now): imported history and every event of a
proposal reach only listeners that follow the whole log (`whole_log=True`: replication, stream
followers, the webhook outbox's position). This is the one place the rule is applied to live
delivery, so no channel can forget it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tryvoha.alerts.model import Event

Listener = Callable[[Event], None]
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Subscription:
    listener: Listener
    whole_log: bool


class InProcessBus:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def subscribe(self, listener: Listener, *, whole_log: bool = False) -> Callable[[], None]:
        """Register a listener for broadcast events (or, `whole_log`, for every committed event);
        returns the function that removes it."""
        sub = _Subscription(listener, whole_log)
        self._subscriptions.append(sub)

        def unsubscribe() -> None:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for sub in tuple(self._subscriptions):
            if not sub.whole_log and not event.is_broadcast:
                continue
            try:
                sub.listener(event)
            except Exception:  # one broken consumer must never stop delivery to the others
                log.exception("bus listener %r failed on event %d", sub.listener, event.id)

"""The in-process bus: committed events reach every listener in log order, synchronously.

Listeners must be quick (put the event on their own queue and return); they run on the event loop
right after the commit. Imported or replayed history reaches only listeners that ask for it.
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
    live_only: bool


class InProcessBus:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def subscribe(self, listener: Listener, *, live_only: bool = True) -> Callable[[], None]:
        """Register a listener; returns the function that removes it."""
        sub = _Subscription(listener, live_only)
        self._subscriptions.append(sub)

        def unsubscribe() -> None:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for sub in tuple(self._subscriptions):
            if sub.live_only and not event.is_live:
                continue
            try:
                sub.listener(event)
            except Exception:  # one broken consumer must never stop delivery to the others
                log.exception("bus listener %r failed on event %d", sub.listener, event.id)

"""Signed webhooks delivered from a durable outbox that follows the committed log."""

from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.channels.webhooks.dispatcher import NotRunning, WebhookDispatcher
from tryvoha.channels.webhooks.signing import SIGNATURE_HEADER, signature_header, verify
from tryvoha.channels.webhooks.urls import BadUrl, check_url
from tryvoha.store.webhooks import (
    Delivery,
    LimitReached,
    Subscription,
    SubscriptionHealth,
)

__all__ = [
    "SIGNATURE_HEADER",
    "BadUrl",
    "Delivery",
    "LimitReached",
    "NotRunning",
    "Subscription",
    "SubscriptionHealth",
    "WebhookConfig",
    "WebhookDispatcher",
    "check_url",
    "signature_header",
    "verify",
]

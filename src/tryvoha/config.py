"""Settings of a hub, from command-line flags or `TRYVOHA_*` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = Path("tryvoha.db")


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """`db` is a SQLAlchemy URL or a SQLite file; `read_token_required` closes public reads."""

    db: str = field(default_factory=lambda: os.environ.get("TRYVOHA_DB", str(DEFAULT_DB)))
    host: str = field(default_factory=lambda: os.environ.get("TRYVOHA_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("TRYVOHA_PORT", "8080")))
    read_token_required: bool = field(
        default_factory=lambda: _env_bool("TRYVOHA_READ_TOKEN_REQUIRED", False)
    )
    load_history: bool = field(default_factory=lambda: _env_bool("TRYVOHA_LOAD_HISTORY", True))
    max_body_bytes: int = 16 * 1024
    workers: int = field(default_factory=lambda: int(os.environ.get("TRYVOHA_WORKERS", "1")))
    """Processes serving live streams: the hub plus `workers - 1` stream followers."""
    mqtt: str | None = field(default_factory=lambda: os.environ.get("TRYVOHA_MQTT") or None)
    """MQTT broker URL (e.g. mqtt://127.0.0.1:1883); MQTT is off when unset."""
    keys: str | None = field(default_factory=lambda: os.environ.get("TRYVOHA_KEYS") or None)
    """Signing key directory; beside a SQLite database by default (see tryvoha.signing.config)."""
    hub_id: str | None = field(default_factory=lambda: os.environ.get("TRYVOHA_HUB_ID") or None)
    cap_key: str | None = field(default_factory=lambda: os.environ.get("TRYVOHA_CAP_KEY") or None)
    cap_cert: str | None = field(default_factory=lambda: os.environ.get("TRYVOHA_CAP_CERT") or None)
    public_url: str | None = field(
        default_factory=lambda: os.environ.get("TRYVOHA_PUBLIC_URL") or None
    )
    """The hub's address as the world sees it, for links in CAP feeds."""

    @property
    def db_url(self) -> str:
        if "://" in self.db:
            return self.db
        return f"sqlite:///{Path(self.db).expanduser().resolve()}"

    @property
    def is_embedded(self) -> bool:
        return self.db_url.startswith("sqlite")

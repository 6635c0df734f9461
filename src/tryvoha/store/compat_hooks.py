"""The ukrainealarm API's webhook subscriptions (`/api/v3/webhook`): one URL per API key, in
the hub's database (migration `0601_compat_webhooks`). Blocking calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from tryvoha.store.schema import compat_webhooks
from tryvoha.store.sql import SqlStore
from tryvoha.store.timeutil import to_us


@dataclass(frozen=True, slots=True)
class Hook:
    token_id: int
    url: str


class HookStore:
    def __init__(self, store: SqlStore) -> None:
        self.engine = store.engine
        self.any = bool(self.all())
        """False while nobody subscribed: then a change costs no database read at all."""

    def get(self, token_id: int) -> Hook | None:
        query = select(compat_webhooks).where(compat_webhooks.c.token_id == token_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Hook(row.token_id, row.url)

    def all(self) -> list[Hook]:
        with self.engine.connect() as conn:
            return [Hook(r.token_id, r.url) for r in conn.execute(select(compat_webhooks))]

    def put(self, token_id: int, url: str, must_exist: bool) -> bool:
        """Subscribe `url` for the key (replacing its URL); with `must_exist`, only replace
        (False when the key has none)."""
        now = to_us(datetime.now(UTC))
        table = compat_webhooks
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(table).where(table.c.token_id == token_id).values(url=url, updated_at=now)
            ).rowcount
            if changed:
                return True
            if must_exist:
                return False
            conn.execute(
                insert(table).values(token_id=token_id, url=url, created_at=now, updated_at=now)
            )
        self.any = True
        return True

    def remove(self, token_id: int) -> bool:
        table = compat_webhooks
        with self.engine.begin() as conn:
            removed = conn.execute(delete(table).where(table.c.token_id == token_id)).rowcount > 0
        self.any = bool(self.all())
        return removed

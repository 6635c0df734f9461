"""The store owns the database: the migrations build exactly `store.schema`, on SQLite and
PostgreSQL, and no module outside `tryvoha.store` speaks SQL."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tryvoha.store import SqlStore
from tryvoha.store.schema import metadata

SRC = Path(__file__).resolve().parents[1] / "src" / "tryvoha"


def test_the_migrations_build_exactly_the_schema(db_url: str) -> None:
    store = SqlStore(db_url)  # a fresh database: every migration runs
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, metadata)
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        store.close()
    assert differences == []
    assert tables == set(metadata.tables)


def test_the_log_is_indexed_by_alert(db_url: str) -> None:
    """CAP references read an alert's events by this index, not by walking the log."""
    store = SqlStore(db_url)
    try:
        with store.engine.connect() as conn:
            indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("events")}
    finally:
        store.close()
    assert indexes["ix_events_alert"] == ["alert_id", "id"]


def test_no_module_outside_the_store_imports_sqlalchemy() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+sqlalchemy\b", re.MULTILINE)
    outside = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "store" not in path.relative_to(SRC).parts[:1] and pattern.search(path.read_text())
    ]
    assert outside == []
    inside = [p for p in (SRC / "store").rglob("*.py") if pattern.search(p.read_text())]
    assert inside, "the pattern finds the store's own imports"

"""store/url.py: what a database URL names, read without connecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tryvoha.store.url import database_of, driver_url


def test_a_sqlite_file_is_named_by_its_path() -> None:
    db = database_of("sqlite:////var/lib/tryvoha/hub.db")
    assert (db.backend, db.file, db.label) == (
        "sqlite",
        Path("/var/lib/tryvoha/hub.db"),
        "sqlite-local-/var/lib/tryvoha/hub.db",
    )
    assert database_of("sqlite:///~/hub.db").file == Path("~/hub.db").expanduser()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_sqlite_in_memory_has_no_file(url: str) -> None:
    assert database_of(url).file is None


def test_a_server_database_is_labelled_by_host_port_and_name_and_shown_without_password() -> None:
    db = database_of("postgresql://tryvoha:s3cret@db.example:5433/alerts")
    assert (db.backend, db.file, db.label) == (
        "postgresql",
        None,
        "postgresql-db.example-5433-alerts",
    )
    assert "s3cret" not in db.shown and "db.example:5433/alerts" in db.shown
    # Two databases on one server never share a label (so never share signing keys).
    assert database_of("postgresql://h/a").label != database_of("postgresql://h/b").label


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a database URL"),
        ("post gres://h/d", "not a database URL"),
        ("mysql://h/d", "'mysql' is not a database the store can use"),
        ("http://h/d", "'http' is not a database the store can use"),
    ],
)
def test_a_url_of_no_database_the_store_can_use_is_a_value_error(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        database_of(url)


def test_a_bare_postgresql_url_gets_psycopg_and_keeps_its_password() -> None:
    assert driver_url("postgresql://u:pw@h:5432/d") == "postgresql+psycopg://u:pw@h:5432/d"
    for url in ("postgresql+psycopg://u@h/d", "sqlite:////tmp/x.db"):
        assert driver_url(url) == url

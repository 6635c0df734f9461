"""Tests write their scratch outside the checkout: a clean clone stays clean after `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_compat_clients import venv_cache

ROOT = Path(__file__).resolve().parents[1]


def test_the_compat_clients_venvs_live_in_a_cache_outside_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRYVOHA_COMPAT_VENVS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    default = venv_cache()
    assert not default.is_relative_to(ROOT), default
    assert default == Path.home() / ".cache" / "tryvoha-tests" / "compat-venvs"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert venv_cache() == tmp_path / "tryvoha-tests" / "compat-venvs"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says
    assert not venv_cache().is_relative_to(Path.cwd() / "relative")


def test_no_test_names_a_scratch_folder_in_the_checkout() -> None:
    """The venvs used to be made in `.venv-compat/` at the root of the repository."""
    mentions = [
        path.name
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != Path(__file__).name and ".venv-compat" in path.read_text()
    ]
    assert mentions == []

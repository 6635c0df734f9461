"""`tryvoha replay`, as a user runs it: a taken port, its temporary folder, and a map that says
it shows a replay (a real process, a real port, Chromium for the map)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_map_browser import CHROMIUM_ARGS, _need_chromium, free_port
from tests.waiting import wait_for

HEADER = "oblast,raion,hromada,level,started_at,finished_at,source\n"
ROWS = [
    "Kyiv City,,,oblast,2023-03-09 00:00:00+00:00,2023-03-09 11:00:00+00:00,official",
    "Poltavska oblast,Lubenskyi raion,,raion,2023-03-09 03:00:00+00:00,"
    "2023-03-09 03:30:00+00:00,official",
]
PERIOD = ["--from", "2023-03-09T00:00Z", "--to", "2023-03-09T12:00Z"]


def _source(folder: Path) -> Path:
    path = folder / "night.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in ROWS))
    return path


def _replay(args: list[str], scratch: Path) -> subprocess.Popen[str]:
    """The command in its own process, its temporary folders under `scratch`."""
    env = {**os.environ, "TMPDIR": str(scratch), "COLUMNS": "80"}  # one line even when narrow
    return subprocess.Popen(
        [sys.executable, "-m", "tryvoha.cli", "replay", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _leftovers(scratch: Path) -> list[str]:
    return sorted(p.name for p in scratch.iterdir() if p.name.startswith("tryvoha-replay-"))


def test_a_taken_port_is_one_line_naming_it_and_the_way_out(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _replay([*PERIOD, "--serve", "--port", str(port)], scratch)
        out, said = process.communicate(timeout=60)
    assert process.returncode == 2, said
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1, said
    assert f"127.0.0.1:{port} is already in use" in lines[0] and "--port 8081" in lines[0]
    assert "TRYVOHA_PORT" not in lines[0]  # replay's port is --port alone
    assert "Traceback" not in said and out == ""
    assert _leftovers(scratch) == []


def test_the_temporary_database_is_removed_when_the_replay_ends(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = _replay([*PERIOD, "--speed", "100000", "--source", str(_source(tmp_path))], scratch)
    out, said = process.communicate(timeout=120)
    assert process.returncode == 0, said
    assert "Declared 2, ended 2" in out
    assert "tryvoha-replay-" in said  # it said where it wrote
    assert _leftovers(scratch) == []


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """A replay of 9 March 2023 at 60× served on a free port; stopped with Ctrl+C (SIGINT)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    args = [*PERIOD, "--speed", "60", "--source", str(_source(tmp_path)), "--serve"]
    process = _replay([*args, "--port", str(port)], scratch)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return httpx.get(f"{url}/api/v1/map/config", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, "the replay's hub answers", timeout=60)
    try:
        yield process, url, scratch
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_stops_the_served_replay_and_removes_its_folder(
    serving: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, scratch = serving
    assert len(_leftovers(scratch)) == 1  # the demo database, while it runs
    config = httpx.get(f"{url}/api/v1/map/config").json()
    assert config["replay"]["since"] == "2023-03-09T00:00:00.000Z"
    assert config["replay"]["until"] == "2023-03-09T12:00:00.000Z"
    assert config["replay"]["speed"] == 60
    process.send_signal(signal.SIGINT)
    _, said = process.communicate(timeout=30)
    assert "Traceback" not in said, said
    assert _leftovers(scratch) == []


async def test_a_live_hub_has_no_replay(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/map/config")).json()["replay"] is None


@pytest.mark.browser
def test_the_map_says_it_is_a_replay_and_shows_the_replayed_time(
    serving: tuple[subprocess.Popen[str], str, Path],
) -> None:
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    _, url, _ = serving
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-GB", timezone_id="UTC")
        page = context.new_page()
        page.goto(url + "/?lang=en")
        page.wait_for_selector("html[data-ready='1']", timeout=10_000)
        banner = page.locator("#replay-banner")
        banner.wait_for(state="visible", timeout=10_000)
        # Kyiv is UTC+2 in March: the period 00:00–12:00 UTC is 02:00–14:00 in Kyiv.
        assert "REPLAY" in banner.text_content()
        assert "09/03/2023, 02:00 – 14:00" in banner.text_content()
        assert "×60" in banner.text_content()
        clock = page.locator("#history-time")
        expect(clock).to_contain_text("09/03/2023", timeout=10_000)  # no eval: the CSP forbids it
        assert page.locator("#history-label").text_content() == "Replay:"
        # Kyiv City's alert started at 02:00 Kyiv in the replayed night, not at today's time.
        page.wait_for_selector("#alert-list li", timeout=10_000)
        assert "Since 02:00" in page.locator("#alert-list li").first.text_content()
        assert "09/03/2023" in clock.text_content()
        context.close()
        browser.close()

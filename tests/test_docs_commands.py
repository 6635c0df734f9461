"""Every command block of README.md and docs/*.md, run against a real hub in a clean folder, so
the documentation cannot rot. The convention that marks blocks: tests/docblocks.py.

Each document gets a fresh temporary folder (its working directory, HOME and XDG_DATA_HOME) and
its own `tryvoha serve` on a free port, over a copy of a hub that loaded the bundled record once.
The blocks of a document run in order in bash with `set -e -o pipefail`, sharing what they
export; `127.0.0.1:8080` (and any other 80xx port a block names) becomes a free port. A block
fails when a command fails or, unless marked `errors`, when the hub answers `{"error": …}`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.docblocks import ROOT, Block, blocks, docs, stray_commands
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SHARED = ROOT.parent / "shared" / "data"
SAMPLES = {  # a file a block reads → the real file its first rows come from
    "official_data_en.csv": ROOT
    / "src"
    / "tryvoha"
    / "history"
    / "data"
    / "official_data_en.csv.gz",
    "volunteer_data_en.csv": SHARED / "alerts" / "volunteer_data_en.csv",
    "missile_attacks_daily.csv": SHARED / "attacks" / "missile_attacks_daily.csv",
    "missiles_and_uavs.csv": SHARED / "attacks" / "missiles_and_uavs.csv",
}
WHOLE = {"missile_attacks_daily.csv", "missiles_and_uavs.csv"}  # small; the docs quote them
SAMPLE_ROWS = 300
BLOCK_TIMEOUT = 240
PORT_IN_TEXT = re.compile(r"((?:127\.0\.0\.1|localhost):|--port[ =])(80\d\d)\b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def runnable_docs() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in docs() if any(b.runnable for b in blocks(p))]


def test_every_command_is_in_a_block_the_test_runs_or_marked_illustrative() -> None:
    stray = [s for path in docs() for s in stray_commands(path)]
    assert stray == [], "mark these ```sh, or `<!-- doc-test: skip (why) -->`:\n" + "\n".join(stray)


def test_every_skip_says_why() -> None:
    silent = [b.where for p in docs() for b in blocks(p) if b.marks.get("skip") == []]
    assert silent == []


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub's data folder after its first start: the bundled record loaded, keys made."""
    data = tmp_path_factory.mktemp("doc-hub-template")
    port = free_port()
    env = clean_env(data, data / "home", port)
    hub = subprocess.Popen(
        [str(BIN / "tryvoha"), "serve"],
        cwd=data,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: hub.poll() is not None or answers(port), "the template hub", 300)
        assert hub.poll() is None, hub.stderr.read().decode() if hub.stderr else ""
    finally:
        hub.terminate()
        hub.wait(30)
    return data / "data"


def clean_env(folder: Path, home: Path, port: int) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith("TRYVOHA_")}
    return {
        **keep,
        "HOME": str(home),
        "XDG_DATA_HOME": str(folder / "data"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TRYVOHA_PORT": str(port),
        "TRYVOHA_URL": f"http://127.0.0.1:{port}",
        "COLUMNS": "160",
        "NO_COLOR": "1",
    }


@dataclass
class Session:
    """One document's folder, environment and hub."""

    folder: Path
    port: int
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    hub: subprocess.Popen[bytes] | None = None

    def start_hub(self) -> None:
        self.hub = subprocess.Popen(
            [str(BIN / "tryvoha"), "serve"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        hub = self.hub
        wait_for(lambda: hub.poll() is not None or answers(self.port), "the doc's hub", 120)
        assert hub.poll() is None, hub.stderr.read().decode() if hub.stderr else ""

    def stop_hub(self) -> None:
        if self.hub is not None and self.hub.poll() is None:
            self.hub.terminate()
            self.hub.wait(30)
        self.hub = None

    def localise(self, text: str) -> str:
        """127.0.0.1:8080 → this session's hub; any other 80xx port → a free port of its own."""

        def swap(found: re.Match[str]) -> str:
            prefix, port = found.groups()
            if port == "8080":
                return f"{prefix}{self.port}"
            return f"{prefix}{self.ports.setdefault(port, free_port())}"

        return PORT_IN_TEXT.sub(swap, text)

    def samples(self, names: list[str]) -> None:
        import gzip

        for name in names:
            source = SAMPLES.get(name)
            assert source is not None, f"no sample for {name!r}: add it to SAMPLES"
            if not source.exists():
                pytest.skip(f"{source} is not here (shared data)")
            if name in WHOLE:
                shutil.copyfile(source, self.folder / name)
                continue
            opener = gzip.open if source.suffix == ".gz" else open
            with opener(source, "rt") as fh:  # type: ignore[operator]
                head = [next(fh) for _ in range(SAMPLE_ROWS)]
            (self.folder / name).write_text("".join(head))

    def script(self, block: Block) -> str:
        state = self.folder / ".doc-env"
        return (
            f"[ -f {shlex.quote(str(state))} ] && . {shlex.quote(str(state))}\n"
            "set -e -o pipefail\n"
            f"{self.localise(block.text)}\n"
            f"export -p > {shlex.quote(str(state))}\n"
        )


@pytest.fixture
def session(tmp_path: Path, template: Path) -> Iterator[Session]:
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copytree(template, folder / "data")
    port = free_port()
    s = Session(folder, port, clean_env(folder, tmp_path / "home", port))
    s.start_hub()
    try:
        yield s
    finally:
        s.stop_hub()


def run_block(session: Session, block: Block) -> None:
    if "stopped" in block.marks:
        session.stop_hub()
    session.samples(block.marks.get("files", []))
    try:
        if "serve" in block.marks:
            serve_block(session, block)
        else:
            done = subprocess.run(
                ["bash", "-c", session.script(block)],
                stdin=subprocess.DEVNULL,  # nobody answers a question: the docs say --yes
                cwd=session.folder,
                env=session.env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT,
            )
            said = (
                f"{block.where}:\n{block.text}\n--- stdout\n{done.stdout}\n"
                f"--- stderr\n{done.stderr}"
            )
            assert done.returncode == 0, said
            if "errors" not in block.marks:
                assert '{"error":' not in done.stdout.replace(" ", ""), said
    finally:
        if "stopped" in block.marks:
            session.start_hub()


def serve_block(session: Session, block: Block) -> None:
    """Start it, wait until its port answers, stop it with Ctrl+C."""
    text = session.localise(block.text)
    ports = [int(p) for p in re.findall(r"(?:127\.0\.0\.1:|--port[ =])(\d+)", text)]
    port = ports[0] if ports else session.port
    process = subprocess.Popen(
        ["bash", "-c", session.script(block)],
        stdin=subprocess.DEVNULL,
        cwd=session.folder,
        env=session.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: process.poll() is not None or answers(port), f"{block.where} serves", 180)
        assert process.poll() is None, f"{block.where} stopped: {process.communicate()}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            said = process.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            said = process.communicate()[1]
    assert "Traceback" not in said, f"{block.where}:\n{said}"


@pytest.mark.parametrize("doc", runnable_docs())
def test_the_commands_of_a_document_work(session: Session, doc: str) -> None:
    ran = [block.where for block in blocks(ROOT / doc) if block.runnable]
    assert ran, f"{doc} has no block to run"
    for block in blocks(ROOT / doc):
        if block.runnable:
            run_block(session, block)

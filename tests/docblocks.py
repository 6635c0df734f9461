"""The command blocks of the documentation, and the convention that says how each one is run.

Every fenced block marked `sh` or `bash` in README.md and docs/*.md is a command block: the test
(tests/test_docs_commands.py) runs it in a clean temporary folder against a real hub. An HTML
comment right before a block says what else it needs (several words may share one comment):

    <!-- doc-test: skip (why) -->   illustrative only: not run (say why; keep these few)
    <!-- doc-test: hub -->          starts the hub (`make run`): the test's own hub stands in
    <!-- doc-test: serve -->        serves until stopped: run in the background until its port
                                    answers, then stopped with Ctrl+C (SIGINT)
    <!-- doc-test: stopped -->      needs the hub stopped (imports, a second `serve`)
    <!-- doc-test: files A B -->    reads these files: the test puts small real samples there
    <!-- doc-test: errors -->       shows an error answer on purpose (`{"error": …}` is expected)

Any other block that looks like commands (an unmarked fence or an indented block starting with
`tryvoha`, `curl` or `make`) is an error: mark it `sh`, or `skip` it with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = {"sh", "bash", "shell"}
MARKER = re.compile(r"<!--\s*doc-test:\s*(.*?)\s*-->")
WORDS = {"skip", "hub", "serve", "stopped", "files", "errors"}
COMMAND = re.compile(r"^\s*(\$ )?(tryvoha|curl|make|export|mosquitto_sub|mosquitto_pub)\b")


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    text: str
    marks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE and "skip" not in self.marks and "hub" not in self.marks

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def docs() -> list[Path]:
    """README.md and every docs/*.md, also those written after this test."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def parse_marks(text: str) -> dict[str, list[str]]:
    """`skip (needs internet)` → {"skip": ["(needs internet)"]}; `files a b` → {"files": [a, b]}."""
    marks: dict[str, list[str]] = {}
    current = None
    for word in re.findall(r"\([^)]*\)|\S+", text):
        if word in WORDS:
            current = word
            marks[current] = []
        elif current is None:
            raise ValueError(f"unknown doc-test word {word!r} (known: {sorted(WORDS)})")
        else:
            marks[current].append(word)
    return marks


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the doc-test marks that precede them."""
    name = path.relative_to(ROOT).as_posix()
    lines = path.read_text().splitlines()
    out: list[Block] = []
    pending: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        found = MARKER.search(line)
        if found:
            pending.update(parse_marks(found.group(1)))
            i += 1
            continue
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w-]*)", line)
        if fence:
            indent, ticks, lang = fence.groups()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            out.append(Block(name, i - len(body), lang.lower(), "\n".join(body), pending))
            pending = {}
        elif line.strip():
            pending = {}  # a mark belongs to the block right after it
        i += 1
    return out


def stray_commands(path: Path) -> list[str]:
    """Commands outside the convention: unmarked fences and indented blocks that hold them."""
    name = path.relative_to(ROOT).as_posix()
    found = []
    for block in blocks(path):
        if block.lang in RUNNABLE or "skip" in block.marks or "hub" in block.marks:
            continue
        if block.lang in ("", "console", "text") and any(
            COMMAND.match(line) for line in block.text.splitlines()
        ):
            found.append(f"{block.where}: a {block.lang or 'plain'} block of commands")
    lines = path.read_text().splitlines()
    in_fence = False
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        before = lines[number - 2] if number > 1 else ""
        if (
            not in_fence
            and line.startswith("    ")
            and not before.strip()
            and COMMAND.match(line[4:])
            and not line[4:].lstrip().startswith(("-", "*"))
        ):
            found.append(f"{name}:{number}: an indented block of commands")
    return found

"""Reading the ```console blocks of the docs: the commands they show and the output they promise.

A block preceded by ``<!-- docs-check: skip: why -->`` is not run. In the output shown, values
that change from run to run (ages, versions, IPs, generated names, counts) match any value of
their kind; everything else must be there as written (whitespace aside)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SKIP = re.compile(r"<!--\s*docs-check:\s*skip\b")
# Tokens whose value changes between runs, and what may stand in their place.
VOLATILE = [
    (re.compile(r"^\d+(\.\d+)?(ms|s|m|h|d)(\d+(s|m|h))?$"), r"\d+(\.\d+)?(ms|s|m|h|d)(\d+(s|m|h))?"),  # ages
    (re.compile(r"^\d+(\.\d+)*([-+.][0-9A-Za-z.]+)?$"), r"\d+(\.\d+)*([-+.][0-9A-Za-z.]+)?"),  # versions
    (re.compile(r"^\d+/\d+$"), r"\d+/\d+"),  # READY 1/1
    (re.compile(r"^(\d{1,3}\.){3}\d{1,3}(:\d+)?$"), r"(\d{1,3}\.){3}\d{1,3}(:\d+)?"),  # IPs
    (re.compile(r"^[a-z0-9-]+-[a-f0-9]{8,10}(-[a-z0-9]{5})?$"), r"[a-z0-9-]+-[a-z0-9]{8,10}(-[a-z0-9]{5})?"),
    (re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z?$"), r"\d{4}-\d\d-\d\dT[\d:.]+Z?"),  # timestamps
]


@dataclass
class Command:
    line: int
    text: str
    output: list[str] = field(default_factory=list)


@dataclass
class Block:
    path: Path
    line: int
    commands: list[Command]
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        skip = before.strip() if SKIP.search(before) else None
        start, i = i + 1, i + 1
        commands: list[Command] = []
        while i < len(lines) and lines[i].strip() != "```":
            text = lines[i]
            if text.startswith("$ "):
                command = Command(i + 1, text[2:])
                while command.text.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command.text = command.text[:-1] + " " + lines[i].strip()
                commands.append(command)
            elif commands and not text.startswith("#"):
                commands[-1].output.append(text)
            i += 1
        found.append(Block(path, start, commands, skip))
        i += 1
    return found


def token_pattern(token: str) -> str:
    for shape, pattern in VOLATILE:
        if shape.match(token):
            return pattern
    return re.escape(token)


def line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(token_pattern(t) for t in expected.split()) + "$")


def shape_mismatch(expected: list[str], actual: str) -> str | None:
    """None when every line shown appears in the actual output, in order, with the same shape;
    else which line is missing."""
    got = [" ".join(line.split()) for line in actual.splitlines() if line.strip()]
    position = 0
    for want in (line for line in expected if line.strip()):
        pattern = line_pattern(want)
        while position < len(got) and not pattern.match(got[position]):
            position += 1
        if position == len(got):
            return f"no line shaped like {want.strip()!r}"
        position += 1
    return None

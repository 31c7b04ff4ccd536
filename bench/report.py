"""What the bench scripts print alike: aligned tables, and which operator code was measured."""

from __future__ import annotations

import hashlib
import io
import pstats
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table(rows: list[tuple[str, ...]]) -> str:
    """Rows as aligned columns (the first left-aligned), a rule under the header row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def code_version() -> str:
    """The commit, and a digest of uncommitted changes under operator/: which operator was measured."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False)
        return done.stdout.decode(errors="replace")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    diff = git("diff", "HEAD", "--", "operator")
    if not diff:
        return f"operator code: commit {head}, no uncommitted changes under operator/"
    files = len(git("diff", "HEAD", "--name-only", "--", "operator").split())
    digest = hashlib.sha256(diff.encode()).hexdigest()[:12]
    return (
        f"operator code: commit {head} + uncommitted changes to {files} files in operator/ (sha256 {digest})"
    )


def profile_summary(path: Path, limit: int = 25) -> str:
    """The top of a cProfile dump, by cumulative and by own time."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()

"""Rows of the result table, the targets they are read against, and the Markdown."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench.measure import Sample

MEMORY_LIMIT = 100 * 10**6  # bytes; every row's hyperkvasir run must stay below it
COLUMNS = (
    "row",
    "hyperkvasir (s)",
    "peer (s)",
    "ratio",
    "target",
    "ok",
    "peak memory hyperkvasir (MB)",
    "peak memory peer (MB)",
    "connections / workers (hyperkvasir; peer)",
    "notes",
)


@dataclass(frozen=True)
class Target:
    """What a row's value (a ratio, seconds or a percentage) must satisfy."""

    label: str
    passes: Callable[[float], bool]


def ratio_at_most(limit: float) -> Target:
    return Target(f"≤ {limit:g}", lambda ratio: ratio <= limit)


def faster_than_peer() -> Target:
    return Target("< 1 (faster)", lambda ratio: ratio < 1.0)


def times_faster(factor: float) -> Target:
    return Target(f"≥ {factor:g}x faster", lambda ratio: ratio * factor <= 1.0)


def seconds_below(limit: float) -> Target:
    return Target(f"< {limit:g} s", lambda seconds: seconds < limit)


def percent_at_most(limit: float) -> Target:
    return Target(f"≤ {limit:g}% re-fetched, sha256 ok", lambda percent: percent <= limit)


@dataclass(frozen=True)
class Row:
    """One line of the table.

    ``peer`` is None for rows measured against an absolute target. ``value`` is what the
    target applies to when it is neither the ratio nor hyperkvasir's seconds.
    """

    name: str
    ours: Sample
    peer: Sample | None = None
    target: Target | None = None
    value: float | None = None
    value_text: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    sides: str = "—"  # how many connections or workers each side used

    @property
    def ratio(self) -> float | None:
        if self.peer is None or not (self.ours.available and self.peer.available):
            return None
        return self.ours.seconds / self.peer.seconds

    @property
    def measured(self) -> float | None:
        if self.value is not None:
            return self.value
        if self.peer is not None:
            return self.ratio
        return self.ours.seconds if self.ours.available else None

    @property
    def memory_ok(self) -> bool:
        return self.ours.available and self.ours.peak_memory < MEMORY_LIMIT

    @property
    def ok(self) -> bool | None:
        if not self.ours.available:
            return None
        if self.target is None:
            return self.memory_ok
        measured = self.measured
        if measured is None:
            return None
        return self.target.passes(measured) and self.memory_ok

    def all_notes(self) -> list[str]:
        notes = list(self.notes)
        if self.ours.failure:
            notes.insert(0, f"not available: {self.ours.failure}")
        if self.peer is not None and self.peer.failure:
            notes.append(f"peer not available: {self.peer.failure}")
        if self.ours.available:
            if not self.memory_ok:
                notes.append("memory over 100 MB")
            if pool := self.ours.pool_note:
                notes.append(pool)
            spreads = [
                f"{who} {text}"
                for who, sample in (("hyperkvasir", self.ours), ("peer", self.peer))
                if sample is not None and sample.available and (text := sample.spread_text())
            ]
            if spreads:
                runs = len(self.ours.runs)
                notes.append(f"median of {runs} rounds; range " + ", ".join(spreads))
        return notes


def failed_row(name: str, reason: str) -> Row:
    return Row(name, Sample(runs=(), failure=reason))


def _seconds(sample: Sample | None) -> str:
    if sample is None:
        return "—"
    if not sample.available:
        return "n/a"
    return f"{sample.seconds:.3f}" if sample.seconds < 10 else f"{sample.seconds:.1f}"


def _megabytes(sample: Sample | None) -> str:
    if sample is None or not sample.available:
        return "—"
    return f"{sample.peak_memory / 10**6:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value_text(row: Row) -> str:
    if row.value_text is not None:
        return row.value_text
    ratio = row.ratio
    return "—" if ratio is None else f"{ratio:.2f}"


def render_row(row: Row) -> list[str]:
    ok = {True: "✓", False: "✗", None: "—"}[row.ok]
    return [
        row.name,
        _seconds(row.ours),
        _seconds(row.peer),
        _value_text(row) if row.ours.available else "—",
        row.target.label if row.target else "—",
        ok,
        _megabytes(row.ours),
        _megabytes(row.peer),
        row.sides,
        "; ".join(row.all_notes()),
    ]


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(cell) for cell in render_row(row)) + " |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return "unknown RAM"


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _commit(repo: Path) -> str:
    """The commit measured, and whether the package differed from it."""
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    if commit is None:
        return "unknown commit"
    if _git(repo, "status", "--porcelain", "--", "hyperkvasir_cli"):
        return f"{commit} with uncommitted changes"
    return commit


def machine_line(repo: Path, version: str, load: float) -> str:
    """`uname -srm`, CPU, cores, RAM, Python, what was measured, when, and how busy."""
    uname = platform.uname()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Machine: {uname.system} {uname.release} {uname.machine}; {_cpu_model()}, "
        f"{os.cpu_count()} cores, {_memory_total()}; Python {platform.python_version()}; "
        f"hyperkvasir {version} at {_commit(repo)}; {when}; load average {load:.2f} "
        "when the run started"
    )

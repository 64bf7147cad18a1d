"""Break each guarantee that matters on purpose, and check that the tests notice.

    python -m tests.mutate            # every mutation; exit 1 if any survives
    python -m tests.mutate --list     # the mutations, and whether each snippet is found
    python -m tests.mutate splice     # only mutations whose name contains "splice"

Each mutation (see :mod:`tests.mutations`) names a file, an exact snippet of it and a
replacement. The runner copies the repository to a scratch folder, checks that the tests
of every mutation pass there unmutated, then for each mutation puts the replacement in the
scratch copy, runs that mutation's tests against the scratch copy and restores the file.
A mutation the tests still pass on has *survived*: the guarantee could go unnoticed, and
the run fails. A snippet that is no longer in its file (the code moved or changed) fails
the run too, saying which mutation to update: the list must follow the code.

The working tree is never touched. Mutations run two at a time, each in its own copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.mutations import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("hyperkvasir_cli", "tests", "completions", "README.md", "pyproject.toml", ".ci")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
TIMEOUT = 300.0


class SnippetDrifted(Exception):
    """A mutation's snippet is not (or not exactly once) in its file."""


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    result: str  # killed | survived | error
    seconds: float
    detail: str = ""


def check_snippet(mutation: Mutation, root: Path = ROOT) -> str:
    """The file's text; SnippetDrifted unless the snippet occurs in it exactly once."""
    path = root / mutation.file
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SnippetDrifted(
            f"mutation {mutation.name!r}: cannot read {mutation.file} ({exc}); update the list "
            "in tests/mutations.py"
        ) from exc
    count = text.count(mutation.snippet)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        raise SnippetDrifted(
            f"mutation {mutation.name!r}: snippet {where} in {mutation.file}; update the list "
            f"in tests/mutations.py. The snippet:\n{mutation.snippet}"
        )
    return text


def scratch_copy() -> Path:
    """A copy of what the tests need, in a new temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="hyperkvasir-mutant-"))
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=IGNORED)
        elif source.exists():
            shutil.copy2(source, folder / name)
    return folder


def run_tests(copy: Path, selection: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """pytest on ``selection`` in ``copy``, importing the package from the copy only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERKVASIR_")}
    env["PYTHONPATH"] = str(copy)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    # Plugins these runs do not need cost most of a short run's time to load.
    command += ["-p", "no:xdist", "-p", "no:hypothesispytest", *selection]
    return subprocess.run(
        command, cwd=copy, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def last_lines(text: str, count: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def try_mutation(mutation: Mutation, copy: Path) -> Outcome:
    path = copy / mutation.file
    original = path.read_text("utf-8")
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutation.snippet, mutation.replacement, 1), "utf-8")
        try:
            done = run_tests(copy, mutation.tests)
        except subprocess.TimeoutExpired:
            return Outcome(mutation, "killed", time.monotonic() - started, "timed out")
    finally:
        path.write_text(original, "utf-8")
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return Outcome(mutation, "survived", seconds, last_lines(done.stdout, 3))
    if done.returncode == 1:  # tests ran and failed: the guarantee is watched
        failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
        return Outcome(mutation, "killed", seconds, failed[0] if failed else "")
    # 2: interrupted or a collection error, 4: bad arguments, 5: no tests collected.
    return Outcome(mutation, "error", seconds, last_lines(done.stdout + done.stderr))


def check_baseline(copy: Path, mutations: Iterable[Mutation]) -> None:
    """Every selected test passes on the unmutated copy; else nothing below means much."""
    selection = sorted({test for m in mutations for test in m.tests})
    done = run_tests(copy, selection)
    if done.returncode != 0:
        raise SystemExit(
            "the tests fail without any mutation; fix them first:\n"
            + last_lines(done.stdout + done.stderr, 30)
        )


def table(outcomes: Sequence[Outcome]) -> str:
    rows = [
        "| mutation | file | tests run | result | time (s) |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        tests = ", ".join(f"`{t}`" for t in o.mutation.tests)
        rows.append(
            f"| {o.mutation.name} | `{o.mutation.file}` | {tests} | {o.result} | {o.seconds:.1f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutate", description=__doc__)
    parser.add_argument("names", nargs="*", help="only mutations whose name contains one")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--jobs", type=int, default=2, help="mutations run at once")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or any(n in m.name for n in args.names)]
    drifted = []
    for mutation in chosen:
        try:
            check_snippet(mutation)
        except SnippetDrifted as exc:
            drifted.append(str(exc))
    if args.list:
        for mutation in chosen:
            print(f"{mutation.name}: {mutation.file} -> {' '.join(mutation.tests)}")
    if drifted:
        print("\n\n".join(drifted), file=sys.stderr)
        return 1
    if args.list or not chosen:
        return 0
    started = time.monotonic()
    copies = [scratch_copy() for _ in range(max(1, min(args.jobs, len(chosen))))]
    try:
        check_baseline(copies[0], chosen)
        free = list(copies)

        def run(mutation: Mutation) -> Outcome:
            copy = free.pop()
            try:
                return try_mutation(mutation, copy)
            finally:
                free.append(copy)

        with ThreadPoolExecutor(len(copies)) as pool:
            outcomes = list(pool.map(run, chosen))
    finally:
        for copy in copies:
            shutil.rmtree(copy, ignore_errors=True)
    print(table(outcomes))
    print("\nwhy each was killed:")
    for o in outcomes:
        print(f"- {o.mutation.name}: {o.detail or o.result}")
    bad = [o for o in outcomes if o.result != "killed"]
    for o in bad:
        print(f"\nmutation {o.mutation.name!r} {o.result.upper()}:\n{o.detail}", file=sys.stderr)
    total = time.monotonic() - started
    print(f"\n{len(outcomes) - len(bad)} of {len(outcomes)} mutations killed in {total:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

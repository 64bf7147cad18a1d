"""The peer of `hyperkvasir checksum --extracted`: the same check, done plainly.

    python bench/crc_peer.py ARCHIVE TREE [--jobs N]

Reads the archive's central directory with the standard library's zipfile, then checks
every extracted file against it (size, then CRC-32 read in 1 MiB blocks) in N worker
processes, and lists the files in the tree that the archive does not have (hidden files,
such as an extraction tool's own records, aside). Prints one line
per problem and a summary; exits 1 when anything is missing, changed or unexpected. Only
the standard library: no code of hyperkvasir's is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BLOCK = 1 << 20


def check(job: tuple[str, int, int]) -> str | None:
    """What is wrong with one extracted file (None: size and CRC-32 match)."""
    path, size, crc = job
    try:
        with open(path, "rb", buffering=0) as handle:
            if os.fstat(handle.fileno()).st_size != size:
                return f"changed (size): {path}"
            found = 0
            while block := handle.read(BLOCK):
                found = zlib.crc32(block, found)
    except FileNotFoundError:
        return f"missing: {path}"
    return None if found == crc else f"changed (CRC-32): {path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/crc_peer.py")
    parser.add_argument("archive", type=Path)
    parser.add_argument("tree", type=Path, help="the folder the archive was extracted into")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    with zipfile.ZipFile(args.archive) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
    jobs = [(str(args.tree / m.filename), m.file_size, m.CRC) for m in members]
    with ProcessPoolExecutor(args.jobs) as pool:
        problems = [p for p in pool.map(check, jobs, chunksize=64) if p is not None]
    roots = {m.filename.split("/", 1)[0] for m in members}
    known = {str(args.tree / m.filename) for m in members}
    for root in sorted(roots):
        for folder, _, files in os.walk(args.tree / root):
            problems += [
                f"unexpected: {path}"
                for name in files
                if not name.startswith(".") and (path := os.path.join(folder, name)) not in known
            ]
    for problem in problems:
        print(problem)
    print(f"checked {len(jobs)} files: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

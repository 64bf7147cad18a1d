"""`checksum`: an archive's sha256 against a bare hashlib loop and sha256sum, and an
extracted tree's CRC-32s against a peer doing the same check with the same workers."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import report
from bench.measure import Contender, Run, run_command
from bench.report import Row
from bench.rows.common import measure, prints_json, prints_sha256, run_in
from bench.rows.stats import labeled_tree
from bench.workspace import LABELED, LABELED_IMAGES, Workspace, human, settle

HASHLIB_LOOP = """\
import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as handle:
    while block := handle.read(1 << 20):
        digest.update(block)
print(digest.hexdigest())
"""
FIND_XARGS_SHA256SUM = 'find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null'
CRC_PEER = Path(__file__).resolve().parents[1] / "crc_peer.py"


def checksum_rows(ws: Workspace) -> list[Row]:
    cli, notes = ws.labeled_home
    file = ws.labeled_zip
    archive = str(cli.archive(file))
    samples = measure(
        ws,
        {
            "ours": Contender(lambda: run_in(cli, "checksum", LABELED, "--json"), prints_json),
            "hashlib": Contender(
                lambda: run_command([sys.executable, "-c", HASHLIB_LOOP, archive]),
                prints_sha256(file.sha256),
            ),
            "sha256sum": Contender(
                lambda: run_command(["sha256sum", archive]),
                prints_sha256(file.sha256),
                ("sha256sum",),
            ),
        },
    )
    what = f"({human(file.size)} zip, whole command)"
    sides = "1 hashing thread (+1 reading); 1"
    return [
        Row(
            f"checksum vs a bare hashlib loop {what}",
            samples["ours"],
            samples["hashlib"],
            report.ratio_at_most(1.15),
            notes=("the loop is `python -c`, 1 MiB reads", *notes),
            sides=sides,
        ),
        Row(
            f"checksum vs `sha256sum` {what}",
            samples["ours"],
            samples["sha256sum"],
            report.ratio_at_most(0.5),
            notes=("same runs as above",),
            sides=sides,
        ),
    ]


def extracted_rows(ws: Workspace) -> list[Row]:
    cli, notes = labeled_tree(ws)
    jobs = str(ws.settings.jobs)
    archive = cli.archive(ws.labeled_zip)

    def ours() -> Run:
        return run_in(cli, "checksum", LABELED, "--extracted", "--jobs", jobs, "--json")

    def crc_peer() -> Run:
        settle()
        return run_command(
            [sys.executable, str(CRC_PEER), str(archive), str(cli.data_dir), "--jobs", jobs]
        )

    def find_xargs() -> Run:
        settle()
        return run_command(["bash", "-c", FIND_XARGS_SHA256SUM, "bash", str(cli.tree)])

    samples = measure(
        ws,
        {
            "ours": Contender(ours, prints_json),
            "crc": Contender(crc_peer),
            "xargs": Contender(find_xargs, tools=("find", "xargs", "sha256sum")),
        },
    )
    files = f"{LABELED_IMAGES:,} files"
    zip_size = human(ws.labeled_zip.size)
    return [
        Row(
            f"checksum --extracted vs the same CRC-32 check in Python, bench/crc_peer.py ({files})",
            samples["ours"],
            samples["crc"],
            report.ratio_at_most(1.0),
            notes=(
                "both: size and CRC-32 of every file against the central directory, and "
                f"files the archive lacks; hyperkvasir also hashes the {zip_size} archive",
                *notes,
            ),
            sides=f"{jobs} workers; {jobs} worker processes",
        ),
        Row(
            f"checksum --extracted vs `find -type f -print0 | xargs -0 sha256sum` ({files})",
            samples["ours"],
            samples["xargs"],
            None,
            notes=("different work (sha256 of every file, nothing to compare with): for scale",),
            sides=f"{jobs} workers; 1",
        ),
    ]


GROUPS = {"checksum": checksum_rows, "extracted": extracted_rows}

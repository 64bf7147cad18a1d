"""Object storage and shards (issue 15): `push` and a download from S3 against the AWS CLI
on moto's S3 server, `export --format parquet` of the tree, and Hugging Face `datasets`
reading the shards against reading the tree. The procedures live in `bench/s3_rows.py`
(also runnable on its own); here they become rows of the table."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from bench import report
from bench.measure import Contender, Run
from bench.report import Row
from bench.rows.common import measure
from bench.s3_rows import (
    EXPORT_ROW,
    PUSH_ROW,
    READ_ROW,
    SYNC_ROW,
    Bench,
    moto_server,
)
from bench.workspace import PUBLISHED_COUNTS, Workspace

PUSH_ROUNDS = 7


@contextmanager
def _bench(ws: Workspace) -> Iterator[Bench]:
    work = ws.settings.work / "s3"
    work.mkdir(parents=True, exist_ok=True)
    args = argparse.Namespace(
        zip_size=ws.settings.zip_size, work=str(work), aws=shutil.which("aws")
    )
    with moto_server(work / "moto.log") as endpoint:
        bench = Bench(args, endpoint)
        bench.prepare()
        yield bench


def _rows_of(run: Run) -> str | None:
    try:
        json.loads(run.stdout)["rows"]
    except (ValueError, KeyError, TypeError):
        return "printed no export document"
    return None


def object_storage_rows(ws: Workspace) -> list[Row]:
    with _bench(ws) as bench:
        # One untimed upload each first: moto's first gigabyte is also its process growing
        # by a gigabyte or two, which the first contender of the first round would pay.
        bench.push_ours()
        if ws.missing("aws") is None:
            bench.push_aws()
        push = measure(
            ws,
            {
                "ours": Contender(bench.push_ours),
                "aws": Contender(bench.push_aws, tools=("aws",)),
            },
            repeat=PUSH_ROUNDS,
            min_rounds=PUSH_ROUNDS,  # rounds of ~20 s: the spread between rounds is 10-20 %
        )
        if not push["ours"].available:  # no manifest in the bucket: nothing to sync from
            return [Row(PUSH_ROW, push["ours"], push["aws"], report.ratio_at_most(1.1))]
        sync = measure(
            ws,
            {
                "ours": Contender(bench.sync_ours),
                "aws": Contender(bench.sync_aws, tools=("aws",)),
            },
        )
    note = ("moto copies the whole object for each ranged GET; `pip install awscli` for the peer",)
    return [
        Row(PUSH_ROW, push["ours"], push["aws"], report.ratio_at_most(1.1), notes=note),
        Row(SYNC_ROW, sync["ours"], sync["aws"], report.ratio_at_most(0.8), notes=note),
    ]


def shard_rows(ws: Workspace) -> list[Row]:
    with _bench(ws) as bench:
        export = measure(ws, {"ours": Contender(bench.export_ours, _rows_of)})
        read = measure(
            ws, {"shards": Contender(bench.read_shards), "tree": Contender(bench.read_tree)}
        )
    sample = export["ours"]
    images = sum(PUBLISHED_COUNTS.values())
    rate = f"{images / sample.seconds:,.0f} images/s" if sample.available else None
    return [
        Row(EXPORT_ROW, sample, None, None, notes=(rate,) if rate else ()),
        Row(READ_ROW, read["shards"], read["tree"], None),
    ]


GROUPS = {"s3": object_storage_rows, "shards": shard_rows}

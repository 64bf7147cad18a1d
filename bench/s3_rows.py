"""Object storage and shards: `push` and a sync from S3 against the AWS CLI, `export` speed,
and reading the shards back with Hugging Face `datasets` against reading the tree.

    python -m bench.s3_rows [--zip-size 1G] [--repeat 3] [--only push|sync|export|read]

Everything runs on 127.0.0.1: moto's S3 server (the test extra's `moto[server]`) in its own
process, hyperkvasir as its console script, and the AWS CLI (`pip install awscli` in the
benchmark's environment only; `--aws PATH` or `aws` on PATH) against the same server. The
archive is the labeled-images zip of bench/data.py (10,662 images at the real paths).
Rounds alternate between the contenders; the median is reported with peak memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import data
from bench.measure import Run, run_command
from bench.workspace import PUBLISHED_COUNTS

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"
ZIP_NAME = "hyper-kvasir-labeled-images.zip"
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
LABELED = "labeled-images"
PUSH_ROW = "push of the labeled-images zip to S3 (moto) vs `aws s3 cp`"
SYNC_ROW = "download from S3 on a fresh data folder vs `aws s3 cp` + `sha256sum`"
EXPORT_ROW = "`export --format parquet` of the extracted tree"
READ_ROW = "every image read back with `datasets`: Parquet shards vs `imagefolder` on the tree"
# Every image's bytes: embedded in the shards, or read from the file the tree's rows point
# at (what a training loop does either way before decoding).
READ_EVERY_IMAGE = (
    "import sys, datasets; kind, where = sys.argv[1:]; "
    "ds = datasets.load_dataset(kind, data_dir=where, split='train')"
    ".cast_column('image', datasets.Image(decode=False)); "
    "print(sum(len(r['image']['bytes'] or open(r['image']['path'], 'rb').read()) "
    "for r in ds))"
)


@dataclass
class Row:
    name: str
    ours: list[Run]
    peer: list[Run]
    target: float | None = None

    def line(self) -> str:
        mine = statistics.median(r.seconds for r in self.ours)
        memory = max(r.peak_memory for r in self.ours) / 2**20
        if not self.peer:
            return f"| {self.name} | {mine:.2f} s | | | {memory:.0f} MiB |"
        theirs = statistics.median(r.seconds for r in self.peer)
        ratio = mine / theirs
        mark = "" if self.target is None else (" pass" if ratio <= self.target else " FAIL")
        goal = "" if self.target is None else f" (target <= {self.target})"
        return (
            f"| {self.name} | {mine:.2f} s | {theirs:.2f} s | {ratio:.2f}{goal}{mark} "
            f"| {memory:.0f} MiB |"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    if importlib.util.find_spec("moto") is None:
        raise RuntimeError(
            f"moto's S3 server is not installed in {sys.prefix}: pip install '.[test]'"
        )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),  # the server's own errors, for a failed row
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # the server's start-up, bounded
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def checked(run: Run) -> Run:
    if not run.succeeded:
        raise SystemExit(f"benchmark command failed: {run.failure()}\n{run.stderr[-2000:]}")
    return run


class Bench:
    def __init__(self, args: argparse.Namespace, endpoint: str) -> None:
        self.args, self.endpoint = args, endpoint
        self.work = Path(args.work).resolve()
        self.env = {
            # Without PYTHONDONTWRITEBYTECODE (some sandboxes set it): an installed package
            # has its bytecode cached, as both contenders' site-packages here do.
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            **KEYS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "HYPERKVASIR_CONFIG": str(self.work / "home" / "config.yaml"),
            "HYPERKVASIR_DATA_DIR": str(self.work / "data"),
        }
        self.hyperkvasir = str(Path(sys.executable).parent / "hyperkvasir")
        self.aws = args.aws or shutil.which("aws")

    def run(self, argv: Sequence[str], **env: str) -> Run:
        return run_command(argv, env={**self.env, **env}, cwd=self.work)

    def prepare(self) -> data.DataFile:
        mean = max(1, self.args.zip_size // sum(PUBLISHED_COUNTS.values()))
        archive = data.labeled_zip(self.work / "www" / ZIP_NAME, PUBLISHED_COUNTS, mean)
        manifest = {
            "dataset": "hyper-kvasir",
            "parts": [
                {
                    "name": "labeled-images",
                    "file": ZIP_NAME,
                    "urls": [archive.path.as_uri()],
                    "size": archive.size,
                    "sha256": archive.sha256,
                    "root": "labeled-images",
                }
            ],
        }
        self.manifest = self.work / "manifest.yaml"
        self.manifest.write_text(yaml.safe_dump(manifest, sort_keys=False))
        checked(
            self.run(["aws", "s3", "mb", f"s3://{BUCKET}"])
            if self.aws
            else self.run(
                [
                    sys.executable,
                    "-c",
                    f"import boto3; boto3.client('s3').create_bucket(Bucket='{BUCKET}')",
                ]
            )
        )
        # A data folder of this run's own: the archive verified against this manifest.
        for folder in ("data", "home", "node", "shards"):
            shutil.rmtree(self.work / folder, ignore_errors=True)
        download = ["download", "labeled-images", "--extract"]
        checked(self.run([self.hyperkvasir, "--manifest", str(self.manifest), *download]))
        return archive

    def delete(self, key: str) -> None:
        code = f"import boto3; boto3.client('s3').delete_object(Bucket='{BUCKET}', Key='{key}')"
        checked(self.run([sys.executable, "-c", code]))

    # One run each, its setup included (untimed): what a round of a row runs.

    def push_ours(self) -> Run:
        self.delete(f"hk/{ZIP_NAME}")
        (self.work / "data" / "archives" / f"{ZIP_NAME}.push.json").unlink(missing_ok=True)
        to = f"s3://{BUCKET}/hk/"
        return self.run(
            [self.hyperkvasir, "--manifest", str(self.manifest), "push", LABELED, "--to", to]
        )

    def push_aws(self) -> Run:
        self.delete(f"aws/{ZIP_NAME}")
        source = str(self.work / "www" / ZIP_NAME)
        target = f"s3://{BUCKET}/aws/{ZIP_NAME}"
        return self.run([str(self.aws), "s3", "cp", "--only-show-errors", source, target])

    def sync_ours(self) -> Run:
        fresh = self.work / "node"
        shutil.rmtree(fresh, ignore_errors=True)
        manifest = f"s3://{BUCKET}/hk/manifest.yaml"
        return self.run(
            [self.hyperkvasir, "--manifest", manifest, "download", LABELED],
            HYPERKVASIR_CONFIG=str(fresh / "config.yaml"),
            HYPERKVASIR_DATA_DIR=str(fresh),
        )

    def sync_aws(self) -> Run:
        fresh = self.work / "node"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        target = fresh / ZIP_NAME
        script = (
            f"'{self.aws}' s3 cp --only-show-errors s3://{BUCKET}/hk/{ZIP_NAME} '{target}' "
            f"&& sha256sum '{target}'"
        )
        return self.run(["sh", "-c", script])

    def export_ours(self) -> Run:
        out = self.work / "shards"
        shutil.rmtree(out, ignore_errors=True)
        return self.run(
            [self.hyperkvasir, "--manifest", str(self.manifest), "export", LABELED,
             "--format", "parquet", "--to", str(out), "--json"]
        )  # fmt: skip

    def read_with_datasets(self, kind: str, where: Path) -> Run:
        with tempfile.TemporaryDirectory() as cache:
            return self.run(
                [sys.executable, "-c", READ_EVERY_IMAGE, kind, str(where)], HF_HOME=cache
            )

    def read_shards(self) -> Run:
        return self.read_with_datasets("parquet", self.work / "shards" / "all")

    def read_tree(self) -> Run:
        return self.read_with_datasets("imagefolder", self.work / "data" / "labeled-images")


def rounds(repeat: int, *tasks: Callable[[], Run]) -> list[list[Run]]:
    """Each task once per round, in turn; a failed run stops the benchmark."""
    runs: list[list[Run]] = [[] for _ in tasks]
    for _ in range(repeat):
        for found, task in zip(runs, tasks, strict=True):
            found.append(checked(task()))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--zip-size", type=lambda t: int(float(t.rstrip("G")) * 2**30), default=2**30
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "s3"))
    parser.add_argument("--aws", default=None, help="the AWS CLI (default: aws on PATH)")
    parser.add_argument("--only", action="append", choices=["push", "sync", "export", "read"])
    args = parser.parse_args(argv)
    only = set(args.only or ["push", "sync", "export", "read"])
    Path(args.work).mkdir(parents=True, exist_ok=True)
    lines = ["| row | hyperkvasir | peer | ratio | peak memory |", "|---|---|---|---|---|"]
    with moto_server(Path(args.work) / "moto.log") as endpoint:
        bench = Bench(args, endpoint)
        bench.prepare()
        peers = bool(bench.aws)
        if "push" in only or "sync" in only:
            bench.push_ours()  # untimed: moto's first gigabyte is its process growing too
            if peers:
                bench.push_aws()
            ours, *theirs = rounds(
                args.repeat, bench.push_ours, *([bench.push_aws] if peers else [])
            )
            lines.append(Row(PUSH_ROW, ours, theirs[0] if theirs else [], 1.1).line())
        if "sync" in only:
            ours, *theirs = rounds(
                args.repeat, bench.sync_ours, *([bench.sync_aws] if peers else [])
            )
            lines.append(Row(SYNC_ROW, ours, theirs[0] if theirs else [], 0.8).line())
        if "export" in only or "read" in only:
            (ours,) = rounds(args.repeat, bench.export_ours)
            images = int(json.loads(ours[-1].stdout)["rows"])
            seconds = statistics.median(r.seconds for r in ours)
            lines.append(Row(EXPORT_ROW, ours, []).line() + f" {images / seconds:,.0f} images/s")
        if "read" in only:
            ours, theirs = rounds(args.repeat, bench.read_shards, bench.read_tree)
            lines.append(Row(READ_ROW, ours, theirs).line())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

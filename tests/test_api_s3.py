"""The Python API's `push` and `export`, and a manifest read from a bucket."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from hyperkvasir_cli import HyperKvasir
from tests.downloads import part_entry, write_manifest
from tests.http_server import LocalServer
from tests.s3_server import Bucket
from tests.same import assert_same_bytes
from tests.zips import build_labeled_images

LABELED_ZIP = "hyper-kvasir-labeled-images.zip"


def test_push_then_a_node_reads_the_manifest_from_the_bucket_and_exports(
    s3_bucket: Bucket, http_server: LocalServer, tmp_path: Path
) -> None:
    built = build_labeled_images(tmp_path / "site" / LABELED_ZIP, 1)
    content = built.path.read_bytes()
    http_server.put(LABELED_ZIP, content)
    entry = part_entry("labeled-images", LABELED_ZIP, [http_server.url(LABELED_ZIP)], content)
    manifest = write_manifest(tmp_path / "manifest.yaml", [{**entry, "root": "labeled-images"}])
    lab = HyperKvasir(tmp_path / "lab", config=tmp_path / "lab.yaml", manifest=manifest)
    lab.download("labeled-images")
    pushed = lab.push("labeled-images", s3_bucket.url("hk/"))
    assert pushed.manifest_written and pushed.parts[0].upload.action == "uploaded"

    node = HyperKvasir(
        tmp_path / "node", config=tmp_path / "node.yaml", manifest=s3_bucket.url("hk/manifest.yaml")
    )
    assert node.manifest.part("labeled-images").urls[0] == s3_bucket.url("hk/" + LABELED_ZIP)
    assert_same_bytes(node.download("labeled-images"), content)  # from the bucket
    exported = node.export("labeled-images", "parquet", tmp_path / "shards", from_archive=True)
    assert exported.as_json()["source"] == "archive"
    rows = pq.read_table(tmp_path / "shards" / "all" / "all-00000-of-00001.parquet").num_rows
    assert rows == 23

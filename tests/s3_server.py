"""A real S3 API on 127.0.0.1: moto's server, one per test process, a fresh bucket per test.

Nothing is mocked: the program talks HTTP to the server through s3fs and botocore exactly
as it would to MinIO or AWS. The environment points at it the standard way
(AWS_ENDPOINT_URL and the AWS_* credentials).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ACCESS_KEY = "hyperkvasir-test"
SECRET_KEY = "hyperkvasir-test-secret"
_buckets = itertools.count()


class MotoServer:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        server = self._server._server
        assert server is not None
        self.gate = PartGate(server.app)
        server.app = self.gate
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@dataclass
class PartGate:
    """A fault of the server that a test switches on: once ``after`` upload parts were
    stored, further UploadPart requests wait until released, so a test can kill a client
    at a known point (no sleeps, no timing guesses)."""

    app: Callable[..., Iterable[bytes]]
    after: int | None = None
    stored: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold_after(self, parts: int) -> None:
        self.after, self.stored = parts, 0
        self.reached.clear()
        self.released.clear()

    def release(self) -> None:
        self.after = None
        self.released.set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        is_part = environ.get("REQUEST_METHOD") == "PUT" and "partNumber=" in query
        if not is_part or self.after is None:
            return self.app(environ, start_response)
        with self.lock:
            held = self.stored >= self.after
        if held:
            self.released.wait(60)
        body = list(self.app(environ, start_response))
        with self.lock:
            self.stored += 1
            if self.after is not None and self.stored >= self.after:
                self.reached.set()
        return body


@dataclass
class Bucket:
    """One empty bucket on the server, with a boto3 client to look behind the tool's back."""

    name: str
    endpoint: str

    @property
    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key``; returns the object's ETag."""
        answer = self.client.put_object(Bucket=self.name, Key=key, Body=data)
        return str(answer["ETag"])

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def head(self, key: str) -> dict[str, Any]:
        return dict(self.client.head_object(Bucket=self.name, Key=key))

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def pending_uploads(self) -> list[dict[str, Any]]:
        return list(self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", []))


def new_bucket(server: MotoServer) -> Bucket:
    bucket = Bucket(f"lab-{next(_buckets)}", server.endpoint)
    bucket.client.create_bucket(Bucket=bucket.name)
    return bucket

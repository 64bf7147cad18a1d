"""Object storage: ``s3://bucket/key`` URLs, the clients that reach them, plain calls.

Two ways in, both from the optional extra ``hyperkvasir[s3]`` and imported only when an
``s3://`` URL is used, so ``import hyperkvasir_cli`` and ``--help`` stay light:

- :func:`s3_filesystem`, fsspec/s3fs, for files: ranged reads of archives (downloads) and
  shards written under a prefix (export). Its calls run on s3fs's own event loop thread.
- :func:`s3_api`, botocore's own client (the one s3fs drives underneath, with the same
  configuration), for the object API: HEAD, small objects (manifests) and multipart
  uploads (push). Each call is a plain blocking request on the caller's thread, so the
  threads sending parts send in parallel, without an event loop between them and the
  socket; and it starts in a quarter of the time (no aiohttp, no aiobotocore to import).

The endpoint, region and credentials come the standard way, through botocore's own
resolution: ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and the AWS config files. Every call returns
botocore's answer as a dict; S3's refusals stay :class:`botocore.exceptions.ClientError`
for the caller to judge (see :func:`error_status`). Nothing here knows about terminals.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.errors import ConfigError, NetworkError

if TYPE_CHECKING:
    from s3fs import S3FileSystem

S3_SCHEME = "s3://"
S3_EXTRA_HINT = "install the extra for object storage: pip install 'hyperkvasir[s3]'"
# The variables that choose the endpoint, the identity and the way there: a change means
# another client.
_ENV_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    # botocore takes the proxies when the client is made: another proxy, another client.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
# Connections s3fs may keep to the endpoint: enough for every segment and upload slot.
MAX_POOL_CONNECTIONS = 32

_lock = threading.Lock()
_filesystems: dict[tuple[object, ...], S3FileSystem] = {}
_apis: dict[tuple[object, ...], S3Api] = {}
_botocore_sessions: dict[tuple[object, ...], Any] = {}
# What both ways in configure alike: completing a multipart upload of gigabytes can take
# minutes on some stores, and a shorter wait would retry a completion that is under way;
# Content-MD5 is sent by us where it matters (upload parts, small objects), and the newer
# default CRC checksums are not understood by every S3-compatible store.
_CLIENT_CONFIG: dict[str, Any] = {
    "max_pool_connections": MAX_POOL_CONNECTIONS,
    "read_timeout": 600,
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


def is_s3_url(url: str) -> bool:
    return url.startswith(S3_SCHEME)


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key (or a key prefix, which may be empty)."""

    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"

    def child(self, name: str) -> S3Location:
        """The object ``name`` under this location taken as a folder."""
        prefix = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return S3Location(self.bucket, prefix + name)


def s3_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable ``s3://bucket/...`` URL (None when it is)."""
    if not is_s3_url(url):
        return f"not an s3:// URL: {url!r}"
    bucket = url[len(S3_SCHEME) :].split("/", 1)[0]
    if not bucket:
        return f"an s3:// URL names a bucket first (s3://bucket/key), found {url!r}"
    if any(c in bucket for c in "?#\\ ") or bucket != bucket.lower():
        return f"not a valid bucket name in {url!r}"
    return None


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket/key`` as a location; ConfigError (exit 3) for a malformed URL."""
    problem = s3_url_problem(url)
    if problem:
        raise ConfigError(problem, hint="write it as s3://bucket/prefix/name")
    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    return S3Location(bucket, key)


def s3_filesystem(environ: Mapping[str, str] | None = None) -> S3FileSystem:
    """The s3fs file system for the current endpoint and identity (one per identity).

    ConfigError (exit 3) naming the install command when the extra is missing.
    """
    env = os.environ if environ is None else environ
    cache_key = tuple(env.get(k) for k in _ENV_KEYS)
    with _lock:
        found = _filesystems.get(cache_key)
        if found is not None:
            return found
        try:
            import s3fs
        except ImportError as exc:
            raise _extra_missing() from exc
        filesystem = s3fs.S3FileSystem(skip_instance_cache=True, config_kwargs=dict(_CLIENT_CONFIG))
        _filesystems[cache_key] = filesystem
        return filesystem


def _extra_missing() -> ConfigError:
    return ConfigError("s3:// URLs need s3fs, which is not installed", hint=S3_EXTRA_HINT)


def call(filesystem: S3FileSystem, operation: str, **arguments: Any) -> dict[str, Any]:
    """Run one S3 API operation (``get_object``, ``head_bucket``...) through s3fs's client
    and return its answer.

    ``ClientError`` passes through (S3 said no); a failure to reach the endpoint or to find
    credentials becomes NetworkError (exit 4) or ConfigError (exit 3) with a hint.
    """
    from fsspec.asyn import sync

    async def run() -> dict[str, Any]:
        await filesystem.set_session()
        client = await filesystem.get_s3(arguments.get("Bucket"))
        result: dict[str, Any] = await getattr(client, operation)(**arguments)
        return result

    try:
        answer: dict[str, Any] = sync(filesystem.loop, run)
        return answer
    except Exception as exc:
        raise translate_failure(exc) from exc


class S3Api:
    """botocore's S3 client for one endpoint and identity: blocking calls, safe to share
    between threads (see :func:`s3_api`)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """Run one S3 API operation (``head_object``, ``upload_part``...); failures as
        :func:`call` tells them."""
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**arguments)
            return answer
        except Exception as exc:
            raise translate_failure(exc) from exc


def s3_api(environ: Mapping[str, str] | None = None, *, sign_payload: bool = True) -> S3Api:
    """botocore's S3 client for the current endpoint and identity, configured as s3fs's.

    ``sign_payload=False`` gives one whose requests do not hash their body into the
    signature (``UNSIGNED-PAYLOAD``): only for requests that carry a Content-MD5, which is
    signed, so the store still refuses a body changed on the way. Over plain HTTP botocore
    otherwise reads every byte once more for a sha256 (over HTTPS it already skips that
    when Content-MD5 is present). Both kinds come from one botocore session, which reads
    the S3 service model once.

    ConfigError (exit 3) naming the install command when the extra is missing: without
    s3fs, downloads from the objects pushed would fail, so its presence is checked too.
    """
    env = os.environ if environ is None else environ
    identity = tuple(env.get(k) for k in _ENV_KEYS)
    with _lock:
        key = (*identity, sign_payload)
        found = _apis.get(key)
        if found is not None:
            return found
        try:
            if importlib.util.find_spec("s3fs") is None:
                raise ImportError("s3fs")
            import botocore.session
            from botocore.config import Config
        except ImportError as exc:
            raise _extra_missing() from exc
        session = _botocore_sessions.get(identity)
        if session is None:
            session = _botocore_sessions[identity] = botocore.session.Session()
        signing = {} if sign_payload else {"s3": {"payload_signing_enabled": False}}
        client = session.create_client("s3", config=Config(**_CLIENT_CONFIG, **signing))
        api = _apis[key] = S3Api(client)
        return api


def translate_failure(exc: Exception) -> Exception:
    """A failure that is not S3's answer, as one of our errors; S3's answers unchanged."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProxyConnectionError,
    )

    if isinstance(exc, ClientError):
        return exc  # type: ignore[no-any-return]
    if isinstance(exc, ProxyConnectionError):
        return NetworkError(
            f"object storage unreachable: {exc}",
            hint="the proxy named above could not be used: check it, or list the endpoint's "
            "host in no_proxy (NO_PROXY) to connect directly",
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigError(
            f"object storage: {exc}",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
        )
    if isinstance(exc, EndpointConnectionError) or _is_connection_failure(exc):
        return NetworkError(
            f"object storage unreachable: {exc}",
            hint="check AWS_ENDPOINT_URL (for MinIO, Ceph and the like) and the network",
        )
    return exc


def _is_connection_failure(exc: BaseException) -> bool:
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, (HTTPClientError, OSError)):  # botocore's (urllib3's) and the OS's
        return True
    aiohttp = sys.modules.get("aiohttp")  # s3fs's, when it was used
    return aiohttp is not None and isinstance(exc, aiohttp.ClientConnectionError)


def error_status(exc: BaseException) -> int | None:
    """The HTTP status of an S3 refusal (``ClientError``), None for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if isinstance(status, int):
        return status
    code = str(response.get("Error", {}).get("Code", ""))
    return {"NoSuchKey": 404, "NoSuchBucket": 404, "NoSuchUpload": 404}.get(code)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def describe_refusal(exc: BaseException) -> str:
    """One line for an S3 refusal: the code, the status and S3's message."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return str(exc)
    error = response.get("Error", {})
    status = error_status(exc)
    return f"{error.get('Code', 'error')} (HTTP {status}): {error.get('Message', '')}".strip()


def head_object(api: S3Api, location: S3Location) -> dict[str, Any] | None:
    """The object's HeadObject answer, or None when there is no such object."""
    try:
        return api.call("head_object", Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        if error_status(exc) == 404:
            return None
        raise


def read_object(url: str, environ: Mapping[str, str] | None = None) -> bytes:
    """A small object's bytes (a manifest). NetworkError (exit 4) when it cannot be read."""
    location = parse_s3_url(url)
    api = s3_api(environ)
    try:
        answer = api.call("get_object", Bucket=location.bucket, Key=location.key)
        with answer["Body"] as body:
            data: bytes = body.read()
        return data
    except Exception as exc:
        if error_status(exc) is None:
            raise
        raise NetworkError(
            f"cannot read {url}: {describe_refusal(exc)}",
            hint="check the bucket and key, and the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID)",
        ) from exc


def read_object_if_present(url: str, environ: Mapping[str, str] | None = None) -> bytes | None:
    """Like :func:`read_object`, None when there is no such object."""
    location = parse_s3_url(url)
    if head_object(s3_api(environ), location) is None:
        return None
    return read_object(url, environ)


def write_object(
    url: str, data: bytes, content_type: str, environ: Mapping[str, str] | None = None
) -> None:
    """Store a small object whole (S3 makes a PUT visible all at once or not at all)."""
    import base64
    import hashlib

    location = parse_s3_url(url)
    api = s3_api(environ)
    try:
        api.call(
            "put_object",
            Bucket=location.bucket,
            Key=location.key,
            Body=data,
            ContentType=content_type,
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode("ascii"),
        )
    except Exception as exc:
        if error_status(exc) is None:
            raise
        raise NetworkError(f"cannot write {url}: {describe_refusal(exc)}") from exc

"""Building the downloader from the settings in effect (shared by download, resume, sync,
split and any command that needs an archive on disk)."""

from __future__ import annotations

from pathlib import Path

import httpx

from hyperkvasir_cli.cli.runtime import Runtime
from hyperkvasir_cli.core.config import mirror_problem
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.ops.download import DownloadOptions, PartDownloader
from hyperkvasir_cli.transfer.engine import EngineOptions
from hyperkvasir_cli.transfer.http_client import build_client
from hyperkvasir_cli.transfer.ratelimit import RateLimiter
from hyperkvasir_cli.transfer.retry import RetryPolicy


def download_options(
    rt: Runtime, *, mirrors: list[str] | None = None, force: bool = False
) -> DownloadOptions:
    for url in mirrors or []:
        problem = mirror_problem(url)
        if problem:
            raise UsageError(f"option --mirror: {problem}", hint="see the command's --help")
    settings = rt.settings
    limit = settings.limit_rate_bytes
    engine = EngineOptions(
        connections=settings.connections,
        policy=RetryPolicy(retries=settings.retries),
        limiter=RateLimiter(limit, rt.clock) if limit else None,
    )
    return DownloadOptions(
        mirrors=[*(mirrors or []), *settings.mirrors], force=force, engine=engine
    )


def make_downloader(rt: Runtime) -> PartDownloader:
    settings = rt.settings

    def client() -> httpx.Client:
        ca_bundle: Path | None = settings.ca_bundle
        return build_client(
            connect_timeout=settings.connect_timeout,
            stall_timeout=settings.stall_timeout,
            ca_bundle=ca_bundle,
            max_connections=max(settings.connections, 1) + 2,
            environ=rt.environ,
        )

    return PartDownloader(rt.layout, rt.store, client, rt.clock, rt.console.progress())

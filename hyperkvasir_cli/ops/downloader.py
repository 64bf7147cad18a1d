"""The downloader and its options, built from the settings in effect (for download,
resume, sync, and every workflow that needs an archive on disk)."""

from __future__ import annotations

from pathlib import Path

import httpx

from hyperkvasir_cli.core.config import mirror_problem
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.ops.download import DownloadOptions, PartDownloader
from hyperkvasir_cli.ops.session import Session
from hyperkvasir_cli.transfer.engine import EngineOptions
from hyperkvasir_cli.transfer.http_client import build_client
from hyperkvasir_cli.transfer.ratelimit import RateLimiter
from hyperkvasir_cli.transfer.retry import RetryPolicy


def download_options(
    session: Session, *, mirrors: list[str] | None = None, force: bool = False
) -> DownloadOptions:
    """``mirrors`` (tried first, then the `mirrors` setting, then the manifest's URLs) and
    the connections, retries and rate limit of the settings. A mirror that is no usable
    URL is a usage error (exit 2)."""
    for url in mirrors or []:
        problem = mirror_problem(url)
        if problem:
            raise UsageError(f"option --mirror: {problem}", hint="see the command's --help")
    settings = session.settings
    limit = settings.limit_rate_bytes
    engine = EngineOptions(
        connections=settings.connections,
        # Left to its default, the count adapts: one connection on a link it fills.
        adaptive=session.setting_sources.get("connections") == "default",
        policy=RetryPolicy(retries=settings.retries),
        limiter=RateLimiter(limit, session.clock) if limit else None,
    )
    return DownloadOptions(
        mirrors=[*(mirrors or []), *settings.mirrors], force=force, engine=engine
    )


def make_downloader(session: Session) -> PartDownloader:
    settings = session.settings

    def client() -> httpx.Client:
        ca_bundle: Path | None = settings.ca_bundle
        return build_client(
            connect_timeout=settings.connect_timeout,
            stall_timeout=settings.stall_timeout,
            ca_bundle=ca_bundle,
            max_connections=max(settings.connections, 1) + 2,
            environ=session.environ,
        )

    return PartDownloader(
        session.layout, session.record_store, client, session.clock, session.task_progress()
    )

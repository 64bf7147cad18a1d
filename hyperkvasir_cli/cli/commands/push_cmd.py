"""`hyperkvasir push`: verified archives to object storage, with a manifest for the nodes."""

from __future__ import annotations

from typing import Annotated

import typer

from hyperkvasir_cli.cli.options import JsonOption, PartsArgument, WaitLockOption
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.units import format_bytes

ToOption = Annotated[
    str,
    typer.Option(
        "--to",
        "-t",
        metavar="URL",
        help="Where to store the archives: s3://bucket/prefix/ (endpoint and credentials "
        "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE).",
        show_default=False,
    ),
]
InFlightOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-J",
        min=1,
        help="Upload parts (of the multipart upload) in flight at once (default 4).",
        show_default=False,
    ),
]


@command
def push(
    rt: Runtime,
    to: ToOption,
    parts: PartsArgument = None,
    jobs: InFlightOption = None,
    wait_lock: WaitLockOption = None,
    json_output: JsonOption = False,
) -> None:
    r"""Upload verified archives to object storage and write <prefix>/manifest.yaml naming
    them (then the original URLs), so any node can run
    `hyperkvasir --manifest s3://bucket/prefix/manifest.yaml sync PART`.

    Multipart, several parts in flight, each part's MD5 checked by the server; a killed
    push continues where it stopped; the object carries the archive's sha256 and size and
    is checked after completing. An object that already holds the archive is left alone:
    a second push sends nothing. Needs the extra: pip install 'hyperkvasir\[s3]'.
    """
    from hyperkvasir_cli.ops.push import DEFAULT_PARTS_IN_FLIGHT, push_parts

    result = push_parts(
        rt.session,
        parts or [],
        to,
        parts_in_flight=jobs or DEFAULT_PARTS_IN_FLIGHT,
        wait_lock=wait_lock,
    )
    if json_output:
        rt.console.emit_json(result.as_json())
        return
    for pushed in result.parts:
        upload = pushed.upload
        done = (
            "unchanged"
            if upload.action == "unchanged"
            else (f"{upload.action}, {format_bytes(upload.bytes_sent)} sent")
        )
        rt.console.out(f"{pushed.part}: {upload.url} ({done})")
    said = "written" if result.manifest_written else "unchanged"
    rt.console.out(f"manifest: {result.manifest_url} ({said})")
    rt.console.info(
        f"any node: hyperkvasir --manifest {result.manifest_url} sync "
        + " ".join(p.part for p in result.parts)
    )

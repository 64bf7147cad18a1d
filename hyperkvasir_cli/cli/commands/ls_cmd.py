"""`hyperkvasir ls PART [--remote]`: the members of a part, from the archive or the server."""

from __future__ import annotations

from typing import Annotated

import typer

from hyperkvasir_cli.cli.options import (
    CaBundleOption,
    ConnectionsOption,
    JsonOption,
    MirrorOption,
    SelectClassOption,
    SelectExcludeOption,
    SelectIncludeOption,
    complete_part_names,
)
from hyperkvasir_cli.cli.runtime import Runtime, command

PartArgument = Annotated[
    str,
    typer.Argument(
        help="The zip part to list (see `hyperkvasir parts`).",
        metavar="PART",
        show_default=False,
        autocompletion=complete_part_names,
    ),
]
RemoteOption = Annotated[
    bool,
    typer.Option(
        "--remote",
        "-r",
        help="List the server's copy: only its end records and central directory are "
        "fetched (by range), and kept for the next time.",
    ),
]


@command
def ls(
    rt: Runtime,
    part: PartArgument,
    remote: RemoteOption = False,
    include: SelectIncludeOption = None,
    exclude: SelectExcludeOption = None,
    classes: SelectClassOption = None,
    mirror: MirrorOption = None,
    connections: ConnectionsOption = None,
    ca_bundle: CaBundleOption = None,
    json_output: JsonOption = False,
) -> None:
    """List a zip part's members, from the archive or, with --remote, from the server.

    Each member's path, size, compressed size, CRC-32 and whether the extracted tree has
    it. From the downloaded archive, or with --remote from the server's copy without
    downloading it: only its end records and central directory, fetched by range and
    kept, so listing again costs one conditional request."""
    from hyperkvasir_cli.ops.members import list_members

    session = rt.session
    session.override(connections=connections, ca_bundle=ca_bundle)
    listing = list_members(
        session,
        part,
        remote=remote,
        include=include or (),
        exclude=exclude or (),
        classes=classes or (),
        mirrors=mirror or (),
    )
    if json_output:
        rt.console.emit_json(listing.as_json())
    else:
        lines = [
            f"{m.size:>12} {m.compressed_size:>12} {m.crc:08x} {'yes' if m.present else 'no':>3} "
            f"{m.path}"
            for m in listing.members
        ]
        if lines:
            rt.console.out("\n".join(lines))
    rt.console.info(listing.summary())

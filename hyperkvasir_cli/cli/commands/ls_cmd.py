"""`hyperkvasir ls PART [--remote]`: the members of a part, from the archive or the server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from hyperkvasir_cli.ops.members import ListedMember

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
        documents = (member.as_json() for member in listing.members)
        rt.console.emit_json_list(listing.summary_json(), "members", documents)
    else:
        # In batches: 100,000 lines are never one string.
        members = listing.members
        for start in range(0, len(members), 1000):
            rt.console.out("\n".join(_line(m) for m in members[start : start + 1000]))
    rt.console.info(listing.summary())


def _line(member: ListedMember) -> str:
    present = "yes" if member.present else "no"
    return (
        f"{member.size:>12} {member.compressed_size:>12} {member.crc:08x} {present:>3} "
        f"{member.path}"
    )

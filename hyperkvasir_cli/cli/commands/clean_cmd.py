"""`hyperkvasir clean [--dry-run]`: remove bad copies, partials that cannot be continued and
the temporary files of killed runs, and say how much that freed."""

from __future__ import annotations

from hyperkvasir_cli.cli.options import DryRunOption, JsonOption, WaitLockOption
from hyperkvasir_cli.cli.runtime import Runtime, command


@command
def clean(
    rt: Runtime,
    dry_run: DryRunOption = False,
    wait_lock: WaitLockOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove what runs leave behind in the data folder: copies set aside as bad, partial
    downloads that cannot be continued, temporary files of killed runs. Archives,
    extracted files, records and partials that can be continued are kept."""
    from hyperkvasir_cli.core.units import format_bytes
    from hyperkvasir_cli.ops.clean import clean as clean_data_folder

    report = clean_data_folder(rt.session, dry_run=dry_run, wait_lock=wait_lock)
    if json_output:
        rt.console.emit_json(report.as_json())
        return
    verb = "would remove" if dry_run else "removed"
    for item in report.removed:
        rt.console.out(f"{verb} {item.path} ({format_bytes(item.size)}, {item.what})")
    rt.console.info(report.summary())

"""Check reports as text: one OK/FAILED line per item, a summary line, checksum-file
lines. Pure functions over :class:`integrity.CheckReport` (its JSON document is
:meth:`hyperkvasir_cli.ops.checksum.ChecksumResult.as_json`)."""

from __future__ import annotations

from hyperkvasir_cli.check.checkfile import sum_line
from hyperkvasir_cli.check.integrity import FILE_KINDS, CheckItem, CheckReport

RESULT_LABELS = {"ok": "OK", "unverifiable": "NOT VERIFIED"}  # every other result: FAILED
KIND_WORDS = {"archive": "", "member": "member ", "extracted": "file ", "listed": ""}
KIND_NAMES = {
    "archive": "archive",
    "member": "zip member",
    "extracted": "extracted file",
    "listed": "listed file",
}


def item_line(item: CheckItem, digest: str | None = None) -> str:
    """`<part> [member |file ]<path>: OK|NOT VERIFIED|FAILED (<reason>)`; the reason is
    left out of OK lines except for archives, which say what vouched for them. ``digest``
    (an algorithm asked for with --algorithm) adds `<algorithm> <hex>` where it was
    computed: `OK (sha256 matches the manifest; md5 0cc1...)`."""
    label = RESULT_LABELS.get(item.result, "FAILED")
    part = f"{item.part} " if item.part else ""
    line = f"{part}{KIND_WORDS[item.kind]}{item.path}: {label}"
    details = []
    if item.result != "ok" or item.kind == "archive":
        details.append(item.reason)
    if digest is not None and digest in item.found:
        details.append(f"{digest} {item.found[digest]}")
    if details:
        line += f" ({'; '.join(details)})"
    return line


def summary_line(report: CheckReport) -> str:
    """`summary: checked 1 archive, 46 extracted files: 45 ok, 1 missing`."""
    kinds = ", ".join(
        f"{count} {KIND_NAMES[kind]}{'s' if count != 1 else ''}"
        for kind, count in report.kinds().items()
    )
    results = ", ".join(f"{count} {result}" for result, count in report.counts().items() if count)
    return f"summary: checked {kinds or 'nothing'}" + (f": {results}" if results else "")


def part_lines(report: CheckReport) -> list[str]:
    """One line per part for the files checked one by one (members, extracted or listed
    files), whose OK lines are not printed: `labeled-images: checked 10662 extracted
    files: 10661 ok, 1 missing`."""
    lines = []
    for name, part in report.by_part().items():
        files = CheckReport([item for item in part.items if item.kind in FILE_KINDS])
        # Files of no part (a --check list) are counted by the summary line alone.
        if files.items and name:
            lines.append(f"{name}: " + summary_line(files).removeprefix("summary: "))
    return lines


def checksum_file_lines(report: CheckReport, algorithm: str) -> list[str]:
    """`sha256sum`-style lines for the archives and extracted files that passed. A file
    that failed gets no line, so that the output never vouches for a bad file."""
    return [
        sum_line(str(item.found[algorithm]), item.path)
        for item in report.items
        if not item.is_problem and item.kind in ("archive", "extracted") and algorithm in item.found
    ]

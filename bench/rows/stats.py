"""`stats` on an extracted tree: counts, and image sizes at the real scale and at 100,000."""

from __future__ import annotations

from bench import report
from bench.measure import Contender, Sample
from bench.report import Row
from bench.rows.common import measure, prints_json
from bench.workspace import LABELED, LABELED_IMAGES, Cli, Workspace

FAST_REPEAT = 7


def labeled_tree(ws: Workspace) -> tuple[Cli, list[str]]:
    """The labeled home with its tree extracted (shared with the checksum rows)."""
    cli, notes = ws.labeled_home
    return cli, notes + ws.install_tree(cli, ws.labeled_zip, LABELED_IMAGES)


def _stats(ws: Workspace, cli: Cli, *extra: str, repeat: int | None = None) -> Sample:
    task = Contender(lambda: cli.run("stats", LABELED, *extra, "--json"), prints_json)
    return measure(ws, {"ours": task}, repeat)["ours"]


def stats_rows(ws: Workspace) -> list[Row]:
    cli, notes = labeled_tree(ws)
    plain = _stats(ws, cli, repeat=FAST_REPEAT)
    images = _stats(ws, cli, "--images", repeat=FAST_REPEAT)
    tree = f"{LABELED_IMAGES:,}-image tree"
    return [
        Row(f"stats ({tree}, median)", plain, None, report.seconds_below(1.0), notes=tuple(notes)),
        Row(f"stats --images ({tree}, median)", images, None, None, notes=("no target",)),
    ]


def stats_scale_rows(ws: Workspace) -> list[Row]:
    file = ws.tiny_zip
    cli = ws.cli("tiny", ws.manifest(LABELED, file))
    notes = ws.install_archive(cli, LABELED, file)
    notes += ws.install_tree(cli, file, ws.settings.images)
    name = f"stats --images ({ws.settings.images:,} tiny images)"
    return [
        Row(name, _stats(ws, cli, "--images"), None, report.seconds_below(20), notes=tuple(notes))
    ]


GROUPS = {"stats": stats_rows, "stats-scale": stats_scale_rows}

"""Statistics of the unlabeled images' features: the ARFF's attributes, rows, clusters.

The ARFF is streamed once; only what a comparison needs is kept (each row's cluster, by
image or by position, and only when a clusters file is to be compared). Cluster sizes come
from the ARFF's cluster attribute, else from ``clusters.csv``; with both, every row of the
clusters file is matched to its ARFF instance (by image, else by position) and each
disagreement is counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.dataset.tables.arff import ArffAttribute, open_arff
from hyperkvasir_cli.dataset.tables.clusters import open_clusters
from hyperkvasir_cli.dataset.tables.features import (
    cluster_attribute,
    image_attribute,
    image_key,
    natural_key,
)
from hyperkvasir_cli.dataset.tables.parts import CLUSTERS, FEATURES, FEATURES_ARFF


def ordered_sizes(counts: Counter[str]) -> dict[str, int]:
    return {name: counts[name] for name in sorted(counts, key=natural_key)}


@dataclass(frozen=True)
class ClustersFileCheck:
    """``clusters.csv`` on its own, and beside the ARFF when both are here."""

    file: str
    rows: int
    keyed_by: str  # image | row order
    sizes: dict[str, int]
    compared: int = 0  # rows matched to an ARFF instance that has a cluster
    disagree: int = 0  # of those, rows whose cluster is not the ARFF's
    rows_without_instance: int = 0  # rows naming an image (or a position) the ARFF lacks
    instances_without_row: int = 0  # ARFF instances no row names

    def differences(self) -> list[str]:
        found = []
        if self.disagree:
            found.append(
                f"clusters that differ between the ARFF and {self.file}: {self.disagree:,}"
            )
        if self.rows_without_instance:
            found.append(
                f"rows of {self.file} without an ARFF instance: {self.rows_without_instance:,}"
            )
        if self.instances_without_row:
            found.append(
                f"ARFF instances without a row in {self.file}: {self.instances_without_row:,}"
            )
        return found

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "keyed_by": self.keyed_by,
            "sizes": self.sizes,
            "compared": self.compared,
            "disagree": self.disagree,
            "rows_without_instance": self.rows_without_instance,
            "instances_without_row": self.instances_without_row,
        }


@dataclass(frozen=True)
class FeaturesStats:
    part: str  # the name counted: the group of the ARFF and the clusters file
    arff: str | None  # the ARFF read, if it is here
    relation: str | None
    attributes: tuple[ArffAttribute, ...]
    rows: int | None  # ARFF instances
    image_attribute: str | None
    cluster_attribute: str | None
    clusters: dict[str, int]  # cluster -> images, naturally sorted
    clusters_from: str | None  # arff | clusters file | None
    repeated_images: int = 0  # ARFF instances naming an image named before
    clusters_file: ClustersFileCheck | None = None
    missing_clusters: int = 0  # ARFF instances whose cluster is "?"
    notes: list[str] = field(default_factory=list)

    def differences(self) -> list[str]:
        found = []
        if self.repeated_images:
            found.append(f"ARFF instances naming an image already named: {self.repeated_images:,}")
        if self.clusters_file is not None:
            found += self.clusters_file.differences()
        return found

    def as_json(self) -> dict[str, object]:
        types = Counter(a.type for a in self.attributes)
        compared = self.arff is not None and self.clusters_file is not None
        return {
            "part": self.part,
            "arff": self.arff,
            "relation": self.relation,
            "rows": self.rows,
            "attribute_count": len(self.attributes),
            "attribute_types": dict(sorted(types.items())),
            "attributes": [a.as_json() for a in self.attributes],
            "image_attribute": self.image_attribute,
            "cluster_attribute": self.cluster_attribute,
            "clusters": self.clusters,
            "cluster_count": len(self.clusters),
            "clusters_from": self.clusters_from,
            "missing_clusters": self.missing_clusters,
            "repeated_images": self.repeated_images,
            "clusters_file": self.clusters_file.as_json() if self.clusters_file else None,
            "matches_published": (not self.differences()) if compared else None,
            "differences": self.differences(),
            "notes": self.notes,
        }


@dataclass
class _ArffScan:
    attributes: tuple[ArffAttribute, ...] = ()
    relation: str | None = None
    rows: int = 0
    image: str | None = None
    cluster: str | None = None
    sizes: Counter[str] = field(default_factory=Counter)
    missing_clusters: int = 0
    repeated: int = 0
    kept: str | None = None  # how rows were kept for matching: image | row order
    by_image: dict[str, str | None] = field(default_factory=dict)
    by_row: list[str | None] = field(default_factory=list)


def _scan_arff(path: Path, keep: str | None) -> _ArffScan:
    """One pass over the ARFF. ``keep``: "image" or "row order" to keep each row's cluster
    for a comparison (by position when the ARFF names no image), None for counts only."""
    scan = _ArffScan()
    with open_arff(path, FEATURES_ARFF) as arff:
        header = arff.header
        image_at, cluster_at = image_attribute(header), cluster_attribute(header)
        if keep == "image" and image_at is None:
            keep = "row order"
        scan.kept = keep
        scan.attributes, scan.relation = header.attributes, header.relation
        scan.image = header.attributes[image_at].name if image_at is not None else None
        scan.cluster = header.attributes[cluster_at].name if cluster_at is not None else None
        seen: set[str] = set()
        for values in arff.rows():
            scan.rows += 1
            cluster = values[cluster_at] if cluster_at is not None else None
            if cluster_at is not None:
                if cluster is None:
                    scan.missing_clusters += 1
                else:
                    scan.sizes[cluster] += 1
            if image_at is not None:
                key = image_key(values[image_at] or "")
                if key in seen:
                    scan.repeated += 1
                seen.add(key)
                if keep == "image":
                    scan.by_image.setdefault(key, cluster)
            if keep == "row order":
                scan.by_row.append(cluster)
    return scan


def features_stats(arff: Path | None, clusters: Path | None) -> FeaturesStats:
    """The statistics of whichever of the two files is here (at least one must be).

    ArchiveError (exit 6) when a file cannot be read as its format says.
    """
    if arff is None and clusters is None:
        raise ValueError("features_stats needs the ARFF, the clusters file or both")
    keyed_by = None
    if clusters is not None:
        with open_clusters(clusters, CLUSTERS) as table:
            keyed_by = table.layout.keyed_by
    scan = _scan_arff(arff, keyed_by) if arff is not None else None
    check = _check_clusters(clusters, scan) if clusters is not None else None
    notes = []
    if scan is not None and scan.cluster is None:
        notes.append("the ARFF has no cluster attribute")
    if scan is not None and scan.image is None:
        notes.append("the ARFF names no image in its rows: tables meet it by row order")
    from_arff = scan is not None and scan.cluster is not None
    sizes = ordered_sizes(scan.sizes) if from_arff and scan else (check.sizes if check else {})
    return FeaturesStats(
        part=FEATURES,
        arff=str(arff) if arff else None,
        relation=scan.relation if scan else None,
        attributes=scan.attributes if scan else (),
        rows=scan.rows if scan else None,
        image_attribute=scan.image if scan else None,
        cluster_attribute=scan.cluster if scan else None,
        clusters=sizes,
        clusters_from="arff" if from_arff else ("clusters file" if check else None),
        repeated_images=scan.repeated if scan else 0,
        clusters_file=check,
        missing_clusters=scan.missing_clusters if scan else 0,
        notes=notes,
    )


def _check_clusters(path: Path, scan: _ArffScan | None) -> ClustersFileCheck:
    sizes: Counter[str] = Counter()
    rows = compared = disagree = without = 0
    matched_images: set[str] = set()
    with open_clusters(path, CLUSTERS) as table:
        keyed_by = scan.kept if scan is not None and scan.kept else table.layout.keyed_by
        for row in table.rows():
            sizes[row.cluster] += 1
            rows += 1
            if scan is None:
                continue
            if keyed_by == "image":
                key = image_key(row.image or "")
                if key not in scan.by_image:
                    without += 1
                    continue
                matched_images.add(key)
                theirs = scan.by_image[key]
            else:
                if rows > scan.rows:
                    without += 1
                    continue
                theirs = scan.by_row[rows - 1] if scan.by_row else None
            if scan.cluster is not None and theirs is not None:
                compared += 1
                disagree += theirs != row.cluster
    unmatched = 0
    if scan is not None:
        covered = len(matched_images) if keyed_by == "image" else min(rows, scan.rows)
        total = len(scan.by_image) if keyed_by == "image" else scan.rows
        unmatched = total - covered
    return ClustersFileCheck(
        file=str(path),
        rows=rows,
        keyed_by=keyed_by,
        sizes=ordered_sizes(sizes),
        compared=compared,
        disagree=disagree,
        rows_without_instance=without,
        instances_without_row=unmatched,
    )

"""`split --from-predictions MODEL --min-confidence P`: a split of the unlabeled images the
named models labelled alike with at least that confidence, assigned and written like any
other split (see :mod:`dataset.split.pseudo`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import UNLABELED_IMAGES
from hyperkvasir_cli.dataset.tables.predictions import ModelFile

if TYPE_CHECKING:
    from hyperkvasir_cli.dataset.sources import DataSource
    from hyperkvasir_cli.dataset.split.assign import Split
    from hyperkvasir_cli.dataset.split.pseudo import PseudoLabels
    from hyperkvasir_cli.ops.session import Session


@dataclass(frozen=True)
class PseudoSplit:
    split: Split
    labels: PseudoLabels
    provenance: dict[str, object]  # what split.json records as pseudo_labels
    local: DataSource | None  # the unlabeled images here, when extracted or downloaded


def pseudo_split(
    session: Session,
    models_text: str,
    min_confidence: float,
    *,
    strategy: Literal["stratified", "random"],
    folds: int | None,
    ratios: str | None,
    seed: int,
    from_archive: bool,
) -> PseudoSplit:
    """The pseudo-labelled images of the models named in ``models_text`` (comma-separated;
    ``all`` for every model), their inference files fetched when missing, split by
    ``strategy``. UsageError (exit 2) for an unknown model, a confidence outside 0-1, or
    when no image qualifies."""
    from hyperkvasir_cli.dataset.split.assign import make_split, split_shares
    from hyperkvasir_cli.dataset.split.pseudo import check_confidence, pseudo_label_items
    from hyperkvasir_cli.ops.tables import prediction_models, side_file

    check_confidence(min_confidence)
    names = [n.strip() for n in models_text.split(",") if n.strip()]
    models = prediction_models(session.manifest, names or [models_text])
    files = []
    for part in models:
        path = side_file(session, part.name, fetch=True)
        if path is None:
            raise UsageError(
                f"{part.name}: the downloaded file is not the published one",
                hint=f"run `hyperkvasir download {part.name} --force`",
            )
        files.append(ModelFile(part.name, path))
    labels = pseudo_label_items(files, min_confidence)
    session.info(
        f"pseudo labels: {len(labels.items):,} of {labels.images:,} unlabeled images kept "
        f"({labels.disagreeing:,} labelled differently, {labels.below_confidence:,} below "
        f"{min_confidence:g}, {labels.not_in_every_model:,} not in every model's file)"
    )
    if not labels.items:
        raise UsageError(
            f"no unlabeled image was labelled alike by {', '.join(labels.models)} with a "
            f"confidence of at least {min_confidence:g}",
            hint="lower --min-confidence, or name fewer models",
        )
    shares, split_names = split_shares(folds, ratios)
    split = make_split(labels.items, strategy, shares, split_names, seed, folds=folds)
    provenance = {
        **labels.as_json(),
        "files": [
            {"model": f.model, "file": f.path.name, "sha256": _sha256(session, f)} for f in files
        ],
    }
    return PseudoSplit(split, labels, provenance, _unlabeled_here(session, from_archive))


def _sha256(session: Session, model: ModelFile) -> str:
    """The inference file's sha256: the one recorded at download, else hashed now."""
    from hyperkvasir_cli.core.hashing import sha256_file

    record = session.record(model.model)
    if record is not None and record.sha256 and record.size == model.path.stat().st_size:
        return record.sha256
    return sha256_file(model.path)


def _unlabeled_here(session: Session, from_archive: bool) -> DataSource | None:
    """The unlabeled images' tree or zip, when here (imagefolder output links to them)."""
    from hyperkvasir_cli.dataset.sources import locate_source

    if UNLABELED_IMAGES not in session.manifest.names:
        return None
    part = session.manifest.part(UNLABELED_IMAGES)
    try:
        return locate_source(part, session.layout, session.record(part), from_archive=from_archive)
    except UsageError:
        return None

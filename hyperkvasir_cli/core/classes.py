"""The labeled-image classes of HyperKvasir and every spelling users meet them under.

Folder names inside the zip are canonical; the official split files use eight other
spellings. Every function here accepts any spelling and returns the canonical one.
"""

from __future__ import annotations

from dataclasses import dataclass

ORGANS = ("lower-gi-tract", "upper-gi-tract")
CATEGORIES = (
    "anatomical-landmarks",
    "pathological-findings",
    "quality-of-mucosal-views",
    "therapeutic-interventions",
)


@dataclass(frozen=True)
class LabeledClass:
    name: str
    organ: str
    category: str


def _classes(organ: str, category: str, *names: str) -> list[LabeledClass]:
    return [LabeledClass(name, organ, category) for name in names]


LABELED_CLASSES: tuple[LabeledClass, ...] = tuple(
    _classes("lower-gi-tract", "anatomical-landmarks", "cecum", "ileum", "retroflex-rectum")
    + _classes(
        "lower-gi-tract",
        "pathological-findings",
        "hemorrhoids",
        "polyps",
        "ulcerative-colitis-grade-0-1",
        "ulcerative-colitis-grade-1",
        "ulcerative-colitis-grade-1-2",
        "ulcerative-colitis-grade-2",
        "ulcerative-colitis-grade-2-3",
        "ulcerative-colitis-grade-3",
    )
    + _classes(
        "lower-gi-tract", "quality-of-mucosal-views", "bbps-0-1", "bbps-2-3", "impacted-stool"
    )
    + _classes(
        "lower-gi-tract",
        "therapeutic-interventions",
        "dyed-lifted-polyps",
        "dyed-resection-margins",
    )
    + _classes("upper-gi-tract", "anatomical-landmarks", "pylorus", "retroflex-stomach", "z-line")
    + _classes(
        "upper-gi-tract",
        "pathological-findings",
        "barretts",
        "barretts-short-segment",
        "esophagitis-a",
        "esophagitis-b-d",
    )
)

CLASS_BY_NAME: dict[str, LabeledClass] = {c.name: c for c in LABELED_CLASSES}

# The official split files' spellings (SPEC.md, "Class names").
CLASS_ALIASES: dict[str, str] = {
    "normal-cecum": "cecum",
    "hemorroids": "hemorrhoids",
    "polyp": "polyps",
    "normal-pylorus": "pylorus",
    "normal-z-line": "z-line",
    "short-segment-barretts": "barretts-short-segment",
    "oesophagitis-a": "esophagitis-a",
    "oesophagitis-b-d": "esophagitis-b-d",
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def canonical_class(name: str) -> str | None:
    """The canonical class name for any known spelling, or None when it is not a class."""
    key = _normalise(name)
    if key in CLASS_BY_NAME:
        return key
    return CLASS_ALIASES.get(key)


def all_spellings() -> list[str]:
    """Every accepted class spelling, canonical first, for help text and completion."""
    return sorted(CLASS_BY_NAME) + sorted(CLASS_ALIASES)

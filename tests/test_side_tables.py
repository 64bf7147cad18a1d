"""The side-file readers: video and image metadata, ARFF, clusters, predicted labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperkvasir_cli.core.errors import ArchiveError, ExitCode
from hyperkvasir_cli.dataset.tables.arff import open_arff
from hyperkvasir_cli.dataset.tables.clusters import open_clusters
from hyperkvasir_cli.dataset.tables.features import cluster_attribute, image_attribute
from hyperkvasir_cli.dataset.tables.image_metadata import iter_image_metadata
from hyperkvasir_cli.dataset.tables.predictions import (
    PREDICTED_CLASSES,
    class_of_label,
    open_predictions,
)
from hyperkvasir_cli.dataset.tables.video_metadata import read_video_metadata
from tests.side_files import (
    VideoRow,
    arff_text,
    image_metadata_text,
    inference_text,
    video_metadata_text,
    write,
)


def arff_rows(path: Path) -> list[list[str | None]]:
    with open_arff(path) as arff:
        return list(arff.rows())


# ---- video metadata -------------------------------------------------------------------


def test_video_metadata_rows_as_published(tmp_path: Path) -> None:
    rows = [
        VideoRow(
            "7e3731a7-51f6-4415-9038-41322f6e4746.avi",
            "polyp resected",
            720,
            576,
            10180,
            25,
            286_168_000,
        ),
        VideoRow("Polypp 5.avi", "polyp, NBI", 720, 576, 5537, 25, 129_604_000),
    ]
    path = write(tmp_path / "hyper-kvasir-video-metadata.csv", video_metadata_text(rows))
    found = read_video_metadata(path)
    first = found["7e3731a7-51f6-4415-9038-41322f6e4746.avi"]
    assert (first.frames, first.fps, first.length, first.width) == (10180, 25.0, 407, 720)
    assert first.seconds == 407.2 and first.kilobytes == 286_168_000 >> 10
    assert found["Polypp 5.avi"].finding == "polyp, NBI"


def test_video_metadata_script_header_also_reads(tmp_path: Path) -> None:
    text = "file-name;main-finding;width;height;number-of-frames;fps;length;kilobytes\n"
    text += "a.avi;None;576;576;415;25;16;3649\n"
    assert read_video_metadata(write(tmp_path / "m.csv", text))["a.avi"].frames == 415


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("file-name;finding\n", 1, "expected the header"),
        (
            "file-name;finding;width;height;number-of-frames;fps;length;kilobytes\na.avi;x;1\n",
            2,
            "8 fields",
        ),
        (
            "file-name;finding;width;height;number-of-frames;fps;length;kilobytes\n"
            "a.avi;x;720;576;many;25;1;1\n",
            2,
            "number-of-frames",
        ),
        (
            "file-name;finding;width;height;number-of-frames;fps;length;kilobytes\n"
            "a.avi;x;720;576;1;25;0;1\na.avi;x;720;576;1;25;0;1\n",
            3,
            "listed twice",
        ),
    ],
)
def test_bad_video_metadata_exits_6_naming_the_line(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    path = write(tmp_path / "m.csv", text)
    with pytest.raises(ArchiveError) as caught:
        read_video_metadata(path, "video-metadata")
    assert caught.value.exit_code == ExitCode.ARCHIVE
    assert f"line {line}:" in str(caught.value) and says in str(caught.value)
    assert "hyperkvasir download video-metadata --force" in (caught.value.hint or "")


def test_metadata_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"file-name;class-name;width;height;kilobytes\n\xff\xfe;x;1;1;1\n")
    with pytest.raises(ArchiveError, match="not UTF-8"):
        list(iter_image_metadata(path))


# ---- image metadata -------------------------------------------------------------------


def test_image_metadata_rows_with_canonical_classes(tmp_path: Path) -> None:
    text = image_metadata_text(
        [("a.jpg", "polyp", 720, 576, 50_000), ("b.jpg", "unlabeled", 1, 1, 0)]
    )
    rows = list(iter_image_metadata(write(tmp_path / "i.csv", text)))
    assert [(r.file_name, r.label, r.width, r.kilobytes) for r in rows] == [
        ("a.jpg", "polyps", 720, 48),
        ("b.jpg", None, 1, 0),
    ]


# ---- ARFF -----------------------------------------------------------------------------


def test_arff_header_types_and_the_columns_found_by_name(tmp_path: Path) -> None:
    text = """% comment
@RELATION 'global features'
@ATTRIBUTE filename STRING
@attribute 'JCD 0' numeric
@attribute count INTEGER
@attribute tamura real
@attribute when date "yyyy-MM-dd"
@attribute kind {a, 'b c', d}
@attribute Cluster {cluster0,cluster1}

@DATA
'x.jpg',0.5,3,1,'2020-01-01',a,cluster0
"""
    with open_arff(write(tmp_path / "f.arff", text)) as arff:
        header = arff.header
        rows = list(arff.rows())
    assert header.relation == "global features"
    assert [(a.name, a.type) for a in header.attributes] == [
        ("filename", "string"),
        ("JCD 0", "numeric"),
        ("count", "integer"),
        ("tamura", "real"),
        ("when", "date"),
        ("kind", "nominal"),
        ("Cluster", "nominal"),
    ]
    assert header.attributes[5].values == ("a", "b c", "d")
    assert header.attributes[4].date_format == "yyyy-MM-dd"
    assert image_attribute(header) == 0 and cluster_attribute(header) == 6
    assert rows == [["x.jpg", "0.5", "3", "1", "2020-01-01", "a", "cluster0"]]


def test_arff_values_quoted_missing_commented_sparse_and_weighted(tmp_path: Path) -> None:
    text = """@relation r
@attribute name string
@attribute f numeric
@attribute g numeric
@attribute kind {k1,k2}
@data
'it\\'s, quoted.jpg',1.5,2,k2
"double \\"q\\".jpg", ?, 3 , k1 % a comment after the values
% a comment line
plain.jpg,0,0,k2,{0.5}

{0 'sparse.jpg', 2 7}
{}
"""
    assert arff_rows(write(tmp_path / "f.arff", text)) == [
        ["it's, quoted.jpg", "1.5", "2", "k2"],
        ['double "q".jpg', None, "3", "k1"],
        ["plain.jpg", "0", "0", "k2"],
        ["sparse.jpg", "0", "7", "k1"],
        ["", "0", "0", "k1"],
    ]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("@relation r\n@attribute a numeric\n", 2, "without @data"),
        ("@relation r\n@data\n1\n", 2, "before any @attribute"),
        (
            "@relation r\n@attribute a numeric\n@attribute a numeric\n@data\n",
            3,
            "'a' is declared twice",
        ),
        ("@relation r\n@attribute a relational\n@data\n", 2, "relational"),
        ("@relation r\n@attribute a colour\n@data\n", 2, "unknown type"),
        ("@relation r\n@attribute a {x,y\n@data\n", 2, "do not end"),
        ("@relation r\nhello\n", 2, "expected @relation"),
        (
            "@relation r\n@attribute a numeric\n@attribute b numeric\n@data\n1,2\n1\n",
            6,
            "expected 2 values, found 1",
        ),
        ("@relation r\n@attribute a string\n@data\n'open\n", 4, "not closed"),
        ("@relation r\n@attribute a numeric\n@data\n{5 1}\n", 4, "sparse index"),
    ],
)
def test_bad_arff_exits_6_naming_the_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = write(tmp_path / "f.arff", text)
    with pytest.raises(ArchiveError) as caught:
        arff_rows(path)
    assert f"{path} line {line}:" in str(caught.value)
    assert says in str(caught.value)


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(_TEXT, st.floats(allow_nan=False, allow_infinity=False) | st.none()),
        max_size=6,
    )
)
def test_arff_written_with_weka_quoting_reads_back_the_same(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, float | None]]
) -> None:
    def quote(value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("%", "\\%")
        return "'" + escaped.replace("\t", "\\t") + "'"

    lines = ["@relation r", "@attribute name string", "@attribute x numeric", "@data"]
    lines += [f"{quote(n)},{'?' if x is None else repr(x)}" for n, x in rows]
    path = write(tmp_path_factory.mktemp("arff") / "f.arff", "\n".join(lines) + "\n")
    assert arff_rows(path) == [[n, None if x is None else repr(x)] for n, x in rows]


def test_arff_rows_are_streamed_not_read_whole(tmp_path: Path) -> None:
    text = arff_text([(f"{i}.jpg", [i, 2 * i, 0.5], "cluster0") for i in range(3)])
    path = write(tmp_path / "f.arff", text + "this line is broken\n")
    with open_arff(path) as arff:
        rows = arff.rows()
        assert next(rows)[0] == "0.jpg"  # read before the broken line is reached
        next(rows), next(rows)
        with pytest.raises(ArchiveError, match="line 14: expected 5 values"):
            next(rows)


# ---- clusters.csv ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keyed_by", "first"),
    [
        ("filename,cluster\na.jpg,3\n", "image", ("a.jpg", "3")),
        ("File Name;Cluster\na.jpg;cluster3\n", "image", ("a.jpg", "cluster3")),
        ("Instance_number,Cluster\n0,cluster1\n", "row order", (None, "cluster1")),
    ],
)
def test_clusters_file_columns_found_by_name(
    tmp_path: Path, text: str, keyed_by: str, first: tuple[str | None, str]
) -> None:
    with open_clusters(write(tmp_path / "clusters.csv", text)) as table:
        assert table.layout.keyed_by == keyed_by
        row = next(table.rows())
    assert (row.image, row.cluster) == first


def test_clusters_file_without_a_cluster_column_exits_6(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="column named cluster"):
        open_clusters(write(tmp_path / "clusters.csv", "a,b\n1,2\n")).__enter__()


# ---- predicted labels -----------------------------------------------------------------


def test_inference_rows_as_the_scripts_write_them(tmp_path: Path) -> None:
    text = inference_text([("u1.jpg", 13, 0.998), ("u2.jpg", 0, 0.51)])
    with open_predictions(write(tmp_path / "p.csv", text)) as table:
        rows = list(table.rows())
    assert [(r.file_name, r.label, r.confidence) for r in rows] == [
        ("u1.jpg", "polyps", 0.998),
        ("u2.jpg", "barretts", 0.51),
    ]


def test_label_table_is_the_repositorys_in_canonical_names() -> None:
    assert len(PREDICTED_CLASSES) == len(set(PREDICTED_CLASSES)) == 23
    # README "Image Labels": 5 hemorrhoids, 13 polyp, 17 ulcerative-colitis-0-1, 20 grade-1.
    assert [class_of_label(t) for t in ("5", "13", "17", "20", "22.0")] == [
        "hemorrhoids",
        "polyps",
        "ulcerative-colitis-grade-0-1",
        "ulcerative-colitis-grade-1",
        "ulcerative-colitis-grade-3",
    ]
    assert class_of_label("N") == class_of_label("polyp") == "polyps"
    assert class_of_label("23") is None and class_of_label("X") is None


def test_inference_with_class_name_columns_reads_too(tmp_path: Path) -> None:
    names = ",".join(PREDICTED_CLASSES)
    scores = ",".join("0.9" if n == "z-line" else "0.0" for n in PREDICTED_CLASSES)
    text = (
        f",filename,predicted-label,actual-label,{names}\n0,a.jpg,normal-z-line,z-line,{scores}\n"
    )
    with open_predictions(write(tmp_path / "p.csv", text)) as table:
        row = next(table.rows())
    assert (row.label, row.confidence) == ("z-line", 0.9)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("image,label\na.jpg,1\n", "expected the columns filename and predicted-label"),
        ("filename,predicted-label,A,colour\na.jpg,1,0.5,x\n", "'colour'"),
        ("filename,predicted-label,A\na.jpg,23,0.5\n", "line 2: predicted-label '23'"),
        ("filename,predicted-label,A\na.jpg,0,high\n", "line 2: the score of barretts"),
        ("filename,predicted-label,A\na.jpg,0\n", "line 2: expected 3 fields"),
    ],
)
def test_bad_inference_file_exits_6(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path / "p.csv", text)
    with pytest.raises(ArchiveError) as caught, open_predictions(path) as table:
        list(table.rows())
    assert says in str(caught.value)

"""The mutation check (tests/mutate.py) follows the code: every snippet it breaks is still
in its file exactly once, and every test it runs still exists. When this fails after a
change, update tests/mutations.py, then run `python -m tests.mutate`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.mutate import ROOT, check_snippet
from tests.mutations import MUTATIONS, Mutation


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_snippet_is_in_its_file_once(mutation: Mutation) -> None:
    check_snippet(mutation)
    assert mutation.replacement != mutation.snippet


def test_names_are_unique() -> None:
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_tests_it_runs_exist(mutation: Mutation) -> None:
    for selection in mutation.tests:
        file, _, name = selection.partition("::")
        path = ROOT / file
        assert path.is_file(), f"mutation {mutation.name!r}: no test file {file}"
        if name:
            defined = {
                node.name
                for node in ast.walk(ast.parse(Path(path).read_text("utf-8")))
                if isinstance(node, ast.FunctionDef)
            }
            assert name in defined, f"mutation {mutation.name!r}: no test {selection}"

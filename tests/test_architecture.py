"""The package's architecture, checked on its source: the layers' arrows point down.

The public face (`__init__`, `api`) -> `cli` and `ops` -> the wings (`transfer`,
`archive`, `check`, `dataset`, `export`) -> `core`. No module imports the public face; no
library module imports `cli`; no command imports another command; no two modules import
each other in a loop (imports under `TYPE_CHECKING` and inside functions aside: they run
late, which is how heavy libraries stay out of `--help`); the package's top folder holds
few modules, the rest live in subpackages by concern.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = "hyperkvasir_cli"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
ENTRY_POINTS = {f"{PACKAGE}.__main__"}  # the program itself, not the library
MAX_TOP_MODULES = 10


@dataclass(frozen=True)
class Import:
    module: str  # the module imported (a module of the package, or anything else)
    line: int
    eager: bool  # runs when the importing module loads (not in a function or TYPE_CHECKING)
    typing_only: bool = False  # under TYPE_CHECKING: never runs


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return any(
        isinstance(node, ast.Name | ast.Attribute)
        and (getattr(node, "id", None) or getattr(node, "attr", None)) == "TYPE_CHECKING"
        for node in ast.walk(test)
    )


def _resolve(name: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _imports(
    name: str, path: Path, body: list[ast.stmt], eager: bool, typing_only: bool = False
) -> Iterator[Import]:
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno, eager, typing_only)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, path, node)
            yield Import(source, node.lineno, eager, typing_only)
            for alias in node.names:  # `from package import module`
                if f"{source}.{alias.name}" in modules():
                    yield Import(f"{source}.{alias.name}", node.lineno, eager, typing_only)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _imports(name, path, node.body, False, typing_only)
        elif isinstance(node, ast.If):
            typing = typing_only or _is_type_checking(node.test)
            late = not eager or typing
            yield from _imports(name, path, node.body, eager and not late, typing)
            yield from _imports(name, path, node.orelse, eager, typing_only)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.AST):
                    yield from _imports(name, path, inner, eager, typing_only)  # type: ignore[arg-type]


@cache
def imports_of(name: str) -> tuple[Import, ...]:
    path = modules()[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return tuple(_imports(name, path, tree.body, True))


def own_modules(module: str) -> list[str]:
    """The package's modules that importing ``module`` loads: it and its packages."""
    parts = module.split(".")
    return [m for m in (".".join(parts[:i]) for i in range(len(parts), 0, -1)) if m in modules()]


def eager_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in modules():
        targets = {
            target
            for found in imports_of(name)
            if found.eager
            for target in own_modules(found.module)
            if target != name
        }
        graph[name] = targets
    return graph


def running_graph() -> dict[str, set[str]]:
    """Every import that runs, late ones (inside functions) included; TYPE_CHECKING
    imports and packages' ``__init__`` (each a face that hands names on) aside."""
    faces = {name for name, path in modules().items() if path.name == "__init__.py"}
    return {
        name: {
            found.module
            for found in imports_of(name)
            if not found.typing_only and found.module in modules()
        }
        - faces
        - {name}
        for name in modules()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def is_cli(module: str) -> bool:
    return module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli.")


def test_no_library_module_imports_the_command_layer() -> None:
    offenders = [
        f"{name}:{found.line} imports {found.module}"
        for name in modules()
        if not is_cli(name) and name not in ENTRY_POINTS
        for found in imports_of(name)
        if is_cli(found.module)
    ]
    assert offenders == []


def test_no_command_imports_another_command() -> None:
    commands = f"{PACKAGE}.cli.commands."
    offenders = [
        f"{name}:{found.line} imports {found.module}"
        for name in modules()
        if name.startswith(commands)
        for found in imports_of(name)
        if found.module.startswith(commands) and found.module != name
    ]
    assert offenders == []


def test_no_module_imports_the_public_face() -> None:
    """The package's `__init__` exports the API, which stands on everything else: a module
    that imported it (for the version, say) would point an arrow back up."""
    offenders = [
        f"{name}:{found.line}"
        for name in modules()
        if name not in (PACKAGE, *ENTRY_POINTS)
        for found in imports_of(name)
        if found.module == PACKAGE
    ]
    assert offenders == []


def test_no_modules_import_each_other_in_a_loop() -> None:
    assert cycles(eager_graph()) == []


def test_no_modules_call_each_other_in_a_loop_even_through_late_imports() -> None:
    # A late import keeps a heavy library out of start-up; it is no licence for two
    # modules to lean on each other: what both need belongs below them.
    assert cycles(running_graph()) == []


def test_the_cycle_finder_finds_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_top_folder_holds_few_modules_and_the_rest_is_in_subpackages() -> None:
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    library = [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "cli"]
    assert len(library) >= 3, library


def test_late_imports_are_told_apart_from_eager_ones() -> None:
    """The walk itself: the session's imports of the config (inside functions) and of
    the layout (under TYPE_CHECKING) are late, its import of the clock is eager."""
    found = {(i.module, i.eager) for i in imports_of(f"{PACKAGE}.ops.session")}
    assert (f"{PACKAGE}.core.clock", True) in found
    assert (f"{PACKAGE}.core.config", False) in found
    assert (f"{PACKAGE}.core.layout", False) in found
    assert (f"{PACKAGE}.core.layout", True) not in found

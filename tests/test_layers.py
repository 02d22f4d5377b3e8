"""The layers of hamaster, read from the source with `ast`: who may import whom (README "Layout").

Every import counts, at the top of a module or inside a function (a lazy import is still a dependency),
except those under `if TYPE_CHECKING:`, which never run. An `ast` walk rather than import-linter: no
dependency for ~100 lines, it reads hamaster's namespace package and its folder-to-package mapping
(pyproject's package-dir) as they are, and each contract is a test of its own, so one that is known to be
broken can be marked xfail with its reason while the others keep guarding.
"""

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    importer: str  # the module that imports
    imported: str  # the module imported (for `from a import b`: a.b if that is a module, else a)
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


@cache
def modules() -> dict[str, Path]:
    """hamaster's modules by dotted name, found through pyproject's package-dir (hamaster.core = core/ ...)."""
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    found = {}
    for package, folder in package_dir.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            found[".".join([package, *(p for p in parts if p != "__init__")])] = path
    return found


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node below `body`, leaving out the blocks of `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _statements(node.orelse)
            continue
        yield node
        for child in ast.iter_child_nodes(node):
            yield from _statements([child]) if isinstance(child, ast.stmt) else ast.walk(child)


def _owner(name: str) -> str:
    """The hamaster module `name` is, or lives in (a function or class imported from it)."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """The hamaster modules and the third-party or standard modules that `module` imports."""
    path = modules()[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules() else base for a in node.names]
        else:
            continue
        for name in names:
            target = _owner(name) if name.startswith("hamaster.") else name
            if target and target != module:
                found.append(Import(module, target, node.lineno))
    return tuple(found)


def all_imports() -> Iterator[Import]:
    for module in sorted(modules()):
        yield from imports_of(module)


def inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def crossings(importers: str, allowed: tuple[str, ...]) -> list[str]:
    """Imports of hamaster from `importers` that reach outside `allowed`."""
    return [str(i) for i in all_imports() if inside(i.importer, importers) and i.imported.startswith("hamaster.")
            and not any(inside(i.imported, a) for a in allowed)]


def test_the_walk_sees_the_whole_tree() -> None:
    """A contract over no modules cannot fail: the walk must find every package and their imports."""
    names = modules()
    for package in ("hamaster.core", "hamaster.master.intake", "hamaster.master.store", "hamaster.minion.hook",
                    "hamaster.notify", "hamaster.lab", "hamaster.master.cli"):
        assert package in names
    assert len([i for i in all_imports() if i.imported.startswith("hamaster.")]) > 100


@cache
def names_defined(module: str) -> frozenset[str]:
    """What `from MODULE import NAME` can find: its top-level defs, classes, assignments and imports."""
    path = modules()[module]
    names = set()
    for node in _statements(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(names)


def broken_imports(module: str) -> list[str]:
    """`from hamaster.X import y` where neither a module hamaster.X.y nor a name y in hamaster.X exists: a lazy
    import that a move left behind fails only when its function first runs."""
    path = modules()[module]
    broken = []
    for node in _statements(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            broken += [f"line {node.lineno}: import {a.name}" for a in node.names
                       if a.name.startswith("hamaster.") and a.name not in modules()]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("hamaster."):
            base = node.module or ""
            if base not in modules():
                broken.append(f"line {node.lineno}: from {base} (no such module)")
                continue
            broken += [f"line {node.lineno}: from {base} import {a.name}" for a in node.names
                       if f"{base}.{a.name}" not in modules() and a.name not in names_defined(base)]
    return broken


@pytest.mark.parametrize("module", sorted(modules()))
def test_every_import_of_hamaster_names_what_exists(module: str) -> None:
    assert broken_imports(module) == []


def test_core_imports_nothing_else_of_hamaster() -> None:
    assert crossings("hamaster.core", ("hamaster.core",)) == []


def test_the_minion_imports_only_core() -> None:
    assert crossings("hamaster.minion", ("hamaster.minion", "hamaster.core")) == []


def test_notify_imports_only_core() -> None:
    assert crossings("hamaster.notify", ("hamaster.notify", "hamaster.core")) == []


def test_nothing_below_the_cli_imports_it() -> None:
    assert [str(i) for i in all_imports()
            if inside(i.imported, "hamaster.master.cli") and not inside(i.importer, "hamaster.master.cli")] == []


def test_the_web_imports_only_core_and_master_below_the_cli() -> None:
    """The dashboard reads the store through its layer; it is its own process, started by the CLI."""
    assert crossings("hamaster.master.web", ("hamaster.core", "hamaster.master")) == []
    assert [str(i) for i in all_imports() if inside(i.importer, "hamaster.master.web")
            and inside(i.imported, "hamaster.master.cli")] == []
    assert any(inside(i.imported, "hamaster.master.store") for i in all_imports()
               if inside(i.importer, "hamaster.master.web"))  # the walk sees the package


def test_the_lab_is_imported_only_by_the_cli() -> None:
    """(and by tests and benches, which are not in the package)"""
    assert [str(i) for i in all_imports() if inside(i.imported, "hamaster.lab")
            and not inside(i.importer, "hamaster.lab") and not inside(i.importer, "hamaster.master.cli")] == []


def test_the_keepalived_hook_imports_only_os_sys_time_and_timeutil() -> None:
    """keepalived waits for the hook on every transition: its start-up is the bare interpreter's, so it runs
    the hook module and the package __init__s on its way, which must import nothing more."""
    allowed = {"os", "sys", "time", "hamaster.core.timeutil"}
    for module in ("hamaster.minion.hook", "hamaster.minion", "hamaster.core"):
        assert {i.imported for i in imports_of(module)} <= allowed, module


# Cycles that lazy imports keep from failing at import time. Each is a pair of modules that need each other;
# a new one fails the test below. Known ones, with why they are left (see issue 12):
KNOWN_CYCLES = {
    # the registry in statemods/__init__ loads each state module, which imports the registry's base types
    frozenset({"hamaster.minion.statemods", "hamaster.minion.statemods.cmd", "hamaster.minion.statemods.drain",
               "hamaster.minion.statemods.file",
               "hamaster.minion.statemods.pkg", "hamaster.minion.statemods.readiness",
               "hamaster.minion.statemods.service"}),
    # formats.py loads the table writer on first use; table.py takes the formatting helpers from formats.py
    frozenset({"hamaster.master.timeline.formats", "hamaster.master.timeline.table"}),
    # protocol.py loads its msgspec decoders (wire.py) on first use, so the CLI and the executor start fast;
    # wire.py takes the limits and Refused from protocol.py
    frozenset({"hamaster.core.protocol", "hamaster.core.wire"}),
}


def cycles() -> list[frozenset[str]]:
    """The strongly connected sets of two or more modules in the import graph (Tarjan's algorithm)."""
    graph = {m: {i.imported for i in imports_of(m) if i.imported in modules()} for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = {stack.pop()}
            while v not in group:
                group.add(stack.pop())
            if len(group) > 1:
                found.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_but_the_known_ones() -> None:
    assert [sorted(c) for c in cycles() if c not in KNOWN_CYCLES] == []

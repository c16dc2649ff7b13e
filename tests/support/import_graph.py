"""The module-level import graph of our packages, read from the source with `ast`, and the
import cycles in it.

Only imports that run when a module is imported count: statements at module level, including
inside module-level `if`/`try`/`with` blocks, but not under `if TYPE_CHECKING:` (typing only)
and not inside functions or classes' methods (run later, on call). An edge goes to the module
named: `from a.b import c` is an edge to `a.b.c` when that is a module, else to `a.b`; the
implicit import of parent packages is not an edge (a package's `__init__` re-exporting its
submodules is not a cycle with them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

Graph = dict[str, set[str]]


def modules(root: Path, packages: Iterable[str]) -> dict[str, tuple[Path, bool]]:
    """Module name -> (its file, whether it is a package's `__init__`)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_at_import(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If):
            if not _type_checking(node.test):
                yield from _run_at_import(node.body)
            yield from _run_at_import(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _run_at_import(block)
            for handler in node.handlers:
                yield from _run_at_import(handler.body)
        elif isinstance(node, ast.With):
            yield from _run_at_import(node.body)
        else:
            yield node


def build_graph(root: Path, packages: Iterable[str]) -> Graph:
    known = modules(root, packages)
    graph: Graph = {}
    for name, (path, is_package) in known.items():
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _run_at_import(ast.parse(path.read_text(), str(path)).body):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in known)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    if f"{source}.{alias.name}" in known:
                        targets.add(f"{source}.{alias.name}")
                    elif source in known:
                        targets.add(source)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) for each strongly connected group of modules."""
    search = _StrongGroups(graph)
    for module in sorted(graph):
        if module not in search.index:
            search.visit(module)
    return [_cycle_in(graph, group) for group in search.groups]


class _StrongGroups:
    """Tarjan's algorithm: the groups of more than one module that all reach each other."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.groups: list[set[str]] = []

    def visit(self, module: str) -> None:
        self.index[module] = self.low[module] = len(self.index)
        self.stack.append(module)
        self.on_stack.add(module)
        for target in sorted(self.graph.get(module, ())):
            if target not in self.index:
                self.visit(target)
                self.low[module] = min(self.low[module], self.low[target])
            elif target in self.on_stack:
                self.low[module] = min(self.low[module], self.index[target])
        if self.low[module] == self.index[module]:
            self._close(module)

    def _close(self, root: str) -> None:
        group = set()
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            group.add(member)
            if member == root:
                break
        if len(group) > 1:
            self.groups.append(group)


def _cycle_in(graph: Graph, group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module] & group):
                if target == start:
                    return [*paths[module], start]
                if target not in paths:
                    paths[target] = [*paths[module], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(group)}")  # a strong group always has one

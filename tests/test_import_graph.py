"""The import graph of src/incidentlab has no cycles, counting imports inside functions too.

Every `import` / `from ... import` of an incidentlab module is an edge, wherever it is
written (module level, inside a function, under TYPE_CHECKING), so a lazy import cannot hide a
circle. Package facades are no exception: `incidentlab/__init__.py` loads `incidentlab.api`
on first use (PEP 562), so nothing the API imports may import the package itself; modules take
the version from `incidentlab._version`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line}, for incidentlab modules only."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # `from pkg import sub` imports the submodule; `from mod import name` the module
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module
                           for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "incidentlab.commands.output" in graph["incidentlab.commands.analysis_cmds"]
    assert "incidentlab.api" in graph["incidentlab"]  # the lazy facade import is counted
    assert "incidentlab.reports.postmortem" in graph["incidentlab.reports.sections"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    described = [" -> ".join(c) + "  (" + ", ".join(
        f"{a} imports {b} at line {graph[a][b]}" for a in c for b in graph[a] if b in c) + ")"
        for c in found]
    assert not found, "import cycles:\n" + "\n".join(described)


def test_the_detector_finds_a_cycle() -> None:
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {}}) == [["a", "b", "c"]]


def test_commands_do_not_import_the_cli() -> None:
    graph = import_graph()
    offenders = [m for m, edges in graph.items()
                 if m.startswith("incidentlab.commands") and "incidentlab.cli" in edges]
    assert not offenders

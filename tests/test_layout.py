"""The tree tells the story: one package per capability, layers that point one way, no import cycle.

Read from the source with `ast` (every import, module-level or inside a function), so a new module
that breaks a rule fails here with its name, before anyone has to find the cycle at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "connect_app"

# Each top-level name of connect_app and its layer: a module may import its own layer or lower ones.
# pages and API -> the Jira apps, tracking and creation -> sync, sla -> linking, connections, delivery, impact
# -> customers, platform -> atlassian, models (and the shell's foundations). Commands (`cli`) live
# beside what they command but sit above everything.
LAYERS = {
    "atlassian": 0, "models": 0, "extensions": 0, "config": 0, "crypto": 0, "paths": 0, "logging_setup": 0,
    "platform": 1, "workspaces": 1, "customers": 1, "errors": 1,
    "linking": 2, "connections": 2, "delivery": 2, "impact": 2,
    "sync": 3, "sla": 3,
    "tracking": 4, "jira_app": 4, "creation": 4, "chat": 4,
    "api": 5, "web": 5, "pages": 5, "health": 5,
    "cli": 6, "demo": 6, "jobs": 6, "__init__": 6,
}
# The top level holds the app shell only; capabilities live in packages.
TOP_LEVEL_MODULES = {"__init__", "cli", "config", "crypto", "demo", "errors", "extensions", "health", "jobs",
                     "logging_setup", "paths", "workspaces"}
CLIENT_PRIVATE = {"_send", "_json", "_jira", "_path", "_paged"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The connect_app modules a file imports (a `from package import name` counts the submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("connect_app"):
                found.add(name)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def layer_of(name: str) -> str:
    """The top-level name a module belongs to; a command (`<package>.cli`) sits with the CLI, above everything."""
    parts = name.split(".")
    if parts[-1] == "cli":
        return "cli"
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_inside_connect_app():
    assert cycles(GRAPH) == []


def test_layers_point_one_way():
    upward = [f"{name} -> {other}" for name, targets in GRAPH.items() for other in targets
              if LAYERS[layer_of(other)] > LAYERS[layer_of(name)]]
    assert upward == []


def test_every_top_level_name_has_a_layer_and_the_top_level_holds_no_domain_module():
    tops = {layer_of(name) for name in MODULES}
    assert tops <= set(LAYERS)
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == TOP_LEVEL_MODULES


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer_of(n) == "atlassian"))
def test_atlassian_is_pure_protocol_code(name):
    tree = ast.parse(MODULES[name].read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in imported if m.split(".")[0] == "flask"}
    assert all(layer_of(m) == "atlassian" for m in GRAPH[name])


def test_nothing_outside_atlassian_touches_the_jira_clients_private_members():
    touched = [f"{name}: .{node.attr}" for name, path in MODULES.items() if layer_of(name) != "atlassian"
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Attribute) and node.attr in CLIENT_PRIVATE]
    assert touched == []

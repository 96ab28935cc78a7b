"""The core's shape: dependencies point down, and no framework leaks into it.

These read the source (no import side effects), so a new cycle or a stray
``import flask`` fails here with the modules named, not as a confusing
import error somewhere else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import crashbot_core

CORE = Path(crashbot_core.__file__).parent

#: Frameworks the core must not import: adapters and plugins translate.
FORBIDDEN = {
    "flask",
    "werkzeug",
    "slack_bolt",
    "slack_sdk",
    "discord",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "httpx",
    "requests",
}

#: Modules that ``Crashbot`` composes: none may import the facade.
PARTS = ["commands", "corrections", "figures", "intake", "outbox", "reads", "tokens"]


def _module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs (module level or inside functions), not those for typing only."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _runtime_imports(child)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _edges(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(core modules ``name`` imports at run time, top-level external packages it imports)."""
    inner: set[str] = set()
    outer: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            if target.split(".")[0] == "crashbot_core":
                inner.add(target)
            else:
                outer.add(target.split(".")[0])
    inner.discard(name)
    return inner, outer


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _edges(name, path, known)[0] & known for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_core_has_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The check above is only worth something if it can fail.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _cycles(graph) == [["a", "b", "c"]]


def test_imports_for_typing_only_do_not_count_as_edges() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from crashbot_core.service import Crashbot\n"
        "def f():\n"
        "    from crashbot_core import lifecycle\n"
    )

    names = [n.module for n in _runtime_imports(tree) if isinstance(n, ast.ImportFrom)]

    assert names == ["typing", "crashbot_core"]


def test_the_parts_the_facade_composes_never_import_it() -> None:
    graph = _graph()
    for part in PARTS:
        assert "crashbot_core.service" not in graph[f"crashbot_core.{part}"], part
        assert "crashbot_core" not in graph[f"crashbot_core.{part}"], part


def test_the_core_imports_no_web_chat_or_sql_framework() -> None:
    modules = _modules()
    known = set(modules)
    leaks = {
        name: sorted(_edges(name, path, known)[1] & FORBIDDEN)
        for name, path in modules.items()
        if _edges(name, path, known)[1] & FORBIDDEN
    }

    assert leaks == {}


def test_no_core_module_grows_past_its_room() -> None:
    # One room per job: a module past ~400 lines is doing two jobs.
    sizes = {
        name: len(path.read_text().splitlines())
        for name, path in _modules().items()
        if name.rpartition(".")[2] in [*PARTS, "service", "commit", "grouping"]
    }

    assert {name: n for name, n in sizes.items() if n > 480} == {}

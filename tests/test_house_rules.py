"""The house rules, read from the code's own imports, lazy ones inside functions included:
a lazy import keeps start-up light, it does not make a cycle or a crossed layer acceptable."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from tests.support.paths import ROOT

PACKAGES = ("bridge", "connectors")
# The client libraries the platform packages wrap (their requirements in pyproject.toml).
PLATFORM_LIBRARIES = ("shopify", "woocommerce")
NETWORK_AND_DB_LIBRARIES = ("requests", "smtplib", "sqlalchemy", "socket", "httpx", "apprise")
# What a connector may use of bridge/: leaf modules that import nothing of the service.
BRIDGE_FOR_CONNECTORS = ("bridge.failures", "bridge.model", "bridge.quick_retry",
                         "bridge.settings_types")  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _imports() -> dict[str, frozenset[str]]:
    graph: dict[str, frozenset[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    # the project imports absolutely; a relative one would escape these rules
                    assert not node.level and node.module, f"relative import in {path}"
                    names.update(f"{node.module}:{alias.name}" for alias in node.names)
            graph[_module_name(path)] = frozenset(names)
    # `from package import submodule` depends on the submodule, not on the package's own code
    return {
        module: frozenset(_resolve(name, graph) for name in names)
        for module, names in graph.items()
    }


def _resolve(name: str, modules: dict[str, frozenset[str]]) -> str:
    package, _, attribute = name.partition(":")
    if attribute and f"{package}.{attribute}" in modules:
        return f"{package}.{attribute}"
    return package


def _project_edges(module: str) -> Iterator[str]:
    graph = _imports()
    for name in graph[module]:
        if name in graph and name != module:
            yield name


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in _project_edges(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while (top := stack.pop()) != module:
                component.append(top)
            component.append(module)
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(_imports()):
        if module not in index:
            visit(module)
    return found


def _importers_of(prefixes: tuple[str, ...], inside: str) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in _imports().items()
        if module == inside or module.startswith(f"{inside}.")
        for name in names
        if name.split(".")[0] in prefixes
    )


def test_no_module_imports_itself_back_through_others() -> None:
    assert _cycles() == []


def test_bridge_never_imports_a_platform_library() -> None:
    assert _importers_of(PLATFORM_LIBRARIES, "bridge") == []


def test_invoicing_imports_no_network_or_database_library() -> None:
    assert _importers_of(NETWORK_AND_DB_LIBRARIES, "bridge.invoicing") == []


def test_rendering_imports_no_network_or_database_library() -> None:
    assert _importers_of(NETWORK_AND_DB_LIBRARIES, "bridge.render") == []


def test_the_platform_packages_are_the_registered_platforms() -> None:
    from connectors.registry import PLATFORMS

    assert sorted(p.name for p in PLATFORMS) == sorted(PLATFORM_LIBRARIES)


def test_sql_lives_in_the_store() -> None:
    outside = [
        line
        for line in _importers_of(("sqlalchemy",), "bridge")
        if not line.startswith("bridge.store")
        # the failure vocabulary names the database's errors to call them transient
        and line != "bridge.failures imports sqlalchemy.exc"
    ]
    assert outside == []


def test_connectors_use_only_the_leaf_modules_of_bridge() -> None:
    imports = _importers_of(("bridge",), "connectors")
    outside = [line for line in imports if line.split(" imports ")[1] not in BRIDGE_FOR_CONNECTORS]
    assert outside == []

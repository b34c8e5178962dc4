"""The package's import graph has no cycle, and nothing dodges one with an import inside a function.

Issue 12: `jobs` -> `jobs.distributed` -> `jobs.celery_app` -> `jobs.compute` -> `planning` ->
`services` -> `jobs` was a cycle held open only by imports inside functions. The graph is
read from the source (the AST), not from what happens to be imported at run time, so that a
cycle through a rarely run function is caught as surely as one at import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

PACKAGE = "merit_order"
ROOT = Path(str(resources.files(PACKAGE)))

#: Modules allowed to import merit_order modules inside functions, and why. Nothing else may.
FUNCTION_LEVEL_ALLOWED = {
    "merit_order.cli": "each subcommand loads only what it runs: `merit-order plan` must not pay for "
    "uvicorn, Celery or the schedule solver's compiled kernels before it reads its payload",
}

#: The composition root, and the only modules that may import it.
BOOTSTRAP = "merit_order.bootstrap"
BOOTSTRAP_IMPORTERS = {"merit_order.api.app", "merit_order.cli"}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """Every import of a merit_order module in `path`, resolved (relative ones too)."""
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def resolve(module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, in_function)
                continue  # annotations only: never executed
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                module = resolve(child.module, child.level)
                for alias in child.names:
                    submodule = f"{module}.{alias.name}"
                    targets.append(submodule if submodule in known else module)
            for target in targets:
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    found.append(Import(name, target, getattr(child, "lineno", 0), in_function))
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def all_imports() -> list[Import]:
    found = modules()
    known = set(found)
    return [imp for name, path in found.items() for imp in imports_of(name, path, known)]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := walk(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := walk(node)) is not None:
            return cycle
    return None


def test_the_walk_sees_the_package_and_its_imports() -> None:
    """Guards the test itself: an AST walk that found nothing would pass everything below."""
    imports = all_imports()
    pairs = {(imp.source, imp.target) for imp in imports}
    assert ("merit_order.api.app", BOOTSTRAP) in pairs
    assert ("merit_order.jobs.compute", "merit_order.calculator.document") in pairs  # a relative import, resolved
    assert any(imp.in_function for imp in imports if imp.source == "merit_order.cli")


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_the_package_modules() -> None:
    edges: dict[str, set[str]] = {}
    for imp in all_imports():
        if imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_package_module_is_imported_inside_a_function_unless_allowed_with_a_reason() -> None:
    late = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        for imp in all_imports()
        if imp.in_function and imp.source not in FUNCTION_LEVEL_ALLOWED
    ]
    assert late == [], "imports inside functions (move them to the top, or break the cycle they hide):\n" + "\n".join(late)
    assert all(reason.strip() for reason in FUNCTION_LEVEL_ALLOWED.values())


def test_only_the_app_factory_and_the_cli_import_the_composition_root() -> None:
    importers = {imp.source for imp in all_imports() if imp.target == BOOTSTRAP}
    assert importers <= BOOTSTRAP_IMPORTERS, f"{sorted(importers - BOOTSTRAP_IMPORTERS)} import {BOOTSTRAP}"
    assert "merit_order.api.app" in importers


@pytest.mark.slow
def test_a_worker_imports_neither_the_web_framework_nor_the_api_side() -> None:
    """A Celery worker loads the job code and the calculator: no Starlette, no planning or bootstrap."""
    probe = (
        "import sys, merit_order.jobs.celery_app\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = set(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split())
    assert "merit_order.jobs.compute" in loaded and "merit_order.calculator.document" in loaded
    web = sorted(m for m in loaded if m.split(".")[0] in ("starlette", "fastapi", "uvicorn"))
    assert web == []
    api_side = sorted(loaded & {"merit_order.planning", "merit_order.services", BOOTSTRAP, "merit_order.api"})
    assert api_side == []

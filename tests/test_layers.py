"""The layers of ARCHITECTURE.md, checked by walking every module's imports: no module imports a
layer above its own (lazy imports inside functions count; only `if TYPE_CHECKING:` blocks do not),
workers and the GraphQL layer do not import each other, and module-level imports form no cycle."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("infra", "db", "domain", "workers", "resolvers", "schema", "parley")

INFRA, VOCABULARY, DB, DOMAIN, SERVICES, EDGE = range(6)
LAYER_NAMES = {
    INFRA: "infra",
    VOCABULARY: "domain vocabulary",
    DB: "db",
    DOMAIN: "domain",
    SERVICES: "workers / GraphQL",
    EDGE: "edge (parley/)",
}
# The domain's vocabulary: enumerations, error types and the actor, which the models use too.
VOCABULARY_MODULES = frozenset({"domain.enums", "domain.errors", "domain.notification_types", "domain.accounts.actor"})


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    if top == "infra":
        return INFRA
    if top == "db":
        return DB
    if top == "domain":
        parts = module.split(".")
        if module in VOCABULARY_MODULES or (len(parts) == 3 and parts[2] == "enums"):
            return VOCABULARY
        return DOMAIN
    if top in ("workers", "resolvers", "schema"):
        return SERVICES
    return EDGE


def side_of(module: str) -> str | None:
    """Workers and the GraphQL layer share a layer but must not import each other."""
    top = module.split(".")[0]
    if top == "workers":
        return "workers"
    if top in ("resolvers", "schema"):
        return "graphql"
    return None


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    lazy: bool  # inside a function (runs when called, not when the module is imported)


def module_files(root: Path = ROOT) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if "migrations" in rel.parts:  # Alembic scripts are loaded by file, not imported
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def imports_in(source: str, module: str, known: set[str] | frozenset[str], *, is_package: bool = False) -> list[Import]:
    """The imports of project modules in `source`: the module each names (`from a import b` names
    `a.b` when that is a module, else `a`), whether it is lazy, and its line."""

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, lazy)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            lazy = True
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, is_package)
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in known else base)
        for target in targets:
            resolved = resolve(target)
            if resolved is not None and resolved != module:
                found.append(Import(module, resolved, node.lineno, lazy))
        for child in ast.iter_child_nodes(node):
            visit(child, lazy)

    visit(ast.parse(source), False)
    return found


def all_imports(root: Path = ROOT) -> list[Import]:
    files = module_files(root)
    known = frozenset(files)
    out: list[Import] = []
    for module, path in files.items():
        out.extend(imports_in(path.read_text(), module, known, is_package=path.name == "__init__.py"))
    return out


def layer_violations(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        low, high = layer_of(imp.source), layer_of(imp.target)
        where = f"{imp.source}:{imp.line} imports {imp.target}{' (lazily)' if imp.lazy else ''}"
        if high > low:
            problems.append(f"{where}: {LAYER_NAMES[low]} may not import {LAYER_NAMES[high]}")
        elif {side_of(imp.source), side_of(imp.target)} == {"workers", "graphql"}:
            problems.append(f"{where}: workers and the GraphQL layer do not import each other")
    return sorted(problems)


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of two or more modules over module-level imports (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.lazy:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(groups)


# --- the walker itself ---------------------------------------------------------------------------


def test_walker_sees_imports_of_every_kind():
    known = frozenset({"db.models", "domain", "domain.events", "domain.events.log", "domain.enums", "workers.runtime"})
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import db.models\n"
        "from domain import events\n"
        "from . import log\n"
        "if TYPE_CHECKING:\n"
        "    from workers.runtime import Resources\n"
        "def later():\n"
        "    from domain.enums import ChannelType\n"
    )
    found = {(i.target, i.lazy) for i in imports_in(source, "domain.events.unit", known)}
    assert found == {
        ("db.models", False),
        ("domain.events", False),
        ("domain.events.log", False),
        ("domain.enums", True),
    }


def test_walker_reports_upward_imports_and_cycles():
    fake = [
        Import("db.models.helpdesk", "domain.helpdesk.conversations", 3, True),
        Import("db.models.helpdesk", "domain.enums", 4, False),
        Import("workers.actors.webhooks", "resolvers.context", 5, True),
        Import("domain.a", "domain.b", 1, False),
        Import("domain.b", "domain.a", 1, False),
        Import("domain.c", "domain.a", 1, True),
        Import("domain.a", "domain.c", 1, False),
    ]
    problems = layer_violations(fake)
    assert len(problems) == 2
    assert "db may not import domain" in problems[0] and "workers and the GraphQL layer" in problems[1]
    assert cycles(fake) == [["domain.a", "domain.b"]]  # the lazy import back from domain.c breaks that loop


def test_walker_sees_the_real_tree():
    imports = all_imports()
    edges = {(i.source, i.target) for i in imports}
    assert ("resolvers.context", "domain.accounts.actor") in edges
    assert ("workers.runtime", "domain.events.unit") in edges  # a lazy import inside a function
    assert len({i.source for i in imports}) > 100


def test_layer_assignment():
    assert layer_of("domain.events.enums") == VOCABULARY
    assert layer_of("domain.webhooks.enums") == VOCABULARY
    assert layer_of("domain.events.log") == DOMAIN
    assert layer_of("parley.app") == EDGE
    assert layer_of("schema.root") == layer_of("workers.broker") == SERVICES


# --- the tree -------------------------------------------------------------------------------------


def test_no_module_imports_a_higher_layer():
    problems = layer_violations(all_imports())
    assert not problems, "\n".join(problems)


def test_the_vocabulary_imports_only_infra_and_itself():
    problems = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in all_imports()
        if layer_of(i.source) == VOCABULARY and layer_of(i.target) not in (INFRA, VOCABULARY)
    ]
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    found = cycles(all_imports())
    assert not found, "\n".join(" <-> ".join(group) for group in found)

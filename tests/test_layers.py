"""The import rules of the README's architecture section, checked on the source.

Layers, bottom up: ``graph`` (Neo4j only) < ``workers`` (Redis and background jobs) <
``actions`` (every write) < ``schema`` (GraphQL) < ``api`` (the ASGI app, the CLI).
Each layer imports only the layers below it, and ``api/settings.py`` (configuration)
is a leaf every layer may import. The worker process's entry points
(``workers/events.py``, ``workers/runner.py``) sit on top of ``actions``: ingesting an
event is a write. No module imports another module's underscore-private names.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "schema", "actions", "graph", "workers", "stack")
LEAF = "api.settings"
# What each package may import from the project, besides itself and the leaf.
ALLOWED: dict[str, tuple[str, ...]] = {
    "graph": (),
    "workers": ("graph",),
    "actions": ("workers", "graph"),
    "schema": ("actions", "workers", "graph", "api.context", "api.auth", "api.metrics"),
    "api": ("schema", "actions", "workers", "graph", "stack"),
    "stack": (),
}
# Modules of a package that sit higher than the rest of it.
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "workers.events": ("actions",),
    "workers.runner": ("actions",),
}
# Third-party libraries a layer must not touch (graph/ is Neo4j only: model fitting lives in
# workers/pymk_train.py).
FORBIDDEN_LIBRARIES = {"graph": ("redis", "sklearn")}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported project module, or a third-party top-level name
    names: tuple[str, ...]  # names taken from it (``from target import names``)
    line: int


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {
        _module_of(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imports(module: str, path: Path, known: set[str]) -> list[Import]:
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = tuple(alias.name for alias in node.names)
            # ``from graph import posts`` imports the module graph.posts
            submodules = [n for n in names if f"{node.module}.{n}" in known]
            found += [Import(module, f"{node.module}.{n}", (), node.lineno) for n in submodules]
            rest = tuple(n for n in names if n not in submodules)
            if rest or not submodules:
                found.append(Import(module, node.module, rest, node.lineno))
    return found


def _all_imports() -> list[Import]:
    sources = _sources()
    known = set(sources)
    return [imp for module, path in sources.items() for imp in _imports(module, path, known)]


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def _within(target: str, allowed: tuple[str, ...]) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def violations(imports: list[Import]) -> list[str]:
    known = set(_sources())
    problems = []
    for imp in imports:
        package = _package(imp.module)
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        if imp.target.split(".", 1)[0] in FORBIDDEN_LIBRARIES.get(package, ()):
            problems.append(f"{where} ({package}/ must not use it)")
            continue
        if _package(imp.target) not in PACKAGES or not any(
            imp.target == k or k.startswith(imp.target + ".") for k in known
        ):
            continue  # a third-party module
        if imp.module == LEAF:
            problems.append(f"{where} ({LEAF} is a leaf)")
            continue
        allowed = (package, LEAF, *ALLOWED[package], *ENTRY_POINTS.get(imp.module, ()))
        if not _within(imp.target, allowed):
            problems.append(f"{where} (not below {package}/)")
        elif (
            imp.target in ENTRY_POINTS
            and _package(imp.module) != "api"
            and imp.module not in ENTRY_POINTS
        ):
            problems.append(f"{where} (an entry point; only api/ and the worker start it)")
    return problems


def private_uses() -> list[str]:
    """``from x import _name`` and ``x._name`` across project modules."""
    sources = _sources()
    problems = []
    for imp in _all_imports():
        if imp.target in sources and imp.target != imp.module:
            problems += [
                f"{imp.module}:{imp.line} takes {imp.target}.{name}"
                for name in imp.names
                if name.startswith("_") and not name.startswith("__")
            ]
    for module, path in sources.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {
            alias.asname or alias.name: f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
            if f"{node.module}.{alias.name}" in sources
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                problems.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return problems


def test_every_layer_imports_only_what_is_below_it() -> None:
    imports = _all_imports()
    assert len(imports) > 300, "the walk found too few imports: is it reading the sources?"
    assert violations(imports) == []


def test_no_module_reaches_into_another_modules_private_names() -> None:
    assert private_uses() == []


def test_the_rules_catch_what_they_forbid() -> None:
    """The checker itself: each kind of violation is reported."""
    bad = [
        Import("graph.posts", "workers.timelines", (), 1),  # graph above workers
        Import("graph.posts", "redis", (), 2),  # graph talks to Redis
        Import("workers.timelines", "actions.effects", (), 3),  # workers above actions
        Import("actions.posts", "schema.core", (), 4),  # actions above schema
        Import("schema.core", "api.app", (), 5),  # schema above the app
        Import("api.settings", "graph.driver", (), 6),  # the leaf imports something
        Import("actions.posts", "workers.events", (), 7),  # an entry point, from below api
    ]
    assert [v.split(" (")[0] for v in violations(bad)] == [
        "graph.posts:1 imports workers.timelines",
        "graph.posts:2 imports redis",
        "workers.timelines:3 imports actions.effects",
        "actions.posts:4 imports schema.core",
        "schema.core:5 imports api.app",
        "api.settings:6 imports graph.driver",
        "actions.posts:7 imports workers.events",
    ]
    fine = [
        Import("workers.events", "actions.interactions", (), 1),
        Import("schema.posts.feed", "workers.home", (), 2),
        Import("actions.posts", "graph.posts", (), 3),
        Import("graph.posts", "api.settings", (), 4),
        Import("graph.posts", "neo4j", (), 5),
    ]
    assert violations(fine) == []


def test_the_api_and_workers_do_not_load_the_training_libraries() -> None:
    """scikit-learn and SciPy (pulled in by opendp.prelude) doubled the API's heap and its
    pauses; only training (``quanzi pymk train``) needs them."""
    code = (
        "import sys, api.app, workers.runner; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'polars') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"

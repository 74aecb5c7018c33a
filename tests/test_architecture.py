"""The map of the house (docs/architecture.md) kept true: which rescity package may import which.

An AST walk over src/rescity collects every ``import rescity.X`` / ``from rescity.X import …``
(module level or inside functions) and checks it against :data:`ALLOWED`, the same table as the
documentation. A new package must be added to the table; a forbidden import or any cycle between
packages fails.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rescity"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

BASE = {"errors", "data", "geo", "seeds", "safeio"}
#: package → the rescity packages it may import (besides itself). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "data": {"errors"},
    "geo": {"errors"},
    "seeds": set(),
    "safeio": {"errors"},
    "govern": BASE,
    "twin": BASE,
    "hazard": BASE,
    "fragility": BASE | {"twin", "hazard"},
    "metrics": BASE | {"twin"},
    "engine": BASE | {"twin", "hazard", "fragility", "metrics"},
    "report": BASE | {"twin", "hazard", "metrics"},
    "forecast": BASE | {"twin", "hazard", "fragility", "engine", "metrics", "report"},
    "decide": BASE | {"twin", "hazard", "fragility", "engine", "metrics", "report", "forecast"},
    "assess": BASE | {"twin", "metrics", "report"},
    "store": BASE | {"govern", "twin"},
    "sense": BASE | {"govern", "twin", "hazard", "fragility", "engine", "metrics", "store"},
    "web": BASE | {"govern", "twin", "hazard", "metrics", "report", "forecast", "store"},
    # learning from past storms: history, observation operators, calibration, verification suite
    "history": BASE | {"twin", "hazard", "engine", "forecast"},
    # the composition layer: everything below the user interfaces; nothing below imports it
    "run": BASE
    | {"govern", "twin", "hazard", "fragility", "metrics", "engine", "report", "forecast", "decide", "history"}
    | {"assess", "store", "sense"},
    "api": BASE
    | {"govern", "twin", "hazard", "fragility", "metrics", "engine", "report", "forecast", "decide", "history"}
    | {"assess", "store", "sense", "web", "run", "jobs"},
    "cli": BASE
    | {"govern", "twin", "hazard", "fragility", "metrics", "engine", "report", "forecast", "decide", "history"}
    | {"assess", "store", "sense", "web", "run", "api", "jobs"},
    "__main__": {"cli"},
    "__init__": set(),
    # the API's job functions: the run layer and the forecast issuance behind the service
    "jobs": BASE | {"twin", "hazard", "engine", "metrics", "forecast", "run"},
}
#: Known exceptions to the table (none: keep it that way).
LEGACY: set[tuple[str, str]] = set()


def _package(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


@lru_cache(maxsize=1)
def imports() -> dict[tuple[str, str], list[str]]:
    """``(package, imported package)`` → the places (``file:line``) where it happens."""
    out: dict[tuple[str, str], list[str]] = {}
    for f in sorted(SRC.rglob("*.py")):
        pkg = _package(f)
        tree = ast.parse(f.read_text(encoding="utf-8"), str(f))
        # imports under ``if TYPE_CHECKING:`` are for type hints only: no dependency at run time
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
            for stmt in block.body
            for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "rescity":
                    names = [f"rescity.{a.name}" for a in node.names]
                elif node.module.startswith("rescity."):
                    names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("rescity.")]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                names = ["rescity." + pkg] if node.level == 1 else ["rescity.<relative>"]
            for n in names:
                target = n.split(".")[1]
                if target != pkg:
                    out.setdefault((pkg, target), []).append(f"{f.relative_to(SRC)}:{node.lineno}")
    return out


def test_every_package_is_on_the_map():
    pkgs = {_package(f) for f in SRC.rglob("*.py")}
    assert not pkgs - set(ALLOWED), (
        f"add these packages to ALLOWED and docs/architecture.md: {pkgs - set(ALLOWED)}"
    )


def test_no_forbidden_import():
    bad = {
        f"{a} → {b}": where[:3]
        for (a, b), where in imports().items()
        if b not in ALLOWED.get(a, set()) and (a, b) not in LEGACY
    }
    assert not bad, f"imports that break docs/architecture.md: {bad}"


def test_no_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for a, b in imports():
        graph.setdefault(a, set()).add(b)
    # Tarjan-free check: repeatedly strip packages that import nothing left in the graph
    left = {k: set(v) & (set(graph) | set().union(*graph.values())) for k, v in graph.items()}
    nodes = set(left) | set().union(*left.values())
    while True:
        sinks = {n for n in nodes if not (left.get(n, set()) & nodes)}
        if not sinks:
            break
        nodes -= sinks
    assert not nodes, f"packages in an import cycle: {sorted(nodes)}"


def test_allowed_table_itself_has_no_cycle():
    nodes = set(ALLOWED)
    while True:
        sinks = {n for n in nodes if not (ALLOWED[n] & nodes)}
        if not sinks:
            break
        nodes -= sinks
    assert not nodes, f"ALLOWED permits a cycle among {sorted(nodes)}"


def test_nothing_below_the_interfaces_imports_run():
    may = {p for p, deps in ALLOWED.items() if "run" in deps}
    assert may == {"api", "cli", "jobs"}


def _doc_table() -> dict[str, set[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`([\w_]+)`\s*\|\s*([^|]*)\|", line)
        if m and m.group(1) in ALLOWED:
            rows[m.group(1)] = set(re.findall(r"`([\w_]+)`", m.group(2)))
    return rows


def test_documentation_states_the_same_table():
    doc = _doc_table()
    assert set(doc) == set(ALLOWED), f"docs/architecture.md lacks rows for {set(ALLOWED) - set(doc)}"
    for pkg, deps in ALLOWED.items():
        assert doc[pkg] == deps, f"docs/architecture.md row `{pkg}` differs: {doc[pkg] ^ deps}"


@pytest.mark.parametrize(
    "pkg, forbidden",
    [("engine", "api"), ("engine", "cli"), ("engine", "web"), ("twin", "engine"), ("hazard", "twin"),
     ("store", "sense"), ("forecast", "run")],
)  # fmt: skip
def test_examples_of_forbidden_imports(pkg, forbidden):
    assert forbidden not in ALLOWED[pkg]
    assert (pkg, forbidden) not in imports()

"""The package's shape, read from its import statements (ast, nothing imported):

* the library never imports its two edges, ``cli/`` and ``serve/``;
* ``cli/`` and ``serve/`` import only the public API: ``artlens`` itself and the ``__init__`` of its packages,
  and load no module through ``importlib``;
* ``config`` sits at the bottom: it imports nothing of artlens but ``errors``;
* imports go one way: no cycle among module-level imports, nor once imports inside functions are counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src" / "artlens"
EDGES = ("artlens.cli", "artlens.serve")
ENTRY_POINTS = {"artlens.__main__"}  # ``python -m artlens``: runs the CLI


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}
PACKAGES = {_module_name(p) for p in SRC.rglob("__init__.py")}


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported artlens module, whether the import is inside a function) for each import of ``module``;
    ``if TYPE_CHECKING:`` blocks are left out (they never run)."""
    path = MODULES[module]
    package = module if module in PACKAGES else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names if a.name.split(".")[0] == "artlens")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] == "artlens":
                    for alias in child.names:  # ``from . import explain`` imports a module, not a name
                        sub = f"{target}.{alias.name}"
                        found.append((sub if sub in MODULES else target, inner))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


#: Public modules besides the packages: the progress bar the CLI draws and a notebook may swap.
PUBLIC_MODULES = {"artlens.progress"}


def _public(module: str) -> bool:
    """The public API: ``artlens`` and the ``__init__`` of its packages (``artlens.explain``, ...)."""
    return module in PUBLIC_MODULES or (module in PACKAGES and not any(p.startswith("_") for p in module.split(".")))


def test_the_library_never_imports_the_cli_or_the_server():
    wrong = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() for t, _ in ts
                   if m not in ENTRY_POINTS and not any(_in(m, e) for e in EDGES) and any(_in(t, e) for e in EDGES))
    assert wrong == []


def _reaching_past_the_api(edge: str) -> list[str]:
    return sorted({f"{m} imports {t}" for m, ts in GRAPH.items() if _in(m, edge) for t, _ in ts
                   if not _in(t, edge) and not _public(t)})


def test_the_cli_imports_only_the_public_api():
    assert _reaching_past_the_api("artlens.cli") == []


def test_the_server_imports_only_the_public_api():
    assert _reaching_past_the_api("artlens.serve") == []


def test_the_edges_load_no_module_behind_the_graphs_back():
    """``importlib.import_module`` or ``__import__`` would hide an import from every check above."""
    hidden = sorted(m for m, path in MODULES.items() if any(_in(m, e) for e in EDGES)
                    and any(isinstance(n, ast.Call) and ast.unparse(n.func) in ("importlib.import_module", "import_module",
                                                                                "__import__")
                            for n in ast.walk(ast.parse(path.read_text()))))
    assert hidden == []


def test_config_imports_nothing_above_it():
    assert {t for t, _ in GRAPH["artlens.config"]} <= {"artlens.errors"}


def _cycles(with_local: bool) -> list[list[str]]:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    graph.add_edges_from((m, t) for m, ts in GRAPH.items() for t, local in ts if with_local or not local)
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def test_module_level_imports_have_no_cycle():
    assert _cycles(with_local=False) == []


def test_imports_inside_functions_close_no_cycle_either():
    """A local import that closes a cycle hides a layering mistake; the reader of the graph would miss it."""
    assert _cycles(with_local=True) == []


def test_the_graph_reader_sees_relative_and_local_imports():
    """Guards the test itself: a reader that missed imports would make every check above pass."""
    assert ("artlens.errors", False) in GRAPH["artlens.config"]
    assert ("artlens.cli.explain", False) in GRAPH["artlens.cli"]  # ``from . import explain``
    assert any(local for _, local in GRAPH["artlens.cli.app"])

"""The package's import graph: no circles, and imports run downward only.

Every `import` and `from ... import` in `krcoach/` counts: at module level, inside a function and
under `if TYPE_CHECKING:` alike. A lazy import hides a circle from Python at start-up, not from a
reader, who still has to hold both modules in mind at once.

    .venv/bin/python tests/test_import_graph.py     # prints the modules layer by layer

Layer 0 imports nothing of krcoach; a module in layer n imports only from layers below n.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "krcoach"

#: What may never import what: (importer prefix, imported prefix, why).
FORBIDDEN = [
    ("krcoach.rules", "krcoach.llm", "the weaker engine never depends on the stronger one"),
    ("krcoach.engine", "krcoach.rules", "the protocol and the engine table sit below both engines"),
    ("krcoach.engine", "krcoach.llm", "the protocol and the engine table sit below both engines"),
]
#: The records sit at the bottom: they read only the tables below them.
MODELS_MAY_IMPORT = {"krcoach.issue_codes", "krcoach.version"}
#: Modules that only the outer layers (cli, web, workshop, evaluation) may import.
OUTER = ("krcoach.cli", "krcoach.web", "krcoach.workshop", "krcoach.evaluation", "krcoach.doctor")
#: Modules below the outer layers: engines, coach, readers and writers.
INNER = ("krcoach.rules", "krcoach.llm", "krcoach.engine", "krcoach.coach", "krcoach.formats",
         "krcoach.models", "krcoach.checks", "krcoach.plan", "krcoach.ambition", "krcoach.periods", "krcoach.safe",
         "krcoach.redaction", "krcoach.issue_codes", "krcoach.version")


def modules(root: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_pkg)
    return found


def edges(mods: dict[str, tuple[Path, bool]] | None = None) -> dict[str, set[str]]:
    """Module -> the krcoach modules it imports. `from krcoach.rules import anatomy` is an edge to
    `krcoach.rules.anatomy`, not to the package `krcoach.rules`."""
    mods = mods or modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_pkg) in mods.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target in mods and target != name:
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer: 0 when it imports no krcoach module, else one above its highest import.
    Only defined for a graph without circles."""
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(t) for t in graph[name]), default=-1)
        return depth[name]

    for name in graph:
        of(name)
    return depth


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".") or (prefix.endswith(".") and name.startswith(prefix))


def test_no_module_imports_itself_back() -> None:
    found = circles(edges())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_run_downward() -> None:
    graph = edges()
    wrong = []
    for importer, targets in graph.items():
        for target in targets:
            for low, high, why in FORBIDDEN:
                if _under(importer, low) and _under(target, high):
                    wrong.append(f"{importer} imports {target}: {why}")
            if importer == "krcoach.models" and target not in MODELS_MAY_IMPORT:
                wrong.append(f"{importer} imports {target}: the records are the bottom; everything reads them")
            if any(_under(importer, p) for p in INNER) and any(_under(target, p) for p in OUTER):
                wrong.append(f"{importer} imports {target}: the engines, coach and formats never import "
                             "the CLI, the pages, the workshop or the eval")
    assert not wrong, "\n".join(wrong)


def test_the_graph_reader_sees_a_circle_and_a_lazy_import(tmp_path: Path) -> None:
    """The checker itself: a circle closed by an import inside a function is still found."""
    pkg = tmp_path / "demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from demo import b\n")
    (pkg / "b.py").write_text("def f():\n    from demo.a import x\n")
    (pkg / "c.py").write_text("from . import a\n")
    graph = edges(modules(pkg))
    assert graph["demo.c"] == {"demo.a"}
    assert circles(graph) == [["demo.a", "demo.b"]]


def main() -> None:
    graph = edges()
    found = circles(graph)
    if found:
        print("import circles:", "; ".join(" <-> ".join(c) for c in found))
        sys.exit(1)
    depth = layers(graph)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, no circles")
    for level in range(max(depth.values()) + 1):
        names = sorted(n.removeprefix("krcoach.") if n != "krcoach" else "krcoach (public API)"
                       for n, d in depth.items() if d == level)
        print(f"  layer {level}: {', '.join(names)}")


if __name__ == "__main__":
    main()

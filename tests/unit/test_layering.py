"""Which module may import which: the layering the code relies on, checked from the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench_import_cycle(bench: Path = ROOT / "bench") -> list[str] | None:
    """A circle of imports among the modules of ``bench/`` (``["a", "b", "a"]``), or None.

    Every import counts, a function's lazy one too: a circle closed inside ``main()`` still
    ties the modules together. ``import bench.x``, ``from bench import x``, ``from bench.x
    import y`` and relative imports all name the bench module ``x``."""
    modules = {p.stem for p in bench.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module in modules:
        tree = ast.parse((bench / f"{module}.py").read_text(), filename=f"{module}.py")
        for node in ast.walk(tree):
            named: list[str] = []
            if isinstance(node, ast.Import):
                named = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    base = node.module or ""
                elif node.level == 1:  # from . import x, from .x import y: inside bench/
                    base = "bench" + (f".{node.module}" if node.module else "")
                else:
                    continue
                named = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in named:
                parts = name.split(".")
                if len(parts) > 1 and parts[0] == "bench" and parts[1] in modules - {module}:
                    graph[module].add(parts[1])

    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for dep in sorted(graph[module]):
            found = visit(dep, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return None


def test_bench_has_no_import_cycle() -> None:
    cycle = bench_import_cycle()
    assert cycle is None, "bench/ imports in a circle: " + " -> ".join(cycle or [])

"""Which module may import which: the layering of docs/architecture.md, checked on the source
(ast, nothing imported): app -> routes -> services -> dicomweb; services see storage only
through ports; only the HTTP edge knows Chalice; no module imports another module's private
name; the OpenAPI package lists no operation (each lives beside its route); the Lambda package
holds no people's CLI; bench/ has no import cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


PACKAGES = ("chalicelib", "bench", "local", "infra", "dicomweb_cli", "tests")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))
    if not packages or "app" in packages:
        yield ROOT / "app.py"


def imports(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = module_name(path).split(".")[: -node.level]
                module = ".".join([*base, module] if module else base)
            yield module, [a.name for a in node.names], node.lineno


def within(module: str, packages: tuple[str, ...]) -> bool:
    """``module`` is one of ``packages`` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def offending(
    packages: tuple[str, ...], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    found = []
    for path in sources(*packages):
        for module, names, line in imports(path):
            # ``from chalicelib.storage import keys`` imports chalicelib.storage.keys
            for target in [f"{module}.{name}" for name in names] or [module]:
                if within(target, forbidden) and not within(target, allowed):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return found


def test_services_see_storage_only_through_ports() -> None:
    assert not offending(
        ("chalicelib/services",),
        ("botocore", "boto3", "chalicelib.storage", "chalice", "chalicelib.routes"),
        allowed=("chalicelib.storage.keys", "chalicelib.storage.schema"),
    )


def test_the_protocol_package_is_pure() -> None:
    assert not offending(
        ("chalicelib/dicomweb",),
        ("botocore", "boto3", "chalice", "chalicelib.services", "chalicelib.storage"),
    )
    assert not offending(("chalicelib/dicomweb",), ("chalicelib.routes", "chalicelib.openapi"))


def test_only_the_http_edge_knows_chalice() -> None:
    others = ("chalicelib/dicomweb", "chalicelib/services", "chalicelib/storage")
    assert not offending(others, ("chalice", "chalicelib.routes"))


def test_the_lambda_package_does_not_hold_the_people_s_cli() -> None:
    assert not offending(("chalicelib",), ("dicomweb_cli",))
    assert not (ROOT / "chalicelib" / "cli.py").exists()


def test_no_module_imports_another_module_s_private_name() -> None:
    ours = (*(p.replace("/", ".") for p in PACKAGES), "app")
    found = []
    for path in sources(*PACKAGES):
        for module, names, line in imports(path):
            if not within(module, ours) or module == module_name(path):
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}.{name}")
    assert not found


def test_the_openapi_package_lists_no_operation() -> None:
    """Each operation's description lives beside its route (routes/*.py); the document is
    assembled from the route table."""
    route_roots = ("/studies", "/series", "/instances", "/wado", "/changefeed", "/uploads")
    found = []
    for path in sources("chalicelib/openapi"):
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and text.startswith((*route_roots, "/imports")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found


def test_every_route_is_declared_in_one_route_module() -> None:
    from local.testenv import use_test_environment

    use_test_environment()
    import app
    from chalicelib.routes.table import ROUTES, served

    declared = [(r.method, r.path) for r in ROUTES]
    assert len(declared) == len(set(declared))
    registered = set(served(app.app))  # without the 405 answers to other methods
    assert registered == set(declared)

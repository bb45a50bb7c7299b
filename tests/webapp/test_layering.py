"""The layering of annotator/ (annotator/README.md): imports run one way.

Every module's imports are read with `ast`, at module level and inside function bodies alike
(an import in a function is still an edge: hiding one there is how a cycle used to survive
import time). The graph among annotator.* modules must have no cycle, and the layer rules
below must hold.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "annotator"

# Modules that may be imported inside a function body, because they are heavy and a process
# that imports their caller may never need them: torch (annotator.sam, auto-annotation's
# runner), OpenCV and pycocotools (geometry, and formats and detectors through it).
HEAVY = (
    "annotator.sam",
    "annotator.sam2",
    "annotator.text",
    "annotator.autoannotate",
    "annotator.geometry",
    "annotator.formats",
    "annotator.segmenters",
)
# The web's entry points: they call services and selectors, never a task or the exporter.
WEB = (
    "annotator.api",
    "annotator.pages",
    "annotator.admin",
    "annotator.health",
    "annotator.metrics",
)
# Packages usable without Django (the model, the file formats, the geometry under them).
NO_DJANGO = ("annotator.sam", "annotator.sam2", "annotator.text", "annotator.formats",
             "annotator.geometry", "annotator.autoannotate", "annotator.segmenters")  # fmt: skip
DJANGO_PACKAGES = ("django", "rest_framework", "drf_spectacular", "celery", "kombu")
# annotator/README.md's table, top to bottom: a module may import its own layer or one below.
LAYERS = (
    ("annotator.api", "annotator.pages", "annotator.admin", "annotator.health", "annotator.metrics",
     "annotator.urls", "annotator.management"),
    ("annotator.tasks", "annotator.worker"),
    ("annotator.services",),
    ("annotator.queue",),
    ("annotator.selectors", "annotator.stats"),
    ("annotator.models", "annotator.leases", "annotator.permissions", "annotator.images",
     "annotator.storage", "annotator.precompressed", "annotator.apps"),
    NO_DJANGO,
)  # fmt: skip


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {
        _module_name(path, root): path
        for path in sorted(root.rglob("*.py"))
        if "migrations" not in path.parts
    }


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement of the module.
    `from a import b` names the module a.b when that is a module, else a."""
    tree = ast.parse(path.read_text(), filename=str(path))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            in_function.update(id(sub) for sub in ast.walk(node) if sub is not node)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        nested = id(node) in in_function
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, nested
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), node.lineno, nested


def _graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {imported annotator module: line}; only modules of the package."""
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        for target, line, _ in _imports(name, path, known):
            # `import annotator.services.jobs` loads the package too; the edge that can close a
            # cycle is to the module named, so the nearest known module stands for it.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].setdefault(target, line)
    return graph


def _cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle of the graph as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    return (
        " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False))
        + f" -> {cycle[-1]}"
    )


def test_no_module_under_annotator_imports_in_a_circle() -> None:
    graph = _graph(PACKAGE)
    assert len(graph) > 50, "the walk found too few modules to mean anything"
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle: {_describe(graph, cycle)}"


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function_body(tmp_path: Path) -> None:
    """The check itself, on a throwaway package: a cycle closed by an import inside a function
    (the shape services.py, embeddings.py and tasks.py had) is found."""
    root = tmp_path / "annotator"
    (root / "services").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "services" / "__init__.py").write_text("from annotator.services.jobs import run\n")
    (root / "services" / "jobs.py").write_text("from annotator import queue\n\ndef run(): ...\n")
    (root / "queue.py").write_text("def send():\n    from annotator.tasks import task\n")
    (root / "tasks.py").write_text("from annotator import services\n\ntask = None\n")
    cycle = _cycle(_graph(root))
    assert cycle is not None
    assert set(cycle) == {"annotator.services", "annotator.services.jobs", "annotator.queue",
                          "annotator.tasks"}  # fmt: skip


def _all_imports() -> Iterator[tuple[str, str, int, bool]]:
    modules = _modules(PACKAGE)
    for name, path in modules.items():
        for target, line, nested in _imports(name, path, set(modules)):
            yield name, target, line, nested


def _layer(name: str) -> int | None:
    return next((rank for rank, layer in enumerate(LAYERS) if _within(name, layer)), None)


def test_every_import_goes_down_the_layers() -> None:
    wrong = []
    for name, target, line, _ in _all_imports():
        here, there = _layer(name), _layer(target)
        if here is not None and there is not None and there < here:
            wrong.append(f"{name}:{line} imports {target}, a layer above it")
    # The queue and the selectors are side by side: neither needs the other.
    wrong += [
        f"{name}:{line} imports {target}"
        for name, target, line, _ in _all_imports()
        if {_layer(name), _layer(target)} == {3, 4}
    ]
    assert wrong == [], "; ".join(wrong)


def test_every_module_has_a_layer() -> None:
    """A new top-level module must say where it sits (LAYERS and annotator/README.md)."""
    loose = sorted(n for n in _modules(PACKAGE) if n != "annotator" and _layer(n) is None)
    assert loose == []


def test_web_entry_points_never_import_tasks_or_the_exporter() -> None:
    wrong = [
        f"{name}:{line} imports {target}"
        for name, target, line, _ in _all_imports()
        if _within(name, WEB) and _within(target, ("annotator.tasks", "export_onnx"))
    ]
    assert wrong == [], "views go through annotator.services: " + "; ".join(wrong)


def test_nothing_in_annotator_imports_the_tasks_module() -> None:
    # Services publish by task name (annotator.queue); Celery finds the tasks by autodiscovery.
    wrong = [
        f"{name}:{line}"
        for name, target, line, _ in _all_imports()
        if _within(target, ("annotator.tasks",)) and name != "annotator.tasks"
    ]
    assert wrong == [], "annotator.tasks imported from " + ", ".join(wrong)


@pytest.mark.parametrize("layer", NO_DJANGO)
def test_model_formats_and_geometry_import_no_django(layer: str) -> None:
    wrong = [
        f"{name}:{line} imports {target}"
        for name, target, line, _ in _all_imports()
        if _within(name, (layer,))
        and (
            _within(target, DJANGO_PACKAGES)
            or (target.startswith("annotator") and not _within(target, NO_DJANGO))
        )
    ]
    assert wrong == [], "; ".join(wrong)


def test_imports_inside_functions_are_only_for_heavy_modules() -> None:
    """An import in a function body is for a heavy dependency a process may not need (torch,
    OpenCV), never to dodge a cycle: any other annotator module is imported at the top."""
    wrong = [
        f"{name}:{line} imports {target}"
        for name, target, line, nested in _all_imports()
        if nested and target.startswith("annotator") and not _within(target, HEAVY)
    ]
    assert wrong == [], "; ".join(wrong)


def test_no_module_under_annotator_is_a_grab_bag() -> None:
    """About 400 lines at most (STYLE.md); the model package is another engineer's split."""
    long = {
        name: lines
        for name, path in _modules(PACKAGE).items()
        if not _within(name, ("annotator.sam",))
        and (lines := len(path.read_text().splitlines())) > 420
    }
    assert long == {}, long

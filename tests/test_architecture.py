"""Import boundaries: Qt only in lrp_studio/gui, CuPy only in lrp_studio/backend.py, no pickle loading."""

import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lrp_studio"
QT_MODULES = {"PySide6", "pyqtgraph", "superqt", "PyQt5", "PyQt6", "shiboken6"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _core_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "gui" not in p.relative_to(PACKAGE).parts]


def test_core_never_imports_qt() -> None:
    offenders = {str(p.relative_to(PACKAGE)): sorted(_imports(p) & QT_MODULES) for p in _core_files()}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(_core_files()) > 20  # the scan really saw the package


def test_cupy_only_in_backend() -> None:
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "cupy" in _imports(p) and p.name != "backend.py"]
    assert offenders == []


def test_nothing_enables_pickle() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "allow_pickle=True" not in text.replace(" ", ""), path
        assert "pickle.load" not in text, path


def test_importing_core_and_cli_loads_no_qt() -> None:
    """Every module outside gui/ (the CLI included) imports without loading Qt."""
    names = sorted(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
                   for p in _core_files() if p.name != "__main__.py")  # __main__ runs the program
    assert "lrp_studio.zoo" in names and any(n.startswith("lrp_studio.cli") for n in names)
    code = (
        "import importlib, sys\n"
        "for name in %r: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r); print(bad); sys.exit(1 if bad else 0)"
        % (names, QT_MODULES)
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


#: Libraries that only some commands and docks need, each costing 0.3-0.8 s of import time or more: the
#: window and the CLI import them where they are used, so the app starts within issue 19's 3 s.
HEAVY_ON_USE = ("scipy", "skimage", "dask", "distributed", "torch", "onnx", "zennit", "matplotlib")


def test_window_and_cli_start_without_the_heavy_libraries() -> None:
    """Importing the main window or the CLI loads none of :data:`HEAVY_ON_USE` (scipy.stats alone was 0.7 s)."""
    code = (
        "import sys\n"
        "import lrp_studio.gui.main_window, lrp_studio.cli.main\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & set(%r)); print(bad); sys.exit(1 if bad else 0)"
        % (HEAVY_ON_USE,)
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- layers and cycles
# DESIGN.md 2.1: gui -> (cli, app) -> (lrp, io, viz, data) -> nn -> backend. A module may import its own
# package and anything in a lower layer; ``errors`` is importable from everywhere and imports nothing.
# Refinements of that order, each for a reason:
# - cli sits above app (the commands call the use cases of lrp_studio.app; bench is one of those);
# - the package itself (lrp_studio/__init__.py, the public API) and the zoo (bundled models, names -> files)
#   sit between app and the middle layer: the zoo uses io, nn and data, and the API re-exports the zoo;
# - io is the bottom of the middle layer: its file helpers (atomic writes, .npy headers) serve data and viz,
#   and io imports neither the zoo nor lrp, viz or data.
# Layers are named by the first component below lrp_studio (a package or a module), so files may move
# inside a package freely; ``cli`` also covers the cli_*.py modules of the flat layout.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gui",),
    ("cli",),
    ("app", "bench"),
    ("lrp_studio",),
    ("zoo",),
    ("lrp", "viz", "data"),
    ("io",),
    ("nn",),
    ("backend",),
)
EVERYWHERE = "errors"
# Entry points start a program of a higher layer: the `gui` command opens the app, `bench --gui` times it.
# The API's view()/run() open the app from Python (lazily, on first use: importing lrp_studio loads no Qt).
LAUNCHERS = {"lrp_studio.gui.app": ("cli",), "lrp_studio.gui.latency": ("cli", "bench"),
             "lrp_studio.gui.viewer": ("lrp_studio",), "lrp_studio.gui": ("lrp_studio",)}
# What viz may import from the computing layers: the layer classes, to lay out a network's structure.
VIZ_MAY_USE = ("lrp_studio.nn.layers",)
RUNNING_CALLS = {"forward", "forward_to", "forward_from", "trace", "backward", "predict", "explain",
                 "explain_neuron", "fit", "train", "propagate"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _modules()


def _targets(module: str, node: ast.AST) -> list[str]:
    """Modules an import statement names, as ../shared/tools/import_cycles.py resolves them."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = module.split(".")
        if node.level:
            package = base if MODULES[module].name == "__init__.py" else base[:-1]
            prefix = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module and not module.startswith(name + "."):
            found.append(name)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the lrp_studio modules it imports, function-level imports included."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {t for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                         for t in _targets(module, node)}
    return graph


GRAPH = _graph()


def _layer_name(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "lrp_studio"
    # lrp_studio/__main__.py (python -m lrp_studio) is the command line's entry point
    return "cli" if parts[1].startswith("cli") or parts[1] == "__main__" else parts[1]


def _rank(name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def test_the_scan_sees_the_package() -> None:
    assert {"lrp_studio", "lrp_studio.nn.network", "lrp_studio.lrp.explain", "lrp_studio.io.model"} <= set(MODULES)
    assert "lrp_studio.nn.network" in GRAPH["lrp_studio.lrp.explain"]
    # a function-level import counts: zoo.load_any_model's callers are found inside functions too
    assert any("lrp_studio.gui.app" in targets for m, targets in GRAPH.items() if _layer_name(m) == "cli")


def test_every_module_belongs_to_a_layer() -> None:
    known = {name for layer in LAYERS for name in layer} | {EVERYWHERE}
    assert sorted({_layer_name(m) for m in MODULES} - known) == [], "place the new package in LAYERS"


def test_imports_point_down() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        own = _layer_name(module)
        for target in targets:
            other = _layer_name(target)
            if other == own or (other == EVERYWHERE and own != EVERYWHERE) or own in LAUNCHERS.get(target, ()):
                continue
            if own != EVERYWHERE and _rank(other) > _rank(own):
                continue
            wrong.append(f"{module} -> {target}")
    assert wrong == [], "imports against the layer order (gui -> cli -> app -> api -> zoo -> lrp/viz/data -> io -> nn -> backend)"


def test_io_does_not_import_the_zoo() -> None:
    assert sorted(m for m, targets in GRAPH.items() if _layer_name(m) == "io" and "lrp_studio.zoo" in targets) == []


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_viz_draws_and_does_not_run_networks() -> None:
    """viz gets arrays (activations, relevance, messages) and turns them into pictures: it imports nothing
    of lrp, the zoo or nn but the layer classes, and calls no forward pass, trace, backward or explain."""
    viz = [m for m in MODULES if _layer_name(m) == "viz"]
    assert len(viz) >= 4
    imports = {m: sorted(t for t in GRAPH[m] if _layer_name(t) in ("lrp", "zoo", "nn") and t not in VIZ_MAY_USE)
               for m in viz}
    assert {m: t for m, t in imports.items() if t} == {}
    calls = {m: sorted(_calls(MODULES[m]) & RUNNING_CALLS) for m in viz}
    assert {m: c for m, c in calls.items() if c} == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def _private_imports(module: str, path: Path) -> list[str]:
    """``from lrp_studio.x import _name`` and ``alias._name`` on an imported lrp_studio module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("lrp_studio")):
            prefix = _targets(module, node)
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{module}: from {node.module or '.'} import {alias.name}")
                full = f"{node.module}.{alias.name}" if node.module else alias.name
                if full in MODULES or any(f"{p}.{alias.name}" in MODULES for p in prefix):
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lrp_studio") and alias.asname:
                    aliases.add(alias.asname)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{module}: {node.value.id}.{node.attr}")
    return found


def test_private_names_stay_in_their_module() -> None:
    """A name starting with ``_`` is not imported from another module: if two modules need it, it is public."""
    found = [hit for module, path in MODULES.items() for hit in _private_imports(module, path)]
    assert found == []

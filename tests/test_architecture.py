"""Import boundaries: Qt only in lrp_studio/gui, CuPy only in lrp_studio/backend.py, no pickle loading."""

import ast
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
    code = (
        "import sys, lrp_studio, lrp_studio.cli, lrp_studio.cli_explain, lrp_studio.cli_train, lrp_studio.bench;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r); print(bad); sys.exit(1 if bad else 0)"
        % (QT_MODULES,)
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr

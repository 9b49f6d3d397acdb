"""The README's Python API section runs as written, in a fresh folder and a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def api_snippet() -> str:
    """The first python code block under the README's '## Python API' heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's Python API section"
    return match.group(1)


def test_readme_python_api_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "readme_api.py"
    script.write_text(api_snippet(), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "epsilon-plus-flat (8, 1, 28, 28) (8, 10)"
    assert out[1].startswith("sum of input relevance = ")
    assert out[2] == "['input', 'conv2d 16', 'relu']"
    assert "[] (256,)" in out
    assert any("does not take parameter 'epslion'" in line and "it takes: epsilon" in line for line in out)
    assert out[-1] == "epsilon-plus"
    assert (tmp_path / "mine.npz").stat().st_size > 0

"""The README's "LRP through graph networks" example runs as written and prints what its comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet() -> str:
    section = README.read_text(encoding="utf-8").split("### LRP through graph networks", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's graph LRP section"
    return match.group(1)


def test_readme_graph_example_prints_its_comments(tmp_path: Path) -> None:
    code = snippet()
    script = tmp_path / "graph_example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    printed = [line.split("# ", 1)[1].split(":", 1)[0].strip() for line in code.splitlines()
               if line.startswith("print(") and "# " in line]
    assert out[0] == printed[0] == "(16, 18) [0.75, 0.25]"
    assert out[1] == printed[1] == "1.1e-06"
    assert out[2] == printed[2] == "[0] identity"
    assert abs(float(out[3])) > 0

"""The README's "LRP through graph networks" example runs as written and prints what its comments describe
(the figures depend on the bundled model's weights, so their form and bounds are checked)."""

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
    inputs, shares = out[0].split(" [")
    shares = [float(v) for v in shares.rstrip("]").split(",")]
    assert inputs == "(16, 18)" and len(shares) == 2 and abs(sum(shares) - 1.0) <= 2e-3  # the two addends' fractions
    assert 0 < shares[1] < shares[0] < 1  # the main path carries most of block 2's relevance (README's example)
    assert abs(float(out[1])) < 1e-4  # the add absorbs only its stabilizer's share
    assert out[2] == "[0] identity"
    assert abs(float(out[3])) > 0

"""Every fenced ``bash`` and ``python`` block of README.md runs, in order, in one empty temporary folder
(issue 13, point 15), so the README cannot drift from the code again.

``lrp-studio`` and ``python`` in the bash blocks are this interpreter (``python -m lrp_studio.cli``),
with the working tree on PYTHONPATH, Qt offscreen and the NumPy backend. Blocks run as written except
for the documented substitutions below (smaller sizes for the long ones, a stand-in for "your
model") and the few blocks that cannot run inside a test (they install from the network or need
root). A substitution whose text no longer occurs in the README fails the test, so the table
cannot go stale either.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Blocks not run (a fragment of the block -> why).
SKIPPED = {
    "python3 -m venv .venv": "quick start: creates a venv and pip-installs from the network (this test runs the "
                             "installed package in place)",
    "sudo apt-get install": "installs system libraries as root",
}

#: README text -> what runs instead, and why (applied to the block that contains the text).
SUBSTITUTIONS = {
    # toy:shapes training (357 s) and the localisation table (253 s): the same commands, shorter
    "    --epochs 12 --optimizer adam --lr 0.003 --seed 0 --out my_shapes.npz":
        "    --epochs 1 --optimizer adam --lr 0.003 --seed 0 --out my_shapes.npz",
    "--metric localisation --n-samples 500 \\": "--metric localisation --n-samples 8 \\",
    # the desktop app would wait for the user: one rendered frame instead
    "lrp-studio                                   # the desktop app":
        "lrp-studio gui --screenshot app.png          # the desktop app",
    # long runs with smaller sizes
    "lrp-studio train --arch cnn --epochs 15": "lrp-studio train --arch cnn --epochs 1",
    "lrp-studio bench                             # timing table": "lrp-studio bench --help  # timing table",
    "--indices 0:200 --method epsilon-gamma-box": "--indices 0:16 --method epsilon-gamma-box",
    "--n-samples 200 --out report.json": "--n-samples 4 --perturbation-steps 3 --out report.json",
    "--metric aopc,randomisation,random-logit,sparseness,complexity --n-samples 100":
        "--metric aopc,randomisation,random-logit,sparseness,complexity --n-samples 4 --methods lrp0,gradient",
    "--composite epsilon-gamma-box --samples 100": "--composite epsilon-gamma-box --samples 4 --grid 'gamma=0,1;epsilon=1e-6'",
    # "your model": a small torch.nn.Sequential stands in for it (torch is installed here)
    "import torch\nmodel.eval()": "import torch\nmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5), torch.nn.ReLU(), "
                                  "torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 12 * 12, 10))\n"
                                  "model.eval()",
    "from safetensors.torch import save_file\n":
        "from safetensors.torch import save_file\nimport torch\n"
        "model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 5), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), "
        "torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16 * 12 * 12, 100), torch.nn.ReLU(), "
        "torch.nn.Dropout(), torch.nn.Linear(100, 10)).eval()\n",
}

BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced bash/python block, in README order."""
    return [(match.group(1), match.group(2)) for match in BLOCK.finditer(README.read_text(encoding="utf-8"))]


def _prepared(code: str) -> str:
    for old, new in SUBSTITUTIONS.items():
        code = code.replace(old, new)
    return code


def _shims(folder: Path) -> Path:
    """``lrp-studio`` and ``python`` commands that run this interpreter."""
    folder.mkdir()
    for name, command in (("lrp-studio", f'exec "{sys.executable}" -m lrp_studio.cli "$@"'),
                          ("python", f'exec "{sys.executable}" "$@"')):
        path = folder / name
        path.write_text(f"#!/bin/sh\n{command}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def test_the_tables_match_the_readme():
    text = README.read_text(encoding="utf-8")
    stale = [old for old in [*SUBSTITUTIONS, *SKIPPED] if old not in text]
    assert stale == [], "README changed: update SUBSTITUTIONS/SKIPPED"
    blocks = readme_blocks()
    assert len(blocks) >= 10 and {language for language, _ in blocks} == {"bash", "python"}


def test_every_readme_block_runs_in_an_empty_folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    bin_dir = _shims(tmp_path / "bin")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT),
           "QT_QPA_PLATFORM": "offscreen", "LRP_STUDIO_BACKEND": "numpy", "MPLBACKEND": "Agg",
           "LRP_STUDIO_CACHE_DIR": str(tmp_path / "cache")}  # the atlas's memory-mapped inputs, not in ~/.cache
    ran = 0
    for number, (language, code) in enumerate(readme_blocks()):
        reason = next((why for fragment, why in SKIPPED.items() if fragment in code), None)
        if reason is not None:
            continue
        script = tmp_path / f"block{number:02d}.{'sh' if language == 'bash' else 'py'}"
        script.write_text(_prepared(code), encoding="utf-8")
        command = ["bash", "-e", "-o", "pipefail", str(script)] if language == "bash" else [sys.executable, str(script)]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"README block {number} ({language}) failed:\n{code}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        ran += 1
    assert ran == len(readme_blocks()) - len(SKIPPED)
    for written in ("h.png", "digit.npy", "relevance.npy", "heatmaps/index.csv", "my_cnn.npz", "app.png", "model.onnx",
                    "model.npz", "weights.safetensors", "compare_grid.png", "report.json", "faithfulness_cnn.png",
                    "mine.npz", "photo_heatmap.png", "shapes_heatmap.png", "normalised.npz", "my_shapes.npz",
                    "localisation.json"):
        assert (work / written).stat().st_size > 0, written


@pytest.mark.parametrize("fragment", ["--out docs/", "--plot docs/"])
def test_no_command_writes_into_a_folder_an_empty_folder_lacks(fragment):
    """Found by this test: compare/evaluate wrote into docs/, which a fresh folder does not have."""
    assert all(fragment not in code for _, code in readme_blocks())

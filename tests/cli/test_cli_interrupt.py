"""Ctrl-C during a long command ends it cleanly: exit 130, one line, no traceback, no half-written files.

Deterministic (issue 13, point 3): the child sets Python's default SIGINT handler itself, whatever
disposition the test runner passed on (a runner started in the background has SIGINT ignored, and
then the child would never see the signal); and the test waits for a marker file that the child
writes from *inside* an atomic write - the temp file complete, the rename not yet done - instead
of polling the output folder (where the hidden temp files matched too).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from interrupting import interrupt_when
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

#: The child: ``lrp-studio export`` whose third PNG rename waits for SIGINT, after writing a marker.
CHILD = textwrap.dedent("""
    import os, signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # explicit: not the runner's disposition
    marker, real_replace, renames = sys.argv[1], os.replace, []

    def replace(source, target):
        if str(target).endswith(".png"):
            renames.append(target)
            if len(renames) == 3:  # inside the critical section: the temp file exists, complete
                assert os.path.exists(source)
                with open(marker, "w") as handle:
                    handle.write(str(source))
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    time.sleep(0.05)  # KeyboardInterrupt arrives here
                raise SystemExit("no SIGINT within 60 s")
        return real_replace(source, target)

    os.replace = replace
    from lrp_studio.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def test_ctrl_c_inside_an_atomic_write_of_an_export_exits_cleanly(tmp_path):
    out_dir, marker = tmp_path / "maps", tmp_path / "inside-critical-section"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen: list[Path] = []

    def temp_file_is_complete() -> None:
        seen.append(Path(marker.read_text()))
        assert seen[0].exists() and seen[0].name.startswith(".") and ".tmp" in seen[0].name

    returncode, err = interrupt_when(CHILD, marker, ["export", "--model", "mlp", "--dataset", "mnist:test",
                                                     "--indices", "0:50", "--batch-size", "8", "--out-dir",
                                                     str(out_dir)], env, tmp_path, before=temp_file_is_complete)
    temp = seen[0]
    assert returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "lrp-studio: interrupted"
    assert not temp.exists()
    names = sorted(p.name for p in out_dir.iterdir())
    assert [name for name in names if name.startswith(".")] == []  # no temp file left
    pngs = [name for name in names if name.endswith(".png")]
    assert len(pngs) == 2  # the two renames before the interrupted one; the third never appeared
    for png in pngs:
        Image.open(out_dir / png).load()  # complete files
    assert "relevance.npy" not in names and "index.csv" not in names

"""The README's apt-get line names every package the no-display message can ask for."""

from __future__ import annotations

import re
from pathlib import Path

from lrp_studio.gui.app import XCB_LIBRARIES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_apt_line_lists_every_xcb_package() -> None:
    text = README.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"sudo apt-get install ([^\n]+)", text)
    assert match, "README has no apt-get line"
    packages = set(match.group(1).split())
    missing = sorted(set(XCB_LIBRARIES.values()) - packages)
    assert not missing, f"README's apt-get line lacks {missing}"

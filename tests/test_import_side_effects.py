"""``import lrp_studio`` changes no process-wide setting; the entry points tune the allocator explicitly."""

from __future__ import annotations

import subprocess
import sys

# Records every mallopt call made through ctypes, then runs the given code.
PROBE = """
import ctypes, sys
calls = []
real_cdll = ctypes.CDLL
class Recording:
    def __init__(self, *args, **kwargs):
        self._lib = real_cdll(*args, **kwargs)
    def __getattr__(self, name):
        value = getattr(self._lib, name)
        if name == "mallopt":
            return lambda *a: calls.append(a) or value(*a)
        return value
ctypes.CDLL = Recording
{code}
print("mallopt calls:", len(calls))
"""


def run_probe(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_import_changes_no_allocator_setting() -> None:
    assert run_probe("import lrp_studio, lrp_studio.cli, lrp_studio.lrp, lrp_studio.zoo") == "mallopt calls: 0"


def test_cli_entry_point_tunes_the_allocator() -> None:
    code = ("from lrp_studio.cli import main\n"
            "status = main(['explain', '--index', '0', '--model', 'mlp'])\n"
            "assert status == 0, status")
    if sys.platform.startswith("linux"):
        assert run_probe(code) == "mallopt calls: 3"

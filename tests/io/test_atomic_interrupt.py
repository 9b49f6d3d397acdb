"""Ctrl-C at any moment of an atomic write leaves no temporary file behind."""

from __future__ import annotations

import os
import signal

import pytest

from lrp_studio.io.atomic import atomic_write


def test_ctrl_c_right_after_the_temp_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """SIGINT arrives the instant os.open has created the temp file (before its path is returned)."""
    real_open = os.open

    def open_then_interrupted(path, flags, *args):
        fd = real_open(path, flags, *args)
        if ".tmp" in os.fspath(path):
            signal.raise_signal(signal.SIGINT)  # the Python handler runs as soon as this call returns
        return fd

    monkeypatch.setattr(os, "open", open_then_interrupted)
    written = []
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "map.png", written.append)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back


def test_ctrl_c_while_writing_leaves_the_old_file(tmp_path):
    target = tmp_path / "map.png"
    target.write_bytes(b"old")

    def interrupted(temp_path: str) -> None:
        with open(temp_path, "wb") as handle:
            handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted)
    assert os.listdir(tmp_path) == ["map.png"] and target.read_bytes() == b"old"

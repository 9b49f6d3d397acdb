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


def test_a_failing_close_of_the_new_temp_file_leaves_nothing(tmp_path, monkeypatch):
    """Creation and cleanup are one guarded step: an error right after os.open (here: os.close fails,
    e.g. EIO on a network file system) removes the new temp file instead of leaking it."""
    import errno

    real_open, real_close = os.open, os.close
    temp_fds = set()

    def tracking_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        if ".tmp" in os.fspath(path):
            temp_fds.add(fd)
        return fd

    def failing_close(fd):
        real_close(fd)
        if fd in temp_fds:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "open", tracking_open)
    monkeypatch.setattr(os, "close", failing_close)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(tmp_path / "map.png", lambda temp: None)
    monkeypatch.undo()
    assert temp_fds and os.listdir(tmp_path) == []


def test_ctrl_c_in_a_worker_thread_style_call_without_deferral_leaves_nothing(tmp_path, monkeypatch):
    """Where SIGINT cannot be deferred (not the main thread), an interrupt raised as os.open returns
    still leaves nothing: the creation step removes what it created."""
    import threading

    real_open = os.open
    outcome = []

    def open_then_interrupted(path, flags, *args):
        fd = real_open(path, flags, *args)
        if ".tmp" in os.fspath(path):
            os.close(fd)
            raise KeyboardInterrupt  # what the main thread's handler would raise here
        return fd

    monkeypatch.setattr(os, "open", open_then_interrupted)

    def worker():
        try:
            atomic_write(tmp_path / "map.png", lambda temp: None)
        except KeyboardInterrupt:
            outcome.append("interrupted")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    monkeypatch.undo()
    assert outcome == ["interrupted"] and os.listdir(tmp_path) == []

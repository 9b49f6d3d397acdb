"""Atomic file writes: a crash or an error mid-save never leaves a half-written file behind."""

from __future__ import annotations

import errno
import os
import secrets
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["atomic_write", "describe_os_error"]


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _create_temp(directory: Path, name: str, suffix: str) -> Path:
    """Create an empty, exclusive temp file next to the target (mode 0o666 minus the umask).

    Creation and cleanup are one guarded step: any exception once ``os.open`` has been called (an
    interrupt raised as it returns, an error from ``os.close``) removes the candidate before it
    propagates, so no caller ever has to know the path of a file it did not get back. Only
    ``FileExistsError`` (someone else's file of that random name) leaves the candidate alone.
    """
    stem = name[: len(name) - len(suffix)] if suffix else name
    for _ in range(100):
        candidate = directory / f".{stem}.{secrets.token_hex(6)}.tmp{suffix}"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except BaseException:
            _remove_quietly(candidate)
            raise
        return candidate
    raise FileExistsError(f"could not create a temporary file in {directory}")


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) for the block and deliver it at its end.

    Between the creation of a temp file and the moment its path is known to the caller's cleanup,
    a KeyboardInterrupt would leave the empty temp file behind. In the main thread the SIGINT
    handler is swapped for one that only records the signal; on leaving, the previous handler is
    restored and called with the recorded signal (the default one raises KeyboardInterrupt).
    Other threads never receive KeyboardInterrupt: there the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield  # no KeyboardInterrupt here, or a handler not set from Python (it cannot be swapped back)
        return
    received: list[tuple[int, object]] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(*received[0])
        elif received and previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


def describe_os_error(error: OSError) -> str:
    """``"Permission denied: '/x/y'"`` from an OSError (for one-line user messages)."""
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename!r}" if error.filename else reason


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (best effort; not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write_fn: Callable[[str], object]) -> Path:
    """Write a file atomically: into a temp file in the same directory, fsync, then rename.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace.
    write_fn : callable
        ``write_fn(temp_path)`` writes the whole content to ``temp_path`` (a ``str``). The temp
        file has the same suffix as ``path`` (so NumPy, PIL and friends neither append an
        extension nor pick another format); ``write_fn`` may open it itself or pass the path on.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    On any exception (including KeyboardInterrupt) the temp file is removed, the previous file at
    ``path`` is left untouched, and the exception propagates. An existing file's permission bits are
    kept; a new file gets the usual ``0o666`` minus the umask.
    """
    target = Path(os.fspath(path))
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, "No such directory", str(directory))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
    temp: Path | None = None
    try:
        with _interrupts_deferred():  # a Ctrl-C here would leak the new, empty temp file
            temp = _create_temp(directory, target.name, target.suffix)
        if target.exists():
            try:
                os.chmod(temp, target.stat().st_mode & 0o7777)
            except OSError:
                pass
        write_fn(str(temp))
        _fsync_file(temp)
        os.replace(temp, target)
    except BaseException:
        if temp is not None:
            _remove_quietly(temp)
        raise
    _fsync_directory(directory)
    return target

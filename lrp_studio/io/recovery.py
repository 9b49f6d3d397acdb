"""Recovery copies of unsaved models: written while and after the app trains, offered at the next start.

A model trained (or otherwise changed) in the app and not saved would be lost by a crash, a kill
or a power cut. The GUI writes a recovery copy after every training run ends (and about once a
minute during a long run); at the next start it asks "Restore unsaved model from <time>?".
The copy is removed after the model is saved or explicitly discarded.

A recovery copy is two files in :func:`recovery_dir`:

``unsaved-model.npz``
    An ordinary model file (:func:`lrp_studio.io.save_model`: arrays + JSON, never pickled).
``unsaved-model.json``
    What the app showed: ``{"version": 1, "saved_at": <UNIX seconds>, "model_name": str,
    "dataset_spec": str | null, "dataset_name": str}``.

Both are written atomically (:func:`lrp_studio.io.atomic.atomic_write`), the model first, so the
JSON names a complete model file; a copy whose JSON or model cannot be read is reported as
missing (``None``), never raised at start-up. The folder is the user's data folder
(``$XDG_DATA_HOME/lrp-studio/recovery``, ``~/.local/share/lrp-studio/recovery`` by default;
``%LOCALAPPDATA%`` on Windows, ``~/Library/Application Support`` on macOS), or the folder named
by the environment variable ``LRP_STUDIO_RECOVERY_DIR`` (tests, portable installs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lrp_studio.errors import ModelFileError
from lrp_studio.io.atomic import atomic_write
from lrp_studio.io.model import load_model, save_model
from lrp_studio.nn import Network

ENV_VAR = "LRP_STUDIO_RECOVERY_DIR"
MODEL_FILE = "unsaved-model.npz"
INFO_FILE = "unsaved-model.json"
VERSION = 1


@dataclass(frozen=True)
class RecoveryInfo:
    """A recovery copy on disk.

    Attributes
    ----------
    path : Path
        The model file (``unsaved-model.npz``).
    saved_at : float
        When it was written, UNIX seconds.
    model_name : str
        The name the app showed for the model ("trained in the app", ...).
    dataset_spec : str or None
        What reopens the dataset it was trained on (``toy:moons``, files), when known.
    dataset_name : str
    """

    path: Path
    saved_at: float
    model_name: str
    dataset_spec: str | None
    dataset_name: str

    def when(self) -> str:
        """``saved_at`` as local time, e.g. ``2026-12-02 14:05``."""
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))


def recovery_dir() -> Path:
    """The folder of recovery copies (not created here): ``$LRP_STUDIO_RECOVERY_DIR`` or the user's data folder."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "lrp-studio" / "recovery"


def write_recovery(net: Network, model_name: str, dataset_name: str = "", dataset_spec: str | None = None,
                   now: float | None = None) -> RecoveryInfo:
    """Write (replace) the recovery copy of ``net``; returns what :func:`find_recovery` will report.

    Raises
    ------
    ModelFileError
        The folder cannot be created or written (the caller reports it, e.g. in the status bar).
    """
    folder = recovery_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelFileError(f"{folder}: cannot create the recovery folder ({error.strerror or error})") from None
    saved_at = time.time() if now is None else float(now)
    info = {"version": VERSION, "saved_at": saved_at, "model_name": str(model_name),
            "dataset_spec": dataset_spec, "dataset_name": str(dataset_name)}
    path = save_model(net, folder / MODEL_FILE)
    text = json.dumps(info, indent=1)

    def write(temp_path: str) -> None:
        with open(temp_path, "w", encoding="utf-8") as handle:
            handle.write(text)

    try:
        atomic_write(folder / INFO_FILE, write)
    except OSError as error:
        raise ModelFileError(f"{folder / INFO_FILE}: cannot write ({error.strerror or error})") from None
    return RecoveryInfo(path, saved_at, info["model_name"], dataset_spec, info["dataset_name"])


def find_recovery() -> RecoveryInfo | None:
    """The recovery copy on disk, or None (none, or unreadable: a half-written or foreign file)."""
    folder = recovery_dir()
    model, info_path = folder / MODEL_FILE, folder / INFO_FILE
    if not model.is_file() or not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        spec = info.get("dataset_spec")
        return RecoveryInfo(model, float(info["saved_at"]), str(info.get("model_name", "unsaved model")),
                            spec if isinstance(spec, str) else None, str(info.get("dataset_name", "")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def load_recovery(info: RecoveryInfo) -> Network:
    """The network of a recovery copy (:func:`lrp_studio.io.load_model`; raises its ModelFileError)."""
    return load_model(info.path)


def discard_recovery() -> bool:
    """Remove the recovery copy (after a save or an explicit discard); True when there was one."""
    folder = recovery_dir()
    removed = False
    for name in (INFO_FILE, MODEL_FILE):  # the JSON first: a copy without it is never offered
        try:
            (folder / name).unlink()
            removed = True
        except FileNotFoundError:
            pass
        except OSError:
            pass
    return removed


__all__ = ["ENV_VAR", "RecoveryInfo", "discard_recovery", "find_recovery", "load_recovery", "recovery_dir",
           "write_recovery"]

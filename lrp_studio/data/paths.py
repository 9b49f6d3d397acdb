"""Locating bundled resources (MNIST subset, pretrained models, icons)."""

from __future__ import annotations

from pathlib import Path

from lrp_studio.errors import DataError

__all__ = ["resource_dirs", "resource_path"]


def resource_dirs() -> list[Path]:
    """Directories searched for bundled resources, in order.

    Returns
    -------
    list of pathlib.Path
        ``lrp_studio/resources`` (where an installed wheel puts them), then the repository's
        top-level ``resources/`` (a source checkout).
    """
    package_dir = Path(__file__).resolve().parents[1]
    return [package_dir / "resources", package_dir.parent / "resources"]


def resource_path(name: str) -> Path:
    """Return the path of the bundled resource ``name``.

    Parameters
    ----------
    name : str
        File name relative to the resources directory, e.g. ``"mnist_5k.npz"``.

    Returns
    -------
    pathlib.Path
        Absolute path of the first existing candidate.

    Raises
    ------
    DataError
        If the resource exists in none of :func:`resource_dirs`.
    """
    candidates = [directory / name for directory in resource_dirs()]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    searched = ", ".join(str(c.parent) for c in candidates)
    raise DataError(f"{name}: bundled resource not found (searched {searched})")

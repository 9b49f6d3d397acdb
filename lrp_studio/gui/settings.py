"""Names of the GUI's persistent settings (QSettings) and the version of the saved dock layout.

Kept apart from :mod:`~lrp_studio.gui.main_window` so the docks, sessions and views that need
them import this small module instead of the window (which imports them).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

SETTINGS_ORG = "lrp-studio"
SETTINGS_APP = "lrp-studio"
#: Version passed to ``QMainWindow.saveState`` / ``restoreState``; raise it when the docks change.
STATE_VERSION = 1


def open_settings() -> QSettings:
    """The user's LRP Studio settings file (INI format, user scope)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, SETTINGS_ORG, SETTINGS_APP)


__all__ = ["SETTINGS_APP", "SETTINGS_ORG", "STATE_VERSION", "open_settings"]

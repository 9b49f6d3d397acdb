"""Small text helpers shared by the GUI's labels."""

from __future__ import annotations

#: U+00A0: a space a word-wrapping label never breaks at.
NBSP = "\u00a0"


def percent(value: float, decimals: int = 1) -> str:
    """``value`` (already in percent) as ``"99.0 %"`` with a no-break space, so "%" never wraps onto its own line."""
    return f"{value:.{decimals}f}{NBSP}%"


__all__ = ["NBSP", "percent"]

"""Category tick labels that never overlap: staggered on up to three lines, else numbered.

Pure layout arithmetic (pixel widths in, label texts out); the plots measure the texts with their
axis font (:class:`PySide6.QtGui.QFontMetricsF`) and call :func:`fitted_labels` on every resize.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MAX_ROWS", "fitted_labels", "tick_rows"]

#: Most lines the labels are staggered on before they are replaced by numbers.
MAX_ROWS = 3
#: Free pixels kept between two labels of one line.
GAP_PX = 6.0


def tick_rows(widths: Sequence[float], spacing: float, max_rows: int = MAX_ROWS, gap: float = GAP_PX) -> int | None:
    """Fewest lines on which labels centred ``spacing`` px apart do not overlap.

    Label ``i`` goes on line ``i % rows``; two labels of one line are ``rows * spacing`` px apart
    and need half of each width plus ``gap`` between their centres.

    Parameters
    ----------
    widths : sequence of float, shape (n,)
        Pixel width of each label, in tick order.
    spacing : float
        Pixels between neighbouring tick centres (> 0).
    max_rows : int
        Most lines tried (default :data:`MAX_ROWS`).

    Returns
    -------
    int or None
        1..``max_rows``, or None when even ``max_rows`` lines overlap.
    """
    for rows in range(1, max_rows + 1):
        pairs = zip(widths, widths[rows:])
        if all((left + right) / 2.0 + gap <= rows * spacing for left, right in pairs):
            return rows
    return None


def fitted_labels(names: Sequence[str], widths: Sequence[float], number_widths: Sequence[float],
                  spacing: float) -> tuple[list[str], bool]:
    """Tick texts for ``names`` at ``spacing`` px: staggered names, or staggered numbers 0..n-1.

    Parameters
    ----------
    names : sequence of str, shape (n,)
    widths, number_widths : sequence of float, shape (n,)
        Pixel widths of the names and of the numbers ``"0"``..``str(n - 1)``.
    spacing : float
        Pixels between neighbouring tick centres.

    Returns
    -------
    (labels, numbered)
        ``labels[i]`` starts with ``i % rows`` newlines (its line); ``numbered`` is True when the
        names did not fit on :data:`MAX_ROWS` lines and numbers replace them (the caller names
        them elsewhere, e.g. in a tooltip).
    """
    rows = tick_rows(widths, spacing)
    numbered = rows is None
    texts = [str(i) for i in range(len(names))] if numbered else list(names)
    if numbered:
        rows = tick_rows(number_widths, spacing) or MAX_ROWS
    return ["\n" * (i % rows) + text for i, text in enumerate(texts)], numbered

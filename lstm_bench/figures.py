"""The one plotting style of every picture lstm-bench draws (diagnostics and reports alike).

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot: no global backend
or figure state is touched (a run may be one of many in a worker process), and a figure is freed
when it goes out of scope. Saved files carry no version stamp: the same data, the same bytes.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CMAP = "viridis"  # sequential values: training step, gate value
DPI = 110


def new_figure(nrows: int = 1, ncols: int = 1, panel_size: tuple[float, float] = (6.5, 3.2), **subplots):
    """(figure, (nrows, ncols) array of axes), each panel `panel_size` inches, laid out by matplotlib."""
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **subplots)


def save(fig: Figure, path) -> Path:
    """Write `fig` to `path` (its suffix picks the format: .png, .pdf)."""
    path = Path(path)
    stamps = ("Software",) if path.suffix == ".png" else ("Creator", "Producer", "CreationDate")
    fig.savefig(path, dpi=DPI, metadata=dict.fromkeys(stamps))
    return path

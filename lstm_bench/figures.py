"""The one plotting style of every picture lstm-bench draws (diagnostics and reports alike).

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot: no global backend
or figure state is touched (a run may be one of many in a worker process), and a figure is freed
when it goes out of scope. Saved files carry no version stamp or date: the same data, the same bytes.

Every model keeps one look (colour, marker, line style) in every figure: `model_style` reads it from
MODEL_STYLES by the model's name (VARIANT_STYLES for the cell's variants), and gives any other name a look
of its own, picked from the name's digest: the same name looks the same in every figure, on every machine.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

CMAP = "viridis"  # sequential values: training step, gate value
DPI = 110
PANEL = (4.5, 3.6)  # inches per panel of a report figure
LEGEND_SIZE = 7  # points, every legend
BAND_ALPHA = 0.15  # an interval drawn as a band: wilson, interquartile
FAINT_ALPHA = 0.35  # single runs behind a summary (per-seed points)
BASELINE = dict(color="0.45", ls=":", lw=1.2)  # the memoryless baseline, a reference line in every figure


class Style(NamedTuple):
    color: str
    marker: str
    ls: str

    def line(self) -> dict:
        """Keyword arguments of Axes.plot."""
        return {"color": self.color, "marker": self.marker, "ls": self.ls}


# Okabe & Ito's colour-blind-safe palette; a marker and a line style each too, so that no two models
# are told apart by colour alone, and a line drawn exactly over another still shows its markers
MODEL_STYLES = {
    "rnn": Style("#D55E00", "s", "-"),
    "irnn": Style("#CC79A7", "v", "-."),
    "gru": Style("#009E73", "^", "--"),
    "lstm": Style("#0072B2", "o", "-"),
    "lstm_cell": Style("#56B4E9", "D", ":"),
    "lstm_triton": Style("#000000", "x", "--"),
    "slstm": Style("#E69F00", "P", "-."),
    "minlstm": Style("#7F7F7F", "X", ":"),
    "mingru": Style("#B8A000", "*", "--"),
    # the matrix-memory, selective, diagonal and orthogonal recurrences (issue 25); NAME-neg (negative eigenvalues)
    # is drawn in NAME's colour and marker with another line style (model_style)
    "mlstm": Style("#882255", "h", "-"),
    "deltanet": Style("#117733", "<", "-"),
    "s6": Style("#44AA99", ">", "-"),
    "lru": Style("#999933", "d", "-."),
    "exprnn": Style("#332288", "p", "--"),
}
# the gate-by-gate cell's variants (result names lstm_cell-VARIANT, lstm_cell-VARIANT+peephole), drawn together
# in the variants experiment: a colour and marker per variant (Tol's muted palette), solid without peepholes and
# dashed with them
VARIANT_STYLES = {
    "vanilla": ("#332288", "o"), "nig": ("#117733", "s"), "nfg": ("#882255", "^"), "nog": ("#44AA99", "v"),
    "niaf": ("#999933", "D"), "noaf": ("#AA4499", "P"), "cifg": ("#CC6677", "X"), "fgr": ("#88CCEE", "*"),
}
# the looks a name outside the tables draws from: colours none of the table's, so a fallback is never
# mistaken for a listed model
FALLBACK_COLORS = ("#1B9E77", "#7570B3", "#E7298A", "#66A61E", "#A6761D", "#8C564B", "#17BECF", "#BCBD22",
                   "#393B79", "#AD494A", "#637939", "#9467BD")
FALLBACK_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "h")
FALLBACK_LINES = ("-", "--", "-.", ":")


def model_style(name: str) -> Style:
    """The look of the model (or results label) `name`: the table's, else one fixed by an MD5 digest of the
    name (Python's own hash() is salted per process), colour, marker and line style each from its own bytes."""
    if name in MODEL_STYLES:
        return MODEL_STYLES[name]
    base = name.removesuffix("-neg")
    if base != name and base in MODEL_STYLES:  # a pair [0, 1] / [-1, 1] reads as one colour, two line styles
        color, marker, ls = MODEL_STYLES[base]
        return Style(color, marker, ":" if ls == "--" else "--")
    variant, plus, rest = name.removeprefix("lstm_cell-").partition("+")
    if name.startswith("lstm_cell-") and variant in VARIANT_STYLES and rest in ("", "peephole"):
        return Style(*VARIANT_STYLES[variant], "--" if plus else "-")
    d = hashlib.md5(name.encode()).digest()
    return Style(FALLBACK_COLORS[int.from_bytes(d[:4], "big") % len(FALLBACK_COLORS)],
                 FALLBACK_MARKERS[int.from_bytes(d[4:8], "big") % len(FALLBACK_MARKERS)],
                 FALLBACK_LINES[int.from_bytes(d[8:12], "big") % len(FALLBACK_LINES)])


def dodge(xs, i: int, n: int, spread: float) -> list[float]:
    """xs moved by a factor for the i-th of n series sharing a log axis: the series spread evenly over
    `spread` decades, centred on the true x (a multiplicative shift: the same look at every T)."""
    if n < 2:
        return [float(x) for x in xs]
    factor = 10 ** (spread * (i / (n - 1) - 0.5))
    return [x * factor for x in xs]


def new_figure(nrows: int = 1, ncols: int = 1, panel_size: tuple[float, float] = (6.5, 3.2), **subplots):
    """(figure, (nrows, ncols) array of axes), each panel `panel_size` inches, laid out by matplotlib."""
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **subplots)


def panels(keys: list, panel_size=PANEL, nrows: int = 1):
    """A figure with a column of `nrows` panels per key: (figure, {key: its column of axes, or its one axes})."""
    fig, axes = new_figure(nrows, len(keys), panel_size=panel_size)
    return fig, {k: axes[:, j] if nrows > 1 else axes[0, j] for j, k in enumerate(keys)}


def model_handle(model: str, **kw) -> Line2D:
    """A legend entry in the model's look, labelled with its name (kw overrides: a line style the figure uses
    for something else, a longer label)."""
    return Line2D([], [], **{**model_style(model).line(), "ms": 5, "label": model, **kw})


def save(fig: Figure, path) -> Path:
    """Write `fig` to `path` (its suffix picks the format: .png, .pdf)."""
    path = Path(path)
    stamps = ("Software",) if path.suffix == ".png" else ("Creator", "Producer", "CreationDate")
    fig.savefig(path, dpi=DPI, metadata=dict.fromkeys(stamps))
    return path


def save_all(fig: Figure, stem) -> list[Path]:
    """`fig` as STEM.png (for a screen) and STEM.pdf (vector, for a paper)."""
    stem = Path(stem)
    return [save(fig, stem.with_suffix(suffix)) for suffix in (".png", ".pdf")]

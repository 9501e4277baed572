"""The diagnostics' pictures: PNGs in the run directory, and the plain data the logger turns into media.

The logger gets numpy arrays and lists only (histogram counts and edges, a pixel array, log10
curves): what a W&B object is stays in lstm_bench/wandb_logger.py.
"""
from __future__ import annotations

import math
import sys

import numpy as np

# matplotlib is imported in the functions that draw: every run imports this module, and a run without
# diagnostics (diag.every=0, as the sweeps' runs) would pay a third of a second to start for nothing

TINY = sys.float_info.min  # float64's smallest normal number: the probe's floor for a norm


def histogram(counts: list) -> tuple[np.ndarray, np.ndarray]:
    """Counts in equal bins on [0, 1] -> numpy's (counts, edges)."""
    return np.asarray(counts), np.linspace(0.0, 1.0, len(counts) + 1)


def heatmap_rgb(values) -> np.ndarray:
    """(H, T) values in [0, 1] -> (H, T, 3) uint8 pixels in the colour map, f = 0 dark, f = 1 bright."""
    from matplotlib import colormaps

    from lstm_bench.figures import CMAP

    rgba = colormaps[CMAP](np.clip(np.asarray(values), 0.0, 1.0))  # (H, T, 4) floats
    return (rgba[..., :3] * 255).astype(np.uint8)


def log10_curve(norms: list) -> list:
    """log10 of a curve of norms, underflows floored like the gradient ratio."""
    return [math.log10(max(v, TINY)) if math.isfinite(v) else math.nan for v in norms]


def grad_through_time(rows: list[dict], path) -> None:
    """‖∂L/∂h‖ (and ‖∂L/∂c‖ where there is a cell) against the lag k, the steps back from each
    sequence's scored step, one line per probe, coloured by step; the dependency lengths shaded."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from lstm_bench.figures import CMAP, new_figure, save

    panels = [k for k in ("grad_h_lag", "grad_c_lag") if k in rows[-1]]
    fig, axes = new_figure(len(panels), 1)
    axes = axes[:, 0]  # (n_panels,)
    cmap = colormaps[CMAP]
    last = max(rows[-1]["step"], 1)
    for ax, key in zip(axes, panels):
        for r in rows:
            if key not in r:
                continue
            y = np.array([v if v is not None and v > 0 else np.nan for v in r[key]])  # log scale: no zeros
            ax.plot(np.arange(len(y)), y, color=cmap(r["step"] / last), lw=1.2, label=f"step {r['step']}")
        if rows[-1].get("dependency_range"):  # where the dependencies start, in lags
            ax.axvspan(*rows[-1]["dependency_range"], color="0.5", alpha=0.15, lw=0)
        if any(v is not None and v > 0 for r in rows for v in r.get(key, [])):  # a NaN loss leaves nothing to log
            ax.set_yscale("log")
        ax.set_xlabel("lag k (steps back from the scored step)")
        ax.set_ylabel(f"‖∂L/∂{key[5]}_(end-k)‖")
    ratio = rows[-1].get("grad_ratio_log10")
    title = "gradient through time" + ("" if ratio is None or not math.isfinite(ratio) else
                                       f" (last: log10 ratio {ratio:.1f})")
    axes[0].set_title(title)
    if len(rows) <= 12:
        axes[0].legend(fontsize=7, ncol=2)
    else:  # too many lines to label: a colour bar of the step instead
        fig.colorbar(ScalarMappable(Normalize(0, last), cmap), ax=list(axes), label="training step")
    save(fig, path)


def forget_heatmap(f, step: int, path) -> None:
    """f_t of one probe example's real steps as units x time: bright rows hold their memory, dark rows erase it."""
    from lstm_bench.figures import CMAP, new_figure, save

    fig, axes = new_figure(panel_size=(6.5, 4.0))
    ax = axes[0, 0]
    im = ax.imshow(np.asarray(f), aspect="auto", interpolation="nearest", cmap=CMAP, vmin=0.0, vmax=1.0)
    ax.set_xlabel("t")
    ax.set_ylabel("unit")
    ax.set_title(f"forget gate f_t, one probe example, step {step}")
    fig.colorbar(im, ax=ax, label="f")
    save(fig, path)

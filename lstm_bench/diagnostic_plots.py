"""The diagnostics' pictures: PNGs in the run directory and pixel arrays for W&B.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot, so no global backend
or figure state is touched (a run may be one of many in a worker process).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CMAP = "viridis"


def histogram(counts: list) -> tuple[np.ndarray, np.ndarray]:
    """Counts in equal bins on [0, 1] -> numpy's (counts, edges), which wandb.Histogram takes."""
    return np.asarray(counts), np.linspace(0.0, 1.0, len(counts) + 1)


def heatmap_rgb(values) -> np.ndarray:
    """(H, T) values in [0, 1] -> (H, T, 3) uint8 pixels in the colour map, f = 0 dark, f = 1 bright."""
    rgba = colormaps[CMAP](np.clip(np.asarray(values), 0.0, 1.0))  # (H, T, 4) floats
    return (rgba[..., :3] * 255).astype(np.uint8)


def _save(fig: Figure, path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)


def grad_through_time(rows: list[dict], path) -> None:
    """‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ where there is a cell) against t, one line per probe, coloured by step."""
    panels = [k for k in ("grad_h", "grad_c") if k in rows[-1]]
    fig = Figure(figsize=(6.5, 3.2 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    cmap = colormaps[CMAP]
    last = max(rows[-1]["step"], 1)
    for ax, key in zip(axes, panels):
        for r in rows:
            if key not in r:
                continue
            y = np.array([v if v is not None and v > 0 else np.nan for v in r[key]])  # log scale: no zeros
            ax.plot(np.arange(len(y)), y, color=cmap(r["step"] / last), lw=1.2, label=f"step {r['step']}")
        ax.axvline(rows[-1]["span"][1], color="0.5", ls=":", lw=1)  # where the dependency ends
        if any(v is not None and v > 0 for r in rows for v in r.get(key, [])):  # a NaN loss leaves nothing to log
            ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_ylabel(f"‖∂L/∂{key[-1]}_t‖")
    ratio = rows[-1].get("grad_ratio_log10")
    title = "gradient through time" + ("" if ratio is None or not math.isfinite(ratio) else
                                       f" (last: log10 ratio {ratio:.1f})")
    axes[0].set_title(title)
    if len(rows) <= 12:
        axes[0].legend(fontsize=7, ncol=2)
    else:  # too many lines to label: a colour bar of the step instead
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        fig.colorbar(ScalarMappable(Normalize(0, last), cmap), ax=list(axes), label="training step")
    _save(fig, path)


def forget_heatmap(f, step: int, path) -> None:
    """f_t of one probe example as units x time: bright rows hold their memory, dark rows erase it."""
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(np.asarray(f), aspect="auto", interpolation="nearest", cmap=CMAP, vmin=0.0, vmax=1.0)
    ax.set_xlabel("t")
    ax.set_ylabel("unit")
    ax.set_title(f"forget gate f_t, one probe example, step {step}")
    fig.colorbar(im, ax=ax, label="f")
    _save(fig, path)

"""When the probe runs, and where its record goes: diagnostics.jsonl, the logger, the PNGs, result.json."""
from __future__ import annotations

import time

import torch

from lstm_bench.diagnostics import plots
from lstm_bench.diagnostics.probe import GATES, measure, scalars
from lstm_bench.errors import require
from tasks import TEST

DTYPES = {"float64": torch.float64, "float32": torch.float32}
# forget_timescale_median is null both where there is no forget gate and where it is infinite: the flag tells
RESULT_KEYS = ("grad_ratio_log10", "grad_decay_per_step", "dependency_length", "forget_mean",
               "forget_timescale_median", "forget_timescale_median_infinite")


class Diagnostics:
    """Runs the probe on its schedule, writes diagnostics.jsonl, hands the logger plain data, draws the PNGs.

    `diag.every` counts evaluations (step 0, the fresh model, is the first): 1 probes at every
    evaluation, 0 turns diagnostics off.
    """

    def __init__(self, cfg, task, seed: int, device):
        every = 0 if cfg is None else cfg.every  # a config without the diag group: off
        require(isinstance(every, int) and not isinstance(every, bool) and every >= 0, "diag.every", every,
                "a whole number of evaluations >= 0 (0 turns diagnostics off)")
        self.every, self.task = every, task
        if every:
            require(isinstance(cfg.batch_size, int) and cfg.batch_size > 0, "diag.batch_size", cfg.batch_size,
                    "a positive integer")
            require(cfg.dtype in DTYPES, "diag.dtype", cfg.dtype, "one of " + ", ".join(DTYPES))
            self.dtype = DTYPES[cfg.dtype]
            self.batch = task.batch(cfg.batch_size, seed, 0, device, split=TEST)
        self.rows, self.heatmap, self.n_evals, self.time_s = [], None, 0, 0.0

    def start(self, records, logger) -> None:
        self.records, self.logger = records, logger

    def at_eval(self, model, step: int) -> None:
        """Called at every evaluation; probes at every `every`-th."""
        if self.every and self.n_evals % self.every == 0:
            self.probe(model, step)
        self.n_evals += 1

    def probe(self, model, step: int) -> None:
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            return  # a diverged model has no gradient worth measuring
        tic = time.perf_counter()
        row, heatmap = measure(model, self.task, self.batch, self.dtype)
        row = {"step": step, **row}
        self.records.diagnostic(row)
        self.logger.log(scalars(row), step=step)
        hists = {f"diag/{GATES[k]}_hist": plots.histogram(c) for k, c in row.get("gate_hist", {}).items()}
        if hists:
            self.logger.log_histograms(hists, step=step)
        if heatmap is not None:
            self.logger.log_image("diag/forget_heatmap", plots.heatmap_rgb(heatmap),
                                  f"f_t, units x time, step {step}", step=step)
        self.rows.append(row)
        self.heatmap = heatmap
        self.time_s += time.perf_counter() - tic

    def finish(self, model, step: int) -> None:
        """The last probe (unless this step had one), then the curves of every probe and the PNGs."""
        if not self.every:
            return
        if not self.rows or self.rows[-1]["step"] != step:
            self.probe(model, step)
        if not self.rows:
            return
        tic = time.perf_counter()
        # against t (where in the sequence) and against the lag (how far back from the scored step)
        for key, x, xname in (("grad_h", "t", "t"), ("grad_c", "t", "t"),
                              ("grad_h_lag", "k", "lag k"), ("grad_c_lag", "k", "lag k")):
            if key in self.rows[-1]:
                self.logger.log_curves(
                    f"diag/{key[:6]}_{x}", xs=list(range(len(self.rows[-1][key]))),
                    ys=[plots.log10_curve(r[key]) for r in self.rows], labels=[f"step {r['step']}" for r in self.rows],
                    title=f"log10 ‖∂L/∂{key[5]}‖ against {xname}", xname=xname, step=step)
        plots.grad_through_time(self.rows, self.records.dir / "grad_through_time.png")
        if self.heatmap is not None:
            plots.forget_heatmap(self.heatmap, self.rows[-1]["step"], self.records.dir / "forget_gate_heatmap.png")
        self.time_s += time.perf_counter() - tic

    def result(self) -> dict:
        """result.json's diagnostic fields: the last probe's, null where not measured."""
        last = self.rows[-1] if self.rows else {}
        return {**{k: last.get(k) for k in RESULT_KEYS}, "diag_time_s": self.time_s}

"""The one place that knows W&B: it turns the harness's plain data into W&B objects and mirrors
the local records; it is never the only copy.

Every call is guarded: if W&B fails (no network in online mode, a broken install), the run
goes on with a one-line warning and its local records are still written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lstm_bench.errors import require

MODES = ("offline", "online", "disabled")


def _warn(what: str, err: Exception) -> None:
    print(f"warning: W&B {what} failed, continuing with local records only: {type(err).__name__}: {err}".splitlines()[0],
          file=sys.stderr)


def _settings(wandb):
    """Every run this module starts: quiet, and nothing of the machine recorded but what we choose."""
    return wandb.Settings(
        silent=True,
        console="off",  # the run's terminal output stays out of the record
        disable_git=True,  # we record the commit ourselves; a remote URL may carry a token
        save_code=False,
        x_disable_stats=True,
        x_save_requirements=False,
    )


class NullLogger:
    """`logger=none`, and the logger interface: callers hand over plain data (numbers, lists, numpy
    arrays), never W&B objects."""

    def start(self, run_dir: Path, config: dict, name: str, group: str | None, alongside: bool = False) -> None:
        """alongside: other runs of this process stay open (a pack's members, lstm_bench/train_packed.py)."""

    def log(self, row: dict, step: int) -> None:
        """Scalars: {key: number}."""

    def log_histograms(self, histograms: dict, step: int) -> None:
        """{key: (counts, edges)}: numpy's histogram, len(edges) == len(counts) + 1."""

    def log_image(self, key: str, pixels, caption: str, step: int) -> None:
        """pixels: (H, W, 3) uint8."""

    def log_curves(self, key: str, xs: list, ys: list, labels: list, title: str, xname: str, step: int) -> None:
        """Several curves on one x axis, one plot: ys[i] against xs, named labels[i]."""

    def finish(self, result: dict) -> None: ...


class WandbLogger(NullLogger):
    """`logger=wandb`: one W&B run per job, files in the job's own directory."""

    def __init__(self, mode: str = "offline", project: str = "lstm-bench", entity: str | None = None,
                 group: str | None = None, tags: list | None = None):
        # a typo is bad input, not a W&B failure to warn about and carry on from
        require(mode in MODES, "logger.mode", mode, "one of " + ", ".join(MODES))
        self.mode, self.project, self.entity = mode, project, entity
        self.group, self.tags = group, list(tags or [])
        self.run = None

    def start(self, run_dir, config, name, group, alongside=False):
        try:
            import wandb

            # reinit="finish_previous": joblib reuses worker processes, and a run left open would leak into the
            # next job; a pack's members each have a run open at once, which every member's finish closes
            self.run = wandb.init(
                mode=self.mode, project=self.project, entity=self.entity, dir=str(run_dir), name=name,
                group=self.group or group, tags=self.tags, config=config,
                reinit="create_new" if alongside else "finish_previous",
                settings=_settings(wandb),
            )
        except Exception as err:  # noqa: BLE001: W&B must never stop a run
            _warn("init", err)
            self.run = None

    def log(self, row, step):
        if self.run is not None:
            try:
                self.run.log(row, step=step)
            except Exception as err:  # noqa: BLE001
                _warn("log", err)
                self.run = None

    def log_histograms(self, histograms, step):
        self._log_media(lambda wandb: {k: wandb.Histogram(np_histogram=(counts, edges))
                                       for k, (counts, edges) in histograms.items()}, step)

    def log_image(self, key, pixels, caption, step):
        self._log_media(lambda wandb: {key: wandb.Image(pixels, caption=caption)}, step)

    def log_curves(self, key, xs, ys, labels, title, xname, step):
        self._log_media(lambda wandb: {key: wandb.plot.line_series(xs=xs, ys=ys, keys=labels, title=title,
                                                                   xname=xname)}, step)

    def _log_media(self, build, step):
        """Logs the row `build(wandb)` makes. A failed medium costs that medium only: the run stays
        on, unlike a failed scalar row."""
        if self.run is not None:
            try:
                import wandb

                self.run.log(build(wandb), step=step)
            except Exception as err:  # noqa: BLE001
                _warn("log", err)

    def finish(self, result):
        if self.run is None:
            return
        try:
            self.run.summary.update({k: v for k, v in result.items() if k != "config"})
            self.run.finish(exit_code=0)
        except Exception as err:  # noqa: BLE001
            _warn("finish", err)
        finally:
            self.run = None


def log_sweep_table(logger, group: str, key: str, columns: list, rows: list, run_dir: Path) -> None:
    """At the end of a sweep: a summary run in the sweep's W&B group holding one wandb.Table.
    Does nothing unless `logger` is a WandbLogger (logger=none)."""
    if not isinstance(logger, WandbLogger):
        return
    try:
        import wandb

        Path(run_dir).mkdir(parents=True, exist_ok=True)
        run = wandb.init(mode=logger.mode, project=logger.project, entity=logger.entity, dir=str(run_dir),
                         name=f"{logger.group or group}-summary", group=logger.group or group, job_type="summary",
                         tags=logger.tags, reinit="finish_previous",
                         settings=_settings(wandb))
        run.log({key: wandb.Table(columns=list(columns), data=[list(r) for r in rows])})
        run.finish(exit_code=0)
    except Exception as err:  # noqa: BLE001: W&B must never stop a sweep
        _warn("summary table", err)

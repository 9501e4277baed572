"""The report's figures on a sweep written by hand (known numbers) and on two tiny real runs: all five in PNG and
PDF, the same bytes from the same records, one look per model, models with identical data kept apart."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Annotation

from conftest import ROOT, TINY, compose_cfg
from lstm_bench import figures, report
from lstm_bench.report import curves, plots

FIVE = ("solve_rate", "t50", "grad_through_time", "learning_curves", "forget_timescales")
LENGTHS = (10, 20, 40)
# seeds that solve each length: every seed at 10, two at 20, one at 40: a T50 with a finite fit
SOLVED = {10: {0, 1, 2}, 20: {0, 1}, 40: {2}}
F_UNITS = {"fresh": [0.5, 0.6, 0.7], "trained": [0.5, 0.9, 1.0]}  # mean f per unit; 1.0 never forgets


def write_run(root: Path, model: str, length: int, seed: int, solved: bool, val=True, forget=False):
    d = root / f"{model}_{length}_{seed}"
    d.mkdir(parents=True)
    config = {"seed": seed, "task": {"length": length}, "model": {"hidden_size": 8}}
    result = {"task": "adding", "model": model, "length": length, "seed": seed, "config": config,
              "status": "solved" if solved else "unsolved", "solved_test": solved,
              "steps_to_solve": 100 if solved else None,
              "steps": 300, "metric_name": "mse", "test_metric": 0.1, "test_loss": 0.1, "baseline_loss": 1 / 6,
              "loss_vs_baseline": 0.6}
    (d / "result.json").write_text(json.dumps(result))
    (d / "meta.json").write_text(json.dumps({"git": {"commit": "a" * 40, "dirty": False}, "versions": {}}))
    split = "val" if val else "test"
    metrics = [{"step": s, f"{split}_mse": 0.1 * (seed + 1) / s, f"{split}_loss": 0.1 * (seed + 1) / s}
               for s in (1, 2, 3)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    probes = []
    for step, phase, scale in ((0, "fresh", 0.5), (300, "trained", 0.9)):
        p = {"step": step, "grad_h": [scale ** k for k in range(length)][::-1],
             "grad_h_lag": [scale ** k for k in range(length)], "dependency_range": [length // 2, length - 1]}
        if forget:
            p["forget_unit_mean"] = F_UNITS[phase]
        probes.append(p)
    (d / "diagnostics.jsonl").write_text("".join(json.dumps(p) + "\n" for p in probes) + "{half-writ")


def hand_sweep(root: Path) -> Path:
    """lstm and gru with identical records; rnn solves T=10 once and nothing longer, and has no validation."""
    for T in LENGTHS:
        for seed in (0, 1, 2):
            for model in ("lstm", "gru"):
                write_run(root, model, T, seed, seed in SOLVED[T], forget=model == "lstm")
            write_run(root, "rnn", T, seed, T == 10 and seed == 0, val=False)
    return root


def tables(root: Path):
    return report.build(report.load(root))


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_five_figures_in_both_formats_the_same_bytes_from_the_cli_and_in_process(tmp_path):
    sweep = hand_sweep(tmp_path / "sweep")
    written = plots.draw(tables(sweep), tmp_path / "a")
    names = {p.name for p in written}
    assert {f"{n}.{ext}" for n in FIVE for ext in ("png", "pdf")} <= names
    assert {"steps_to_solve.png", "steps_to_solve.pdf"} <= names
    p = subprocess.run([sys.executable, "-m", "lstm_bench.report", str(sweep), "--plots", str(tmp_path / "b")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for path in written:
        data = path.read_bytes()
        assert data[:4] in (b"\x89PNG", b"%PDF")
        assert data == (tmp_path / "b" / path.name).read_bytes(), path.name  # another process, the same bytes
        assert b"CreationDate" not in data and b"Matplotlib v" not in data  # no date, no version stamp


def test_dodge_moves_series_apart_by_a_factor():
    assert figures.dodge([100, 200], 0, 1, 0.1) == [100.0, 200.0]
    assert figures.dodge([100], 0, 2, 0.1) == [pytest.approx(100 * 10 ** -0.05)]
    assert figures.dodge([100], 1, 2, 0.1) == [pytest.approx(100 * 10 ** 0.05)]
    assert figures.dodge([100], 1, 3, 0.1) == [100.0]  # the middle one of three stays put


def test_identical_models_stay_apart_in_the_solve_rate_figure(tmp_path):
    rows = tables(hand_sweep(tmp_path)).results.rows
    ax = plots.solve_rate(rows).axes[0]
    lines = lines_by_label(ax)
    gru, lstm = lines["gru"], lines["lstm"]
    assert list(gru.get_ydata()) == list(lstm.get_ydata()) == [1.0, 2 / 3, 1 / 3]  # the same data...
    # ...drawn apart: three models spread over 0.08 decades (0.3 of the 0.3-decade gap, capped), gru first
    ratios = [x_l / x_g for x_l, x_g in zip(lstm.get_xdata(), gru.get_xdata())]
    assert ratios == pytest.approx([10 ** 0.04] * 3)
    assert list(lstm.get_xdata()) == list(LENGTHS)  # the middle model stays on its true lengths
    assert gru.get_marker() != lstm.get_marker() and gru.get_linestyle() != lstm.get_linestyle()
    assert gru.get_color() != lstm.get_color()


def test_one_look_per_model_in_every_figure(tmp_path):
    table = list(figures.MODEL_STYLES.values())
    assert len({s.color for s in table}) == len({s.marker for s in table}) == len(table)
    # the variants experiment's sixteen: a colour and marker per variant, dashed with peepholes
    variants = [f"lstm_cell-{v}{p}" for v in figures.VARIANT_STYLES for p in ("", "+peephole")]
    assert len(set(map(figures.model_style, variants))) == 16
    assert figures.model_style("lstm_cell-nfg+peephole") == ("#882255", "^", "--")
    assert figures.model_style("lstm_cell-nfg").ls == "-"
    # any other name: a look from its digest, never a listed model's colour
    other = figures.model_style("lstm_cell-nfg+peephole_f")
    assert other.color in figures.FALLBACK_COLORS and other.color not in {s.color for s in table}

    t = tables(hand_sweep(tmp_path))
    for name, fig in plots.figures(t).items():
        for ax in fig.axes:
            for line in ax.get_lines():
                if line.get_label() in figures.MODEL_STYLES:
                    assert line.get_color() == figures.MODEL_STYLES[line.get_label()].color, name


def test_t50_is_a_dot_where_fitted_and_a_bound_where_censored(tmp_path):
    t = tables(hand_sweep(tmp_path))
    fig = plots.t50(plots.t50_lines(t))
    ax = fig.axes[0]
    labels = [x.get_text() for x in ax.get_yticklabels()]
    assert labels == ["rnn\n(1/9 runs solved)", "lstm\n(6/9 runs solved)", "gru\n(6/9 runs solved)"]
    dots = [line for line in ax.get_lines() if line.get_markersize() == 8]  # the T50 points
    assert sorted(line.get_color() for line in dots) == sorted(figures.MODEL_STYLES[m].color for m in ("gru", "lstm"))
    fitted = {f.model: f.t50 for f in t.frontier.rows}  # the table's numbers, drawn as they are
    assert [line.get_xdata()[0] for line in dots] == [fitted["lstm"].value, fitted["gru"].value]
    # lstm and gru: 3/3, 2/3, 1/3 at T = 10, 20, 40 put the interval's top beyond 40, an arrow to the right;
    # rnn solved T=10 once and nothing longer: T50 below the interval's top, an arrow pointing left from it
    arrows = [a for a in ax.texts if isinstance(a, Annotation)]
    rnn = [a for a in arrows if a.arrow_patch.get_edgecolor()[:3] == to_rgb(figures.MODEL_STYLES["rnn"].color)]
    assert len(arrows) == 3 and len(rnn) == 1
    assert fitted["rnn"].kind == "below" and rnn[0].xy[0] < rnn[0].xyann[0] == fitted["rnn"].hi
    assert fitted["rnn"].text() in [x.get_text() for x in ax.texts]
    # every run behind its line: filled where the test solved it, hollow where not
    faint = [line for line in ax.get_lines() if line.get_alpha() == figures.FAINT_ALPHA]
    lstm = figures.MODEL_STYLES["lstm"].color
    filled = [line for line in faint if line.get_color() == lstm and line.get_markerfacecolor() != "none"]
    assert [sorted(line.get_xdata()) for line in filled] == [[10, 10, 10, 20, 20, 40]]


def test_learning_curves_median_band_and_the_split_they_read(tmp_path):
    fig = curves.learning_curves(tables(hand_sweep(tmp_path)).results.rows, tmp_path)
    top, bottom = fig.axes[0], fig.axes[1]
    lstm = [line for line in top.get_lines() if line.get_color() == figures.MODEL_STYLES["lstm"].color][0]
    # three seeds at step s hold 0.1 (seed + 1) / s: the median is seed 1's
    assert list(lstm.get_xdata()) == [1, 2, 3] and list(lstm.get_ydata()) == pytest.approx([0.2, 0.1, 0.2 / 3])
    assert top.get_ylabel() == "validation mse (test where none)"  # rnn's records have no validation
    assert 1 / 6 in [line.get_ydata()[0] for line in bottom.get_lines()]  # the baseline loss drawn in
    assert "memoryless baseline not recorded" in [t.get_text() for t in top.texts]  # no baseline_metric in these


def test_forget_timescales_share_of_units(tmp_path):
    fig = curves.forget_timescales(tables(hand_sweep(tmp_path)).results.rows, tmp_path)
    ax = fig.axes[0]
    lstm = figures.MODEL_STYLES["lstm"].color
    drawn = {line.get_linestyle(): line for line in ax.get_lines() if line.get_color() == lstm}
    # pooled over three seeds; trained: τ = 1/ln 2, −1/ln 0.9 and ∞ per seed, so the curve stops at 2/3
    xs, ys = drawn["-"].get_xdata(), drawn["-"].get_ydata()
    assert sorted(set(xs)) == pytest.approx([1 / math.log(2), -1 / math.log(0.9)])
    assert max(ys) == pytest.approx(2 / 3)
    assert max(drawn["--"].get_ydata()) == pytest.approx(1.0)  # at initialisation every unit forgets
    assert "lstm (3/9 units never forget)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_probe_records_the_mean_forget_gate_per_unit():
    import torch

    from lstm_bench.diagnostics import measure
    from lstm_bench.models import SeqModel
    from lstm_bench.models.lstm_cell import LSTMCell
    from tasks import TEST
    from tasks.adding import Adding

    task, H = Adding(10), 3
    rec = LSTMCell(input_size=2, hidden_size=H).double()
    with torch.no_grad():
        for name, p in rec.named_parameters():
            p.zero_()
            if name == "bias_ih_l0":
                p[H : 2 * H] = torch.tensor([0.0, math.log(3.0), 1e3])  # f = 1/2, 3/4 and 1 exactly
    row, _ = measure(SeqModel(rec, task, embed_size=2).double(), task, task.batch(4, 0, 0, split=TEST))
    assert row["forget_unit_mean"] == pytest.approx([0.5, 0.75, 1.0])
    assert row["forget_timescale_median"] == pytest.approx(-1 / math.log(0.75))


def test_figures_from_real_runs(tmp_path, one_thread):
    from lstm_bench.train import run

    run(compose_cfg(*TINY, "model=lstm", "diag.batch_size=8"), tmp_path / "lstm")
    assert set(FIVE) <= set(plots.figures(tables(tmp_path)))  # the records a run writes hold all five

"""Why a model learns a long dependency or not: the gradient through time and the gates.

    probe.py     one measurement on the model's per-step twin, as a plain record (what each field means)
    schedule.py  Diagnostics: when to probe, and where the record goes (diagnostics.jsonl, the logger, the PNGs)
    plots.py     the PNGs, and the plain arrays the logger turns into media
"""
from lstm_bench.diagnostics.probe import measure
from lstm_bench.diagnostics.schedule import Diagnostics

__all__ = ["Diagnostics", "measure"]

"""The claims suite: one preset per published claim (conf/experiment/claims/<id>.yaml), run as a sweep each,
and a verdict per claim computed from the records alone.

    python -m lstm_bench.claims run [--only ID ...] [--dry-run] [--root DIR] [HYDRA OVERRIDES...]
    python -m lstm_bench.claims report DIR [--format md|csv|latex] [--out FILE]

criteria.py holds the verdict rules a preset's `claim.criterion` names; select.py which runs an arm of a
rule speaks about. The package reads records through lstm_bench.report, never the training code.
"""

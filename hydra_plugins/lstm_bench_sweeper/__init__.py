"""lstm-bench's sweeper, a Hydra sweeper plugin and every multirun's default (conf/sweeps.yaml): Hydra's basic
sweeper that checks every job before launching any, runs every job even when some crash, and exits non-zero
after the table when one did. checks.py is what it shares with the frontier sweeper.
"""

"""lstm-bench's T50 sweeper, a Hydra sweeper plugin: `python run.py -m hydra/sweeper=t50 ...` (and the
headline preset, `+experiment=headline`). search.py is the search on its own; t50_sweeper.py drives it.

Hydra finds plugins only in the `hydra_plugins` namespace package, so the folder above this one
has no __init__.py.
"""

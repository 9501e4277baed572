"""lstm-bench's frontier sweeper, a Hydra sweeper plugin: `python run.py -m hydra/sweeper=frontier ...`.

Hydra finds plugins only in the `hydra_plugins` namespace package, so the folder above this one
has no __init__.py.
"""

"""lstm-bench's local launcher, a Hydra launcher plugin (`hydra/launcher=local`, the default): joblib's, with a
line per finished job and a Ctrl-C that ends a sweep in seconds (launcher.py).

Hydra finds plugins only in the `hydra_plugins` namespace package, so the folder above this one
has no __init__.py.
"""

"""lstm-bench's submitit launchers (`hydra/launcher=slurm`, `hydra/launcher=local_submitit`): those of
hydra-submitit-launcher, but every job's end reported in one line, a refused submission in one line, Ctrl-C
cancelling the sweep's jobs, and a failing setup line stopping its job (launcher.py).
"""

"""lstm-bench's submitit launchers (`hydra/launcher=slurm`, `hydra/launcher=local_submitit`): those of
hydra-submitit-launcher, but a sweep waits for every job and reports each one that ended without a result.
"""

"""Checks of the harness's own config keys, before anything runs or is written.

Unknown config groups (`model=foo`) and unknown keys are Hydra's to reject; tasks check
their own options. Each failure is one line naming the key, the bad value and what is allowed.
"""
import torch
from omegaconf import DictConfig

from lstm_bench.errors import ConfigError, require

DEVICES = ("auto", "cpu", "cuda")


def _positive_int(key: str, value) -> None:
    require(isinstance(value, int) and not isinstance(value, bool) and value > 0, key, value, "a positive integer")


def validate(cfg: DictConfig) -> None:
    t = cfg.train
    for key in ("steps", "batch_size", "eval_batch_size", "eval_every", "confirm"):
        _positive_int(f"train.{key}", t[key])
    require(isinstance(t.prune, bool), "train.prune", t.prune, "true or false")
    require(isinstance(t.prune_at, (int, float)) and 0 < t.prune_at < 1, "train.prune_at", t.prune_at,
            "a fraction of train.steps in (0, 1)")
    require(isinstance(t.prune_margin, (int, float)) and 0 <= t.prune_margin < 1, "train.prune_margin",
            t.prune_margin, "a fraction in [0, 1)")
    require(isinstance(t.lr, (int, float)) and t.lr > 0, "train.lr", t.lr, "a learning rate > 0")
    require(t.clip is None or t.clip > 0, "train.clip", t.clip, "a gradient-norm bound > 0, or null for no clipping")
    require(t.threads is None or (isinstance(t.threads, int) and t.threads > 0), "train.threads", t.threads,
            "a positive integer, or null for torch's default")
    _positive_int("model.hidden_size", cfg.model.hidden_size)
    budget = cfg.model.get("param_budget")
    require(budget is None or (isinstance(budget, int) and not isinstance(budget, bool) and budget > 0),
            "model.param_budget", budget, "a positive number of recurrence parameters, or null for model.hidden_size")
    _positive_int("embed_size", cfg.embed_size)
    require(isinstance(cfg.seed, int) and 0 <= cfg.seed < 2**31, "seed", cfg.seed, "an integer in [0, 2^31)")
    require(cfg.device in DEVICES, "device", cfg.device, "one of " + ", ".join(DEVICES))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is not allowed: this machine has no CUDA GPU (use device=cpu or device=auto)")
    return torch.device(name)

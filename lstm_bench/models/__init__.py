"""Recurrences and the shared wrapper. Hydra's `_target_` in conf/model/ names the class."""
from lstm_bench.models.wrapper import SeqModel

__all__ = ["SeqModel"]

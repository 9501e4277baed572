"""Which runs of a claim's sweep an arm of a criterion speaks about: a selector, and the finished runs it picks.

A selector is a plain mapping read from a claim preset:
    model: lstm             the recorded model name (result.json "model"); optional. Only a family's plain name:
                            the suffixes the models assemble from their config (lstm+chrono, lstm_cell-nfg,
                            deltanet-neg) are for reading, not a contract; select those values with `where`
    task: adding            the recorded task name (result.json "task"); optional
    length: 100             the training length T (result.json "length"); optional
    where: {model.variant: nfg, model.peephole: true}
                            dotted keys of the recorded run config (result.json "config"); optional;
                            model._target_ tells two families apart where no other value does
    label: "lstm, bias 1"   how the arm is named in the table; optional (default: built from the keys above)
    of: 5                   how many finished runs the arm expects (a positive integer); required
A run is picked when every key given matches: equal values, or equal as text (a YAML 3e-3 and a recorded
0.003 are both the float 0.003; "100" and 100 are taken as the same). Only finished runs count (status
solved, unsolved or diverged: a diverged run is a run that did not solve); crashed and interrupted runs
do not count as finished.
"""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import OmegaConf

from lstm_bench.errors import ConfigError, require
from lstm_bench.records import FINISHED

SELECT_KEYS = ("model", "task", "length", "where", "label", "of")
_MISSING = object()


def plain(x):
    """A Hydra-instantiated argument (DictConfig, ListConfig) as plain dicts and lists; anything else as is."""
    return OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x


def _same(a, b) -> bool:
    return a == b or str(a) == str(b)


def lookup(config: dict, dotted: str):
    """config["a"]["b"] for "a.b"; _MISSING where a key is absent."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


@dataclass(frozen=True)
class Selector:
    model: str | None = None
    task: str | None = None
    length: int | None = None
    where: tuple = ()  # ((dotted key, value), ...), sorted: two equal selectors compare equal
    label_text: str | None = None
    of: int = 0

    @classmethod
    def parse(cls, spec, name: str, extra: tuple[str, ...] = ()) -> tuple["Selector", dict]:
        """(selector, the keys of `spec` named in `extra`) from a preset's mapping; `name` is its place in the
        criterion (rules[0], better) for the one-line error."""
        spec = plain(spec)
        require(isinstance(spec, dict), name, spec, "a mapping of model, task, length, where, label and of")
        unknown = sorted(set(spec) - set(SELECT_KEYS) - set(extra))
        if unknown:
            raise ConfigError(f"{name}.{unknown[0]} is not allowed: the keys are "
                              + ", ".join((*SELECT_KEYS, *extra)))
        of = spec.get("of")
        require(isinstance(of, int) and not isinstance(of, bool) and of > 0, f"{name}.of", of,
                "a positive number of finished runs the arm expects")
        where = spec.get("where") or {}
        require(isinstance(where, dict), f"{name}.where", where, "a mapping of dotted config keys to values")
        sel = cls(spec.get("model"), spec.get("task"), spec.get("length"), tuple(sorted(where.items())),
                  spec.get("label"), of)
        return sel, {k: spec[k] for k in extra if k in spec}

    def matches(self, run) -> bool:
        r = run.result
        for key in ("model", "task", "length"):
            want = getattr(self, key)
            if want is not None and not _same(r.get(key), want):
                return False
        config = r.get("config") if isinstance(r.get("config"), dict) else {}
        return all(_same(lookup(config, k), v) for k, v in self.where)

    def pick(self, runs) -> list:
        """The finished runs this selector picks, in the order given (the loader's: by task, model, T, seed)."""
        return [r for r in runs if r.result.get("status") in FINISHED and self.matches(r)]

    @property
    def label(self) -> str:
        if self.label_text:
            return str(self.label_text)
        parts = [p for p in (self.model, self.task) if p is not None]
        parts += [f"{k}={v}" for k, v in self.where]
        if self.length is not None:
            parts.append(f"T={self.length}")
        return " ".join(str(p) for p in parts) or "all runs"

    @property
    def identity(self) -> tuple:
        """What makes two arms the same runs (the label and the count expected aside)."""
        return self.model, self.task, self.length, self.where

"""lstm-bench entry point: one run = one (task, model, seed).

    python run.py                                   # adding T=100, lstm, W&B offline
    python run.py model=rnn task=copy task.length=50
    python run.py -m model=rnn,lstm seed=0,1,2      # a sweep (Hydra multirun)
"""
import os
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lstm_bench.config import resolve_device, validate
from lstm_bench.errors import config_error
from lstm_bench.records import reusable_result, source_hash
from lstm_bench.train import plain_config, run

CONF = Path(__file__).resolve().parent / "conf"


def unknown_choice(args: list[str]) -> str | None:
    """One line for a config-group choice that does not exist (`model=transformer`), naming the
    valid ones; Hydra would say it in a dozen lines with its search path."""
    for arg in args:
        key, sep, value = arg.lstrip("+~").partition("=")
        group = CONF / key
        if not sep or key.startswith("hydra") or not group.is_dir() or "(" in value:
            continue  # not a group choice, or a sweep function such as glob(...): Hydra's to judge
        # a group's subfolders are choices too: +experiment=claims/adding_1997
        choices = sorted(p.relative_to(group).with_suffix("").as_posix() for p in group.rglob("*.yaml"))
        for v in value.split(","):
            if v and v not in choices:
                return f"{key}={v!r} is not allowed: one of {', '.join(choices)}"
    return None


def group_keys(group: str, choice: str) -> set[str] | None:
    """The keys conf/GROUP/CHOICE.yaml sets, with those of the files of its group that its defaults compose
    (lstm_cell composes lstm); None where there is no such file (unknown_choice's to report)."""
    path = CONF / group / f"{choice}.yaml"
    if not path.is_file():
        return None
    cfg = OmegaConf.load(path)
    keys = {k for k in cfg if k != "defaults"}
    for entry in cfg.get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_":
            keys |= group_keys(group, entry) or set()
        elif OmegaConf.is_dict(entry):  # a subgroup (train's `optimizer: adam`): its name is a key
            keys |= {k.split("/")[-1] for k in entry}
    return keys


def default_choice(group: str) -> str | None:
    for entry in OmegaConf.load(CONF / "config.yaml").defaults:
        if OmegaConf.is_dict(entry) and group in entry:
            return entry[group]
    return None


def unknown_key(args: list[str]) -> str | None:
    """One line for `model.KEY=V` (or task.KEY) where the chosen model has no KEY (model=lstm
    model.negative_eigenvalues=true), naming the choices that take it; Hydra would say "not in struct" in six
    lines. Only where the command line alone says the choice: an experiment preset may change it, and then
    Hydra judges."""
    if any(a.lstrip("+~").split("=")[0].split("/")[0] == "experiment" for a in args):
        return None
    choices = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and (CONF / key).is_dir():
            choices[key] = value.split(",")
    for arg in args:
        key, sep, value = arg.partition("=")
        group, dot, sub = key.partition(".")
        if not sep or not dot or arg.startswith(("+", "~")) or group == "hydra" or not (CONF / group).is_dir():
            continue
        sub = sub.split(".")[0]
        for choice in choices.get(group, [default_choice(group)]):
            keys = group_keys(group, choice) if choice else None
            if keys is not None and sub not in keys:
                takers = sorted(p.stem for p in (CONF / group).glob("*.yaml") if sub in (group_keys(group, p.stem) or ()))
                which = f"the {group}s that have it: {', '.join(takers)}" if takers else f"no {group} has it"
                return f"{key}={value} is not allowed: {group}={choice} has no key {sub} ({which})"
    return None


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    run_dir = Path(hc.runtime.output_dir)
    try:
        if multirun:  # resume: a job that already finished with this config, code and device is not run again
            validate(cfg)
            done, why = reusable_result(run_dir, plain_config(cfg), source_hash(), str(resolve_device(cfg.device)))
            if done is not None:
                print(f"{run_dir.name}: already {done['status']} with this config, code and device, not run again")
                return {**done, "resumed": True}  # for the launcher's line; the record is as it was
            if why:
                print(f"{run_dir.name}: run again: {why}")
        result = run(cfg, run_dir, group=Path(hc.sweep.dir).name if multirun else None,
                     interactive=not multirun and sys.stderr.isatty())
    except Exception as err:
        bad = config_error(err)
        # in a multirun, exiting would end the whole sweep: raised, the sweeper counts this job as failed
        # (the sweepers check every job first, so only what depends on the job's machine gets here)
        if bad is None or multirun or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {bad}", file=sys.stderr)
        # Hydra made the run directory before the job could refuse its input: a directory holding nothing but
        # Hydra's own files is no record of a run, so bad input leaves no trace
        if run_dir.resolve() != Path.cwd() and {p.name for p in run_dir.iterdir()} <= {".hydra", f"{hc.job.name}.log"}:
            shutil.rmtree(run_dir, ignore_errors=True)
        sys.exit(2)
    if multirun and "lstm_bench_launcher" in str(hc.launcher.get("_target_")):
        return result  # the local launcher says it in its line per finished job
    how = result["status"]
    if how == "solved":  # validation's verdict stopped the run; the test's is what counts
        how = (f"solved at step {result['steps_to_solve']}" if result["solved_test"] is not False else
               f"met the solved rule on validation at step {result['steps_to_solve']}, but not on test")
    if result["test_loss"] is None:  # a diverged run has no final test numbers
        test = f"no final test numbers (last good evaluation at step {result['last_eval_step']})"
    else:
        test = (f"test {result['metric_name']} {result['test_metric']:.4f}, test loss {result['test_loss']:.4f} "
                f"(memoryless baseline {result['baseline_loss']:.4f})")
    steps = f"{result['steps']} step" + ("" if result["steps"] == 1 else "s")
    print(f"{result['task']} T={result['length']} {result['model']} seed={result['seed']}: {how} after {steps}; "
          f"{test}; {result['wall_time_s']:.1f} s -> {run_dir}")
    return result


if __name__ == "__main__":
    if (bad := unknown_choice(sys.argv[1:]) or unknown_key(sys.argv[1:])) and os.environ.get("HYDRA_FULL_ERROR") != "1":
        sys.exit(f"error: {bad}")
    try:
        main()
    except KeyboardInterrupt:  # the run, if one had started, recorded itself as interrupted
        print("interrupted (Ctrl-C): what ran so far is recorded; in a sweep, the same command with the same "
              "hydra.sweep.dir resumes it", file=sys.stderr)
        sys.exit(130)

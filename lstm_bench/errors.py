"""Bad input: the one exception every check raises, and the one-line check that raises it.

Tasks, models, the harness's own config checks and the entry point all report a bad value the
same way: one line naming the key, the value and what is allowed, and a non-zero exit.
"""


class ConfigError(ValueError):
    """Bad input: one line naming the key, the value and what is allowed."""


def config_error(err: BaseException | None) -> "ConfigError | None":
    """The ConfigError behind `err`, if any: hydra.utils.instantiate wraps what it calls, so bad input a task or a
    model refused arrives as the cause (or context) of another exception."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, ConfigError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def require(ok: bool, key: str, value, allowed: str) -> None:
    """Raise a one-line ConfigError unless `ok`."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")

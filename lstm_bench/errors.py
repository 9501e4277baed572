"""Bad input: the one exception every check raises, and the one-line check that raises it.

Tasks, models, the harness's own config checks and the entry point all report a bad value the
same way: one line naming the key, the value and what is allowed, and a non-zero exit.
"""


class ConfigError(ValueError):
    """Bad input: one line naming the key, the value and what is allowed."""


def require(ok: bool, key: str, value, allowed: str) -> None:
    """Raise a one-line ConfigError unless `ok`."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")

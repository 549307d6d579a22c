"""Errors a person can cause (bad arguments, bad data, bad config).

They carry a message meant for that person: the CLI prints it without a traceback and the
dashboard shows it as a notification. Subclassing ValueError keeps `except ValueError`
callers (and torch-style argument checks) working.
"""


class CnnlabError(ValueError):
    """Base class for every user-facing cnnlab error."""


class OpError(CnnlabError):
    """Bad arguments to a hand-written op (shapes, padding, groups…)."""


class ModelError(CnnlabError):
    """Unknown model or an option the model cannot take."""


class DatasetError(CnnlabError):
    """Missing, empty or malformed data set."""


class ConfigError(CnnlabError):
    """A training configuration that does not validate; `.errors` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class RunStoreError(CnnlabError):
    """A run that cannot be found or read."""


class StorageError(CnnlabError):
    """A file cannot be written: no space left on the device, a read-only folder, …

    `errno` is the OS error number and `reason` the cause in words ("no space left on
    device"), so callers can say what happened without parsing the message."""

    def __init__(self, message: str, *, errno: int | None = None, reason: str = ""):
        super().__init__(message)
        self.errno = errno
        self.reason = reason or message

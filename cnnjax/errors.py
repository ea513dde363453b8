"""User-facing errors.

Anything a user can fix (a bad config value, a missing dataset, an unreadable
checkpoint, a workdir that belongs to another run) is raised as `UserError`.
The CLI prints its message, without a traceback, and exits with code 2.
"""


class UserError(Exception):
  """An error the user can fix; its message names the fix."""

  exit_code = 2


class DataError(UserError):
  """A dataset that is unknown, missing or unreadable."""


class ConfigError(UserError):
  """A config value that is unknown, of the wrong type or inconsistent."""


class CheckpointError(UserError):
  """A checkpoint that cannot be read or does not match the config."""

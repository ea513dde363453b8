"""One `cnnjax train` per workdir: an advisory lock on the workdir folder.

Two trainers writing one workdir would interleave checkpoints and logs; a
sweep relaunched while an orphaned run still trains would start a second
copy. The lock is `flock` on the folder itself, so taking it writes
nothing, and the kernel drops it when the process ends (even by kill -9),
so a crashed run never leaves a stale lock behind. `is_locked` is how
`cnnjax sweep --status` tells a running run from a stopped one. (On NFS,
flock is emulated with byte-range locks, which hold across nodes.)
"""

import fcntl
import os

from cnnjax.errors import UserError


class WorkdirLock:
  """Holds the lock of `workdir` (an existing folder) until `release()`."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._fd = os.open(workdir, os.O_RDONLY)
    try:
      fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(self._fd)
      raise UserError(
          f"Another `cnnjax train` is running in {workdir} (it holds the "
          "workdir's lock); wait for it to end or stop it first. Nothing "
          "was changed.") from None

  def release(self) -> None:
    if self._fd is not None:
      os.close(self._fd)  # closing the last descriptor drops the lock
      self._fd = None


def is_locked(workdir: str) -> bool:
  """Whether a `cnnjax train` holds `workdir` now."""
  try:
    fd = os.open(workdir, os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return False
  except BlockingIOError:
    return True
  finally:
    os.close(fd)

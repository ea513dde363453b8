"""What the loop does when a step is not finite (`train.on_nonfinite`).

`stop`: the run ends with one message (exit code 1); the non-finite state
was never checkpointed, so the newest checkpoint is the last good one and a
relaunch starts from it.

`rollback`: the run returns to its newest checkpoint and skips the batches
of the steps that led to the divergence (the data stream moves on; the step
numbers, and so the randomness of each step, do not), as large-model
training does with loss spikes, at most `train.max_rollbacks` times. Each
rollback is recorded in `DIR/rollbacks.json`, so a run killed before its
next checkpoint skips the same batches when it resumes from that step, and
ends bitwise as if it had never stopped.
"""

import json
import logging
import os

import jax

from cnnjax.errors import UserError
from cnnjax.utils import files

log = logging.getLogger("cnnjax.train.loop")

ROLLBACKS_FILE = "rollbacks.json"


class TrainingDiverged(UserError):
  """A loss or the state became non-finite; the last good checkpoint is
  kept."""
  exit_code = 1


class RollbackLog:
  """The rollbacks of a run: [{"step", "diverged_at", "skipped_batches"}]."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, ROLLBACKS_FILE)
    self.records = []
    if os.path.exists(self.path):
      try:
        with open(self.path) as f:
          self.records = json.load(f)
        assert isinstance(self.records, list)
      except (json.JSONDecodeError, UnicodeDecodeError, AssertionError):
        raise UserError(f"{self.path} cannot be read; it records the "
                        "batches this run skipped after a divergence, and "
                        "resuming without it would train on others. Restore "
                        "it, or train again in a new workdir.") from None

  def skipped_at(self, step: int) -> int:
    """Batches to skip after the checkpoint of `step` is restored."""
    return sum(r["skipped_batches"] for r in self.records
               if r["step"] == step)

  def add(self, step: int, diverged_at: int, skipped: int) -> None:
    self.records.append({"step": step, "diverged_at": diverged_at,
                         "skipped_batches": skipped})
    if jax.process_index() == 0:
      files.write_json_atomically(self.path, self.records, indent=1)


def skip(iterator, count: int) -> None:
  """Moves the data stream past `count` batches."""
  for _ in range(count):
    next(iterator)

"""Orbax checkpoints of the train state and the data iterator.

Each step directory under `<workdir>/checkpoints/` holds two items: `state`
(the whole train-state pytree) and `data` (the grain iterator's position,
one file per process). Orbax writes to a temporary directory and renames it
when complete, so a checkpoint is either whole or absent, even after
`kill -9`. When the newest checkpoint cannot be read, restoring falls back
to the one before it, warns, and moves the unreadable one aside (never
deleting it) so that training can write that step again.
"""

import json
import logging
import math
import os
import shutil
import time

import grain
import jax
import orbax.checkpoint as ocp

from cnnjax.errors import CheckpointError
from cnnjax.utils import files

log = logging.getLogger(__name__)


def has_checkpoints(workdir: str) -> bool:
  """Whether a workdir holds at least one finished checkpoint."""
  directory = os.path.join(workdir, "checkpoints")
  return os.path.isdir(directory) and any(
      name.isdigit() for name in os.listdir(directory))


class Checkpointer:
  """Saves and restores (state, data iterator) pairs in a workdir."""

  def __init__(self, workdir: str, keep: int = 3, async_save: bool = True,
               subdir: str = "checkpoints", create: bool = True):
    self.directory = os.path.join(os.path.abspath(workdir), subdir)
    self.aside = os.path.join(os.path.abspath(workdir), "checkpoints_unreadable")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=create,
        enable_async_checkpointing=async_save)
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "data": grain.checkpoint.CheckpointHandler()})

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.steps()
    return steps[-1] if steps else None

  def save(self, step: int, state, data_iterator=None) -> None:
    """Saves asynchronously; the arrays are copied before this returns."""
    items = {"state": ocp.args.StandardSave(state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    self.manager.save(step, args=ocp.args.Composite(**items), force=True)

  def state_metadata(self, step: int):
    """The saved state's tree (nested dicts) of orbax ArrayMetadata, which
    have `shape` and `dtype`; nothing is read but the metadata."""
    return self.manager.item_metadata(step)["state"].tree

  def state_directory(self, step: int) -> str:
    return os.path.join(self.directory, str(step), "state")

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()

  def _restore_step(self, step: int, abstract_state, data_iterator):
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    return restored["state"]

  def restore(self, abstract_state, data_iterator=None, step: int | None = None,
              move_aside: bool = True):
    """Restores a checkpoint into the shapes and shardings of `abstract_state`.

    With `step=None` it takes the newest readable checkpoint, falling back
    past unreadable ones with a warning. Returns (step, state); the data
    iterator, when given, is moved to the saved position in place.
    Unreadable newer checkpoints are moved aside when `move_aside` (train
    needs their step numbers free), else only reported.
    Raises CheckpointError when nothing readable is there.
    """
    steps = self.steps()
    if step is not None:
      if step not in steps:
        raise CheckpointError(
            f"No checkpoint for step {step} in {self.directory}; "
            f"available steps: {steps or 'none'}.")
      try:
        return step, self._restore_step(step, abstract_state, data_iterator)
      except Exception as error:  # orbax raises many types for bad files
        raise CheckpointError(
            f"The checkpoint of step {step} in {self.directory} cannot be "
            f"read ({type(error).__name__}: {first_line(error)}). Pick "
            f"another step ({steps}) or restore the files.") from None
    failures = []
    for candidate in reversed(steps):
      try:
        state = self._restore_step(candidate, abstract_state, data_iterator)
      except Exception as error:  # orbax raises many types for bad files
        failures.append((candidate, error))
        continue
      for bad_step, error in failures:
        if move_aside:
          self._move_aside(bad_step, error)
        else:
          log.warning("The checkpoint of step %d could not be read (%s: "
                          "%s); using step %d.", bad_step,
                          type(error).__name__, first_line(error), candidate)
      return candidate, state
    if not failures:
      raise CheckpointError(f"No checkpoint in {self.directory}.")
    details = "; ".join(f"step {s}: {type(e).__name__}: {first_line(e)}"
                        for s, e in failures)
    raise CheckpointError(
        f"No checkpoint in {self.directory} can be read ({details}). If the "
        "model or config changed, train in a new workdir; otherwise restore "
        "the checkpoint files. Nothing was modified.")

  def _move_aside(self, step: int, error: Exception) -> None:
    os.makedirs(self.aside, exist_ok=True)
    target = os.path.join(self.aside, f"{step}.{int(time.time())}")
    if jax.process_index() == 0:
      shutil.move(os.path.join(self.directory, str(step)), target)
    log.warning(
        "The checkpoint of step %d could not be read (%s: %s); it was moved "
        "to %s and training resumes from the previous checkpoint.",
        step, type(error).__name__, first_line(error), target)
    self.manager.reload()


def first_line(error: Exception) -> str:
  """The first line of an error's message (orbax's run to pages)."""
  text = str(error).strip().splitlines()
  return text[0][:300] if text else ""


BEST_DIR = "checkpoints_best"
BEST_FILE = "best.json"


class BestCheckpoint:
  """The state with the lowest FID so far, beside the latest checkpoints.

  `<workdir>/checkpoints_best/<step>/` holds one state (no data iterator: it
  is for sampling and evaluation, not for resuming), and `best.json` its step,
  FID and extractor. FIDs of different extractors are not comparable, so a
  new extractor starts the record afresh (with a warning).
  """

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)
    self.record_path = os.path.join(self.workdir, BEST_DIR, BEST_FILE)
    # Read once: afterwards every process decides from the same FIDs in
    # memory (only process 0 writes the file), so all of them join or skip
    # each collective save together.
    self._record = self.record()

  def record(self) -> dict | None:
    try:
      with open(self.record_path) as f:
        return json.load(f)
    except (OSError, json.JSONDecodeError):
      return None

  def update(self, step: int, state, fid: float, extractor: str) -> bool:
    """Saves `state` when its FID beats the record; returns whether it did."""
    record = self._record
    if record is not None and record.get("extractor") != extractor:
      log.warning("The best checkpoint (step %s) was chosen with %s; FIDs of "
                  "%s start a new record.", record.get("step"),
                  record.get("extractor"), extractor)
      record = None
    if not math.isfinite(fid) or (record is not None and
                                  fid >= record["fid"]):
      return False
    checkpointer = Checkpointer(self.workdir, keep=1, async_save=False,
                                subdir=BEST_DIR)
    try:
      # After `kill -9` between a save and the record, the step may be there
      # already; resume is exact, so it holds these very weights.
      if step not in checkpointer.steps():
        checkpointer.save(step, state)
        checkpointer.wait()
    finally:
      checkpointer.close()
    self._record = {"step": step, "fid": fid, "extractor": extractor}
    if jax.process_index() == 0:
      files.write_json_atomically(self.record_path, self._record)
    log.info("Step %d is the best so far (FID %.3f); saved to %s.", step, fid,
             os.path.dirname(self.record_path))
    return True

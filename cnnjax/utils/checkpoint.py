"""Orbax checkpoints of the train state and the data iterator, verified.

Each step directory under `<workdir>/checkpoints/` holds three items:
`state` (the whole train-state pytree), `data` (the grain iterator's
position, one file per process, with its own checksum) and `digest` (the
sha256 of the state and of each of its top-level fields, `tree_sha256`).
Orbax writes to a temporary directory and renames it when complete, so a
checkpoint is either whole or absent, even after `kill -9`; the digests
catch what happens to it afterwards (a flipped byte on a disk, a copy gone
wrong), which TensorStore would otherwise read back as other numbers.

Restoring checks the digests. A checkpoint that cannot be read or does not
match them is unreadable: restoring the newest falls back to the one before
it, warns, and moves the bad one aside (never deleting it) so that
training can write that step again.
"""

import hashlib
import json
import logging
import math
import os
import re
import shutil
import time

import jax
import orbax.checkpoint as ocp

from cnnjax.errors import CheckpointError
from cnnjax.utils import data_checkpoint, files, trees

log = logging.getLogger(__name__)


def has_checkpoints(workdir: str) -> bool:
  """Whether a workdir holds at least one finished checkpoint."""
  directory = os.path.join(workdir, "checkpoints")
  return os.path.isdir(directory) and any(
      name.isdigit() for name in os.listdir(directory))


class CorruptCheckpoint(ValueError):
  """A checkpoint's contents do not match the digests saved with it."""


def _json_sha256(value) -> str:
  return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def state_digests(state) -> dict:
  """What a checkpoint's `digest` item holds: the sha256 of the whole state
  and of each top-level field (a warm start reads one field alone)."""
  return {"state": trees.tree_sha256(state),
          "fields": {name: trees.tree_sha256(child)
                     for name, child in trees.children(state).items()}}


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
                       "data": data_checkpoint.VerifiedIteratorHandler(),
                       "digest": ocp.JsonCheckpointHandler(),
                       "extras": ocp.JsonCheckpointHandler()})

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.steps()
    return steps[-1] if steps else None

  def save(self, step: int, state, data_iterator=None,
           extras: dict | None = None) -> None:
    """Saves asynchronously; the arrays are copied before this returns.
    (The digests read the state on the host: this waits for its step.)
    `extras` is JSON the loop keeps with the state (the log's running
    window), covered by the digests too."""
    digests = state_digests(state)
    items = {"state": ocp.args.StandardSave(state)}
    if data_iterator is not None:
      items["data"] = data_checkpoint.IteratorSave(data_iterator)
    if extras is not None:
      digests["extras"] = _json_sha256(extras)
      items["extras"] = ocp.args.JsonSave(extras)
    items["digest"] = ocp.args.JsonSave(digests)
    self.manager.save(step, args=ocp.args.Composite(**items), force=True)

  def _digests(self, step: int) -> dict:
    path = os.path.join(self.directory, str(step), "digest")
    if not os.path.isdir(path):
      raise CorruptCheckpoint("it has no digest item (damaged, or not "
                              "written by this cnnjax)")
    digests = self.manager.restore(step, args=ocp.args.Composite(
        digest=ocp.args.JsonRestore()))["digest"]
    if not isinstance(digests, dict) or "fields" not in digests:
      raise CorruptCheckpoint("its digest item is damaged")
    return digests

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
    digests = self._digests(step)
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    data_directory = os.path.join(self.directory, str(step), "data")
    if data_iterator is not None:
      items["data"] = data_checkpoint.IteratorRestore(data_iterator)
    elif os.path.isdir(data_directory):  # nothing to restore into: check it
      data_checkpoint.verify_directory(data_directory)
    if "extras" in digests:
      items["extras"] = ocp.args.JsonRestore()
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    if trees.tree_sha256(restored["state"]) != digests["state"]:
      raise CorruptCheckpoint("its contents do not match the digest saved "
                              "with it (damaged files)")
    extras = restored["extras"] if "extras" in digests else {}
    if "extras" in digests and _json_sha256(extras) != digests["extras"]:
      raise CorruptCheckpoint("its extras do not match the digest saved "
                              "with them (damaged files)")
    return restored["state"], extras

  def restore_field(self, step: int, field: str, abstract):
    """One top-level field of the state of `step` (e.g. "generator"),
    restored into the shapes and shardings of `abstract` (nested dicts or
    the field's own pytree) and checked against its digest; nothing else of
    the checkpoint is read. Raises CorruptCheckpoint on a mismatch."""
    digests = self._digests(step)
    if field not in digests["fields"]:
      raise CorruptCheckpoint(f"its digest item has no field {field!r}")
    target = {field: abstract}
    restored = ocp.PyTreeCheckpointer().restore(
        self.state_directory(step), args=ocp.args.PyTreeRestore(
            item=target, partial_restore=True,
            restore_args=ocp.checkpoint_utils.construct_restore_args(target)))
    value = restored[field]
    if trees.tree_sha256(value) != digests["fields"][field]:
      raise CorruptCheckpoint(f"its {field} does not match the digest saved "
                              "with it (damaged files)")
    return value

  def restore(self, abstract_state, data_iterator=None, step: int | None = None,
              move_aside: bool = True):
    """Restores a checkpoint into the shapes and shardings of `abstract_state`.

    With `step=None` it takes the newest readable checkpoint, falling back
    past unreadable ones with a warning. Returns (step, state, extras); the
    data iterator, when given, is moved to the saved position in place.
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
        return (step, *self._restore_step(step, abstract_state,
                                          data_iterator))
      except Exception as error:  # orbax raises many types for bad files
        raise CheckpointError(
            f"The checkpoint of step {step} in {self.directory} cannot be "
            f"read ({describe(error)}). Pick "
            f"another step ({steps}) or restore the files.") from None
    failures = []
    for candidate in reversed(steps):
      try:
        state, extras = self._restore_step(candidate, abstract_state,
                                           data_iterator)
      except Exception as error:  # orbax raises many types for bad files
        failures.append((candidate, error))
        continue
      for bad_step, error in failures:
        if move_aside:
          self._move_aside(bad_step, error)
        else:
          log.warning("The checkpoint of step %d could not be read (%s); "
                      "using step %d.", bad_step, describe(error), candidate)
      return candidate, state, extras
    if not failures:
      raise CheckpointError(f"No checkpoint in {self.directory}.")
    details = "; ".join(f"step {s}: {describe(e)}"
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
        "The checkpoint of step %d could not be read (%s); it was moved "
        "to %s and training resumes from the previous checkpoint.",
        step, describe(error), target)
    self.manager.reload()


def describe(error: Exception) -> str:
  """One readable line for an orbax or TensorStore error: its type, and of
  TensorStore's chain of causes ("DATA_LOSS: Error opening ...: Error
  reading ...: CRC-32C checksum verification failed [tensorstore_spec=...]")
  the status and the last two causes, without the specs and reprs."""
  text = str(error).strip()
  text = re.sub(r"\s*\[tensorstore_spec(\[\d+\])?='.*?'\]", "", text,
                flags=re.S)
  text = re.sub(r"<bound method [^>]*>", "", text)
  text = (text.splitlines() or [""])[0]
  status = re.match(r"([A-Z_]{4,}): ", text)
  causes = text.split(": ")
  if status and len(causes) > 3:
    text = f"{status.group(1)}: ...: " + ": ".join(causes[-2:])
  return f"{type(error).__name__}: {text[:300]}"


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

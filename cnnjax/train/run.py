"""A run's workdir: its config.json and its checkpoints.

Shared by `train` (which writes them) and by `sample`, `inspect` and `eval`
(which read them back).
"""

import json
import logging
import os

import jax

from cnnjax import config as config_lib
from cnnjax.errors import CheckpointError, ConfigError, UserError
from cnnjax.train import state as state_lib
from cnnjax.train import tasks
from cnnjax.utils import checkpoint as checkpoint_lib

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"


def read_config(workdir: str):
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise UserError(f"{workdir} is not a cnnjax workdir (no {CONFIG_FILE}); "
                    "pass the --workdir that `cnnjax train` wrote to.")
  try:
    with open(path) as f:
      return config_lib.from_dict(json.load(f))
  except (json.JSONDecodeError, OSError) as error:
    raise UserError(f"{path} cannot be read ({error}).") from None


def write_config(config, workdir: str, allow_change: bool) -> None:
  """Writes config.json, refusing a workdir that belongs to another config.

  Changes that do not alter what is computed (num_steps, logging cadence,
  W&B fields) are allowed; anything else needs `allow_change`, in which case
  the old file is kept beside the new one. Until the workdir has a
  checkpoint, the config may change freely.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  new = config_lib.to_dict(config)
  # A config binds the workdir once a checkpoint exists: a run that failed
  # before its first save (a typo in a dataset name) must not block the
  # corrected command.
  if os.path.exists(path) and checkpoint_lib.has_checkpoints(workdir):
    old = config_lib.to_dict(read_config(workdir))
    diff = config_lib.differences(old, new)
    if diff and not allow_change:
      raise ConfigError(
          f"The workdir {workdir} holds a run of another config:\n"
          + "\n".join(diff) + "\nUse a new --workdir, or pass "
          "--allow_config_change to continue this run with the new config.")
    if diff and jax.process_index() == 0:
      log.warning("Continuing %s with a changed config:\n%s", workdir,
                  "\n".join(diff))
      os.replace(path, os.path.join(workdir, f"config.before-change-"
                                    f"{len(os.listdir(workdir))}.json"))
  if jax.process_index() != 0:
    return  # one writer on a shared workdir; every process checked above
  temporary = path + ".tmp"
  with open(temporary, "w") as f:
    json.dump(new, f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(temporary, path)


def parse_step(text: str | None) -> int | str | None:
  """A --step flag: None (the newest), "best", or a step number."""
  if text is None or text == "best":
    return text
  try:
    return int(text)
  except ValueError:
    raise UserError(f"--step must be a step number or 'best', not "
                    f"{text!r}.") from None


def load_run(workdir: str, step: int | str | None = None, devices=None):
  """Config, modules and the restored state of a workdir's checkpoint.

  `step`: None for the newest, a number, or "best" for the checkpoint with
  the lowest FID that evaluation during training kept.
  Returns (config, modules, step, state).
  """
  config = read_config(workdir)
  mesh = state_lib.make_mesh(devices)
  try:
    config_lib.validate(config, 1)
    task = tasks.get(config)
    modules = task.make_modules(config)
  except (ConfigError, KeyError, AttributeError) as error:
    raise UserError(f"The config.json of {workdir} is not one this version "
                    f"of cnnjax can build ({error}).") from None
  abstract = task.abstract_state(config, modules, mesh)
  subdir = "checkpoints"
  if step == "best":
    record = checkpoint_lib.BestCheckpoint(workdir).record()
    if record is None:
      raise CheckpointError(
          f"{workdir} has no best checkpoint: it is kept when the run "
          "evaluates during training (--config.eval.every_steps=N).")
    subdir, step = checkpoint_lib.BEST_DIR, record["step"]
  checkpointer = checkpoint_lib.Checkpointer(workdir, async_save=False,
                                             subdir=subdir)
  try:
    if checkpointer.latest_step() is None:
      raise CheckpointError(f"{workdir} has no checkpoint yet; train first.")
    step, state = checkpointer.restore(abstract, step=step, move_aside=False)
  finally:
    checkpointer.close()
  return config, modules, step, state

"""A run's workdir: its config.json and its checkpoints, read and written
without knowing which task made them.

The caller says what it wants restored: the abstract state (shapes, dtypes,
shardings) of a whole checkpoint, or of one subtree of it (a warm start, a
feature network taken from another run). Tasks build those abstract states;
this module only reads and writes files.

  config.json      the resolved config, plus the workdir format it was
                   written in (`cnnjax_format`)
  checkpoints/     orbax: <step>/state (the train state), <step>/data
  checkpoints_best/  the state with the lowest FID, and best.json
"""

import json
import logging
import os

import jax

from cnnjax import config as config_lib
from cnnjax.errors import CheckpointError, ConfigError, UserError
from cnnjax.utils import checkpoint as checkpoint_lib
from cnnjax.utils import files, trees

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
FORMAT_KEY = "cnnjax_format"
# 2: networks configured per role (model.generator, model.discriminator)
# and typed train states (December 2026). Format 1 (no key) is the layout
# of cnnjax up to commit a8c0012; its checkpoints hold another state tree.
FORMAT = 2
LAST_FORMAT_1_COMMIT = "a8c0012"


def read_config(workdir: str) -> dict:
  """The workdir's config as plain data (without the format key)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise UserError(f"{workdir} is not a cnnjax workdir (no {CONFIG_FILE}); "
                    "pass the --workdir that `cnnjax train` wrote to.")
  try:
    with open(path) as f:
      values = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
    raise UserError(f"{path} cannot be read ({error}).") from None
  if not isinstance(values, dict):
    raise UserError(f"{path} holds a JSON {type(values).__name__}, not the "
                    "object `cnnjax train` writes.")
  found = values.pop(FORMAT_KEY, 1)
  if found != FORMAT:
    older = isinstance(found, int) and found < FORMAT
    raise UserError(
        f"{workdir} was written by {'an earlier' if older else 'another'} "
        f"version of cnnjax (workdir format {found!r}; this version reads "
        f"format {FORMAT}: networks per role and typed train states). Its "
        "checkpoints hold another state layout and are not read, so nothing "
        "is misread. Train again in a new --workdir"
        + (f", or read this one with cnnjax at commit {LAST_FORMAT_1_COMMIT} "
           f"(git checkout {LAST_FORMAT_1_COMMIT})." if found == 1 else "."))
  return values


def config_changes(values: dict, workdir: str, allow_change: bool) -> list:
  """The differences between `values` and the config of the run in
  `workdir` that change what is computed, refused (ConfigError) unless
  `allow_change`. Writes nothing.

  Changes that do not alter what is computed (num_steps, logging cadence,
  W&B fields) are not differences. Until the workdir has a checkpoint, the
  config may change freely: a run that failed before its first save (a
  typo in a dataset name) must not block the corrected command.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not (os.path.exists(path) and checkpoint_lib.has_checkpoints(workdir)):
    return []
  diff = config_lib.differences(read_config(workdir), values)
  if diff and not allow_change:
    raise ConfigError(
        f"The workdir {workdir} holds a run of another config:\n"
        + "\n".join(diff) + "\nUse a new --workdir, or pass "
        "--allow_config_change to continue this run with the new config.")
  return diff


def write_config(values: dict, workdir: str, changes: list) -> None:
  """Writes config.json; with `changes` (allowed by `config_changes`), the
  old file is kept beside it."""
  path = os.path.join(workdir, CONFIG_FILE)
  if jax.process_index() != 0:
    return  # one writer on a shared workdir; every process checked
  if changes:
    log.warning("Continuing %s with a changed config:\n%s", workdir,
                "\n".join(changes))
    os.replace(path, os.path.join(workdir, f"config.before-change-"
                                  f"{len(os.listdir(workdir))}.json"))
  files.write_json_atomically(path, {**values, FORMAT_KEY: FORMAT},
                              indent=2, sort_keys=True)


def parse_step(text: str | None) -> int | str | None:
  """A --step flag: None (the newest), "best", or a step number."""
  if text is None or text == "best":
    return text
  try:
    return int(text)
  except ValueError:
    raise UserError(f"--step must be a step number or 'best', not "
                    f"{text!r}.") from None


def checkpoints(workdir: str) -> dict:
  """The steps a workdir holds checkpoints of: {"steps": [...], "best":
  the best checkpoint's step or None}."""
  directory = os.path.join(workdir, "checkpoints")
  steps = sorted(int(name) for name in (os.listdir(directory)
                                        if os.path.isdir(directory) else [])
                 if name.isdigit())
  record = checkpoint_lib.BestCheckpoint(workdir).record()
  return {"steps": steps, "best": record["step"] if record else None}


def _checkpointer(workdir: str, step: int | str | None):
  """The checkpointer holding `step` (None, a number or "best") and the
  step number to read from it. Reading never creates anything, and a
  directory that is not a cnnjax workdir of this format is refused first."""
  read_config(workdir)
  subdir = "checkpoints"
  if step == "best":
    record = checkpoint_lib.BestCheckpoint(workdir).record()
    if record is None:
      raise CheckpointError(
          f"{workdir} has no best checkpoint: it is kept when the run "
          "evaluates during training (--config.eval.every_steps=N).")
    subdir, step = checkpoint_lib.BEST_DIR, record["step"]
  checkpointer = checkpoint_lib.Checkpointer(workdir, async_save=False,
                                             subdir=subdir, create=False)
  if checkpointer.latest_step() is None:
    checkpointer.close()
    raise CheckpointError(f"{workdir} has no checkpoint yet; train first.")
  return checkpointer, step


def restore(workdir: str, abstract, step: int | str | None = None):
  """(step, state): a checkpoint of `workdir` restored into the shapes and
  shardings of `abstract`. `step`: None for the newest readable one, a
  number, or "best"."""
  checkpointer, step = _checkpointer(workdir, step)
  try:
    step, state, _ = checkpointer.restore(abstract, step=step,
                                          move_aside=False)
    return step, state
  finally:
    checkpointer.close()


def restore_subtree(workdir: str, path: str, abstract,
                    step: int | str | None = None):
  """(step, subtree): one subtree of a checkpoint's state, e.g. "generator"
  or "ema_params", restored into the shapes and shardings of `abstract`.
  Only the top-level field that holds it is read, and checked against the
  digest saved with it.

  `path` is dotted ("generator.params"). A missing or empty subtree, one
  whose arrays differ in name, shape or dtype from `abstract`, or a damaged
  one is one CheckpointError naming the subtree (and the differences).
  """
  checkpointer, step = _checkpointer(workdir, step)
  try:
    steps = checkpointer.steps()
    step = steps[-1] if step is None else step
    if step not in steps:
      raise CheckpointError(f"No checkpoint for step {step} in "
                            f"{checkpointer.directory}; available steps: "
                            f"{steps}.")
    where = f"the checkpoint of step {step} in {workdir}"
    try:
      field_metadata = checkpointer.state_metadata(step)
    except Exception as error:  # orbax raises many types for bad files
      raise CheckpointError(f"{where[0].upper()}{where[1:]} cannot be read "
                            f"({checkpoint_lib.describe(error)}).") from None
    keys = path.split(".")
    stored = field_metadata
    for depth, key in enumerate(keys):
      if not isinstance(stored, dict) or key not in stored:
        parent = ".".join(keys[:depth]) or "the state"
        have = sorted(stored) if isinstance(stored, dict) else []
        raise CheckpointError(f"{where[0].upper()}{where[1:]} has no subtree "
                              f"{path!r} ({parent} holds "
                              f"{have or 'no subtrees'}).")
      stored = stored[key]
    if not _flat(stored):
      raise CheckpointError(
          f"The subtree {path!r} of {where} is empty: that run did not keep "
          "one (e.g. ema_params of a run without an EMA).")
    _check_same_arrays(_flat(stored), _flat(abstract), path, where)
    # The whole field is read, since its digest covers all of it.
    field, rest = keys[0], ".".join(keys[1:])
    target = abstract
    if rest:
      some_sharding = jax.tree.leaves(abstract)[0].sharding
      target = trees.replace_path(
          jax.tree.map(lambda m: jax.ShapeDtypeStruct(
              m.shape, m.dtype, sharding=some_sharding),
              field_metadata[field]), rest, abstract)
    try:
      value = checkpointer.restore_field(step, field, target)
    except Exception as error:  # orbax raises many types for bad files
      raise CheckpointError(f"The subtree {path!r} of {where} cannot be read "
                            f"({checkpoint_lib.describe(error)}).") from None
  finally:
    checkpointer.close()
  return step, trees.get_path(value, rest) if rest else value


def _flat(tree) -> dict:
  """{"a/b/c": (shape, dtype)} of a pytree of arrays, abstract arrays or
  orbax ArrayMetadata, keyed as `trees.path_name` (as orbax names them)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {trees.path_name(path): (tuple(leaf.shape),
                                  str(jax.numpy.dtype(leaf.dtype)))
          for path, leaf in leaves}


def _check_same_arrays(stored: dict, wanted: dict, path: str,
                       where: str) -> None:
  problems = [f"{key}: missing in the checkpoint" for key in wanted
              if key not in stored]
  problems += [f"{key}: not in this model" for key in stored
               if key not in wanted]
  problems += [f"{key}: {stored[key][0]} {stored[key][1]} in the checkpoint, "
               f"{wanted[key][0]} {wanted[key][1]} here"
               for key in wanted
               if key in stored and stored[key] != wanted[key]]
  if problems:
    shown = "\n  ".join(sorted(problems)[:8])
    more = f"\n  ... and {len(problems) - 8} more" if len(problems) > 8 else ""
    raise CheckpointError(
        f"The subtree {path!r} of {where} "
        f"does not fit this model:\n  {shown}{more}\nUse a run whose "
        f"{path.split('.')[0]} has the same architecture and sizes.")

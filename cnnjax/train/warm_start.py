"""Warm starts: subtrees of another run's checkpoint in a fresh state.

`init_from = {workdir, step, subtree}` (params-only, as MaxText's
`load_parameters_from_path`): each subtree, a dotted path of the state
("generator", "discriminator.params") or SOURCE:TARGET ("ema_params:
generator.params"), is read from that run's checkpoint, and only it, into
the shapes and shardings of the new state's subtree; a mismatch is one
CheckpointError naming the subtree. Everything else keeps its fresh
initialisation, optimizer states included. It applies only to a workdir
without a checkpoint of its own: a resumed run never reads `init_from` again.
"""

import dataclasses
import logging

from cnnjax import config as config_lib
from cnnjax import workdir as workdir_lib
from cnnjax.errors import ConfigError
from cnnjax.utils import trees

log = logging.getLogger(__name__)


def load(config, task, state, abstract):
  """`state` with the subtrees `config.init_from` names loaded; returns
  (state, a description for the log)."""
  source_dir = config.init_from.workdir
  step = workdir_lib.parse_step(config.init_from.step or None)
  pairs = config_lib.warm_start_subtrees(config)
  loaded = []
  for source, target in pairs:
    try:
      wanted = trees.get_path(abstract, target)
    except KeyError:
      raise ConfigError(
          f"Invalid config: init_from.subtree names {target!r}, which the "
          f"{task.name} state does not have; its top-level fields are "
          f"{_fields(state)}.") from None
    found_step, value = workdir_lib.restore_subtree(source_dir, source,
                                                    wanted, step)
    state = trees.replace_path(state, target, value)
    loaded.append(f"{source} (step {found_step})" +
                  (f" as {target}" if target != source else ""))
  state = task.warm_started(state, [target for _, target in pairs])
  return state, f"{', '.join(loaded)} from {source_dir}"


def _fields(state) -> list[str]:
  return [field.name for field in dataclasses.fields(state)]

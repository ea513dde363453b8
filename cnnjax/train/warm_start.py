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

import logging

import jax
import jax.numpy as jnp

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
  targets = [target for _, target in pairs]
  for index, target in enumerate(targets):
    _check_target(task, state, abstract, target)
    # Later subtrees may refine earlier ones ("generator,ema_params:
    # generator.params"), never replace them whole.
    covered = [earlier for earlier in targets[:index]
               if earlier == target or earlier.startswith(target + ".")]
    if covered:
      raise ConfigError(
          f"Invalid config: init_from.subtree loads {target!r} after "
          f"{covered[0]!r}, which it would overwrite; list the larger "
          "subtree first (later ones refine earlier ones).")
  loaded = []
  for source, target in pairs:
    wanted = trees.get_path(abstract, target)
    found_step, value = workdir_lib.restore_subtree(source_dir, source,
                                                    wanted, step)
    state = trees.replace_path(state, target, value)
    loaded.append(f"{source} (step {found_step})" +
                  (f" as {target}" if target != source else ""))
  state = task.warm_started(state, targets)
  return state, f"{', '.join(loaded)} from {source_dir}"


def _check_target(task, state, abstract, target: str):
  """The abstract subtree a warm start replaces, which must hold weights:
  never counters, keys or optimizer states (params only)."""
  fields = task.weight_fields(state)
  if target.split(".")[0] not in fields:
    raise ConfigError(
        f"Invalid config: init_from.subtree names {target!r}; a warm start "
        f"loads weights only, and the {task.name} state holds them in "
        f"{list(fields)} (e.g. generator, generator.params, ema_params).")
  try:
    wanted = trees.get_path(abstract, target)
  except KeyError:
    raise ConfigError(
        f"Invalid config: init_from.subtree names {target!r}, which the "
        f"{task.name} state does not have.") from None
  leaves = jax.tree.leaves(wanted)
  if not leaves:
    raise ConfigError(
        f"Invalid config: init_from.subtree names {target!r}, which this "
        f"config leaves empty (e.g. ema_params without an EMA: "
        "ema.half_life_kimg > 0 keeps one).")
  if not all(jnp.issubdtype(leaf.dtype, jnp.floating) for leaf in leaves):
    raise ConfigError(f"Invalid config: {target!r} is not weights (it holds "
                      "integer arrays); a warm start loads weights only.")
  return wanted

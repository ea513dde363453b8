"""A finished or running run, read back: its task and a restored state.

`sample`, `eval` and `inspect` (and tests) read runs through `load`: the
workdir module reads the files, the task registry says what the state is.
"""

import dataclasses
from typing import Any

from jax.sharding import Mesh

from cnnjax import sharding, tasks
from cnnjax import workdir as workdir_lib
from cnnjax.errors import ConfigError, UserError


@dataclasses.dataclass(frozen=True)
class Run:
  task: Any  # a cnnjax.tasks.base.Task
  step: int
  state: Any
  mesh: Mesh

  @property
  def config(self):
    return self.task.config


def load(workdir: str, step: int | str | None = None, devices=None) -> Run:
  """The run in `workdir` at a checkpoint: None for the newest, a step
  number, or "best" (the lowest FID that evaluation during training kept)."""
  values = workdir_lib.read_config(workdir)
  try:
    task = tasks.build(tasks.config_from_dict(values))
  except (ConfigError, KeyError, AttributeError, TypeError) as error:
    raise UserError(f"The config.json of {workdir} is not one this version "
                    f"of cnnjax can build ({error}).") from None
  mesh = sharding.make_mesh(devices)
  step, state = workdir_lib.restore(workdir, task.abstract_state(mesh), step)
  return Run(task, step, state, mesh)

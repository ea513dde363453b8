"""Tasks by name (`config.task`): what the shared train loop trains.

A task is a class of `cnnjax.tasks.base.Task`: it owns its config sections
and their validation, its typed state, its pure step, its periodic work
(sample grids, evaluations), what `cnnjax eval` measures and what
`cnnjax inspect` digests. The loop, checkpoints, resume, warm starts,
logging and W&B are shared and never name a task.

The registry holds import paths, so that config files can import a task's
schema (`cnnjax.tasks.gan.config`) without loading its training machinery.
Adding a task: a module with a Task subclass, and one line here.
"""

import importlib

import ml_collections

from cnnjax import config as config_lib
from cnnjax.errors import ConfigError

TASKS = {
    "gan": "cnnjax.tasks.gan.task:GanTask",
    "classifier": "cnnjax.tasks.classifier.task:ClassifierTask",
    "encoder": "cnnjax.tasks.encoder.task:EncoderTask",
    "enhance": "cnnjax.tasks.enhance.task:EnhanceTask",
    "adain": "cnnjax.tasks.adain.task:AdainTask",
}


def get(name: str):
  """The Task class registered under `name`."""
  if name not in TASKS:
    raise ConfigError(f"Invalid config: task={name!r} must be one of "
                      f"{sorted(TASKS)}.")
  module, _, attribute = TASKS[name].partition(":")
  return getattr(importlib.import_module(module), attribute)


def build(config: ml_collections.ConfigDict, num_devices: int = 1):
  """The task of a config, validated for `num_devices` devices."""
  task_class = get(config.get("task", ""))
  task_class.validate(config, num_devices)
  return task_class(config)


def config_from_dict(values: dict) -> ml_collections.ConfigDict:
  """A config read back from JSON (a workdir's config.json), on top of its
  task's defaults."""
  task_class = get(values.get("task", ""))
  return config_lib.from_dict(values, task_class.default_config())

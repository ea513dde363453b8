"""The toy task of test_loop.py as a config file, so that tests can train
it through the real `cnnjax` command (config files are Python: this one
registers the task by name first).

  --config=tests/train/toy_config.py[:poison]   poison: batches whose labels
                                                sum past 90 give a NaN loss
"""

from cnnjax import tasks

tasks.TASKS.setdefault("toy", "tests.train.test_loop:ToyTask")


def get_config(arg: str | None = None):
  from tests.train.test_loop import ToyTask
  config = ToyTask.default_config()
  config.train.num_steps = 24
  config.train.log_every_steps = 2
  config.train.checkpoint_every_steps = 4
  if arg == "poison":
    # Seed 0 on digits: the batches of steps 17 and 33 sum past 90.
    config.optim.poison = 90.0
  return config

"""The shared loop trains any Task: a task defined here, registered by name,
trains, logs, checkpoints, resumes bitwise and is read back by the CLI's
functions with no edit of the loop. And the loop's log averages."""

import json
import os

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from cnnjax import commands, config as config_lib, runs, tasks
from cnnjax.models import variables
from cnnjax.tasks import base
from cnnjax.train import loop, metrics_log
from tests.conftest import digests


@flax.struct.dataclass
class ToyState:
  step: jax.Array
  regressor: variables.Network
  opt: object


class ToyTask(base.Task):
  """Regresses an image's label from its pixels with one dense layer.

  With optim.poison > 0, a batch whose labels sum to more than it gives a
  NaN loss: the divergence a bad batch causes (tests/train/test_sentry.py).
  """

  name = "toy"

  def __init__(self, config):
    super().__init__(config)
    self.graphdef = nnx.graphdef(nnx.eval_shape(self._build))
    self.optimizer = optax.sgd(self.config.optim.lr)

  def _build(self):
    size = self.config.data.resolution ** 2 * self.config.data.channels
    return nnx.Linear(size, 1, rngs=nnx.Rngs(self.config.train.seed))

  @classmethod
  def default_config(cls):
    config = config_lib.shared_config("toy")
    config.data.name = "digits"
    config.optim = ml_collections.ConfigDict({"lr": 1e-3, "poison": 0.0})
    config.train.batch_size = 16
    config.train.num_steps = 6
    config.train.log_every_steps = 2
    config.train.checkpoint_every_steps = 3
    config.wandb.mode = "disabled"
    return config

  @classmethod
  def validate_own(cls, config):
    config_lib.check(config.optim.lr > 0, "optim.lr must be positive.")

  def init_state(self):
    _, network = variables.split(self._build())
    return ToyState(jnp.zeros((), jnp.int32), network,
                    self.optimizer.init(network.params))

  def step_fn(self, mesh):
    def step_fn(state, batch):
      images = batch["image"].reshape(batch["image"].shape[0], -1)
      target = batch["label"].astype(jnp.float32)

      def loss_fn(params):
        model = variables.merge(self.graphdef, state.regressor, params)
        loss = jnp.mean((model(images)[:, 0] - target) ** 2)
        poison = self.config.optim.poison
        return jnp.where((poison > 0) & (jnp.sum(target) > poison), jnp.nan,
                         loss)

      loss, grads = jax.value_and_grad(loss_fn)(state.regressor.params)
      updates, opt = self.optimizer.update(grads, state.opt)
      params = optax.apply_updates(state.regressor.params, updates)
      return (state.replace(step=state.step + 1, opt=opt,
                            regressor=state.regressor.replace(params=params)),
              {"loss": loss})
    return step_fn

  def periodic(self, run):
    def weight_norm(step, state):
      row = {"step": step, "weight_norm": float(jnp.linalg.norm(
          state.regressor.params["kernel"][...]))}
      if run.is_chief:
        run.writers.write(row, "eval")
      return row
    return [base.PeriodicWork("norm", 3, weight_norm)]

  def evaluate(self, state, mesh):  # no options: `cnnjax eval` passes none
    return {"weight_norm": float(jnp.linalg.norm(
        state.regressor.params["kernel"][...]))}


@pytest.fixture
def toy_registered(monkeypatch):
  monkeypatch.setitem(tasks.TASKS, "toy", "tests.train.test_loop:ToyTask")


def test_a_new_task_needs_no_edit_of_the_loop(toy_registered, tmp_path):
  config = ToyTask.default_config()
  straight = str(tmp_path / "straight")
  result = loop.train_and_evaluate(config, straight)
  assert result["step"] == 6 and result["norm"]["step"] == 6
  assert result["summary"] == "Trained to step 6."
  rows = [json.loads(l) for l in open(os.path.join(straight, "metrics.jsonl"))]
  assert [r["step"] for r in rows if "loss" in r] == [2, 4, 6]
  assert [r["step"] for r in rows if "weight_norm" in r] == [3, 6]
  assert all(np.isfinite(r["loss"]) for r in rows if "loss" in r)
  # Stopped at step 3 and resumed: bitwise the straight run.
  resumed = str(tmp_path / "resumed")
  config.train.num_steps = 3
  loop.train_and_evaluate(config, resumed)
  config.train.num_steps = 6
  loop.train_and_evaluate(config, resumed)
  assert digests(resumed) == digests(straight)
  run = runs.load(straight)
  assert run.task.name == "toy" and int(run.state.step) == 6
  assert commands.inspect(straight)["num_params"] == 32 * 32 + 1
  assert commands.evaluate(straight)["weight_norm"] > 0


def test_metrics_average_over_steps_or_over_the_runs_of_a_phase():
  sums = {"d_loss": 6.0, "r1": 0.9, "r1/runs": 3.0, "pl": 0.0,
          "pl/runs": 0.0}
  assert metrics_log.averages(sums, count=6) == {"d_loss": 1.0, "r1": 0.3}

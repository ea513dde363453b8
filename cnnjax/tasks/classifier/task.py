"""The classifier task: typed state, the pure train step, and test-set
evaluation.

Trained by the same loop as the GANs (checkpoints, resume, W&B); instead of
sample grids, every `train.eval_every_steps` it measures accuracy on the
held-out split and logs `test_accuracy` and `test_loss`. Its network is
the state's `classifier`, which `cnnjax.nets.classifier` loads as a feature
network for FID and friends.
"""

import logging
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from cnnjax import data, models
from cnnjax.models import variables
from cnnjax.data.pipeline import BatchReader
from cnnjax.errors import UserError
from cnnjax.tasks import base
from cnnjax.tasks.classifier import config as classifier_config

log = logging.getLogger(__name__)


@flax.struct.dataclass
class ClassifierState:
  step: jax.Array
  rng: jax.Array
  classifier: variables.Network
  opt: Any


def build(config, seed: int) -> nnx.Module:
  """The classifier network of a config (model.classifier)."""
  return models.build("classifier", config.model.classifier,
                      resolution=config.data.resolution,
                      channels=config.data.channels,
                      num_classes=config.model.num_classes,
                      rngs=nnx.Rngs(seed))


class ClassifierTask(base.Task):
  """Cross-entropy training of a `model.classifier` network."""

  name = "classifier"
  config_module = classifier_config

  def __init__(self, config):
    super().__init__(config)
    self.graphdef = nnx.graphdef(nnx.eval_shape(lambda: build(config, 0)))
    self.optimizer = optax.adam(config.optim.lr, b1=config.optim.b1,
                                b2=config.optim.b2)

  def init_state(self) -> ClassifierState:
    _, network = variables.split(build(self.config, self.config.train.seed))
    return ClassifierState(step=jnp.zeros((), jnp.int32),
                           rng=jax.random.PRNGKey(self.config.train.seed),
                           classifier=network,
                           opt=self.optimizer.init(network.params))

  def logits(self, params, buffers, images):
    return nnx.merge(self.graphdef, params, buffers)(images, train=False)

  def step_fn(self, mesh: Mesh):
    del mesh  # the batch's sharding is all the step needs

    def step_fn(state: ClassifierState, batch):
      images, labels = batch["image"], batch["label"]
      network = state.classifier

      def objective(params):
        logits = self.logits(params, network.buffers, images)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return jnp.mean(loss), logits

      network, opt, loss, logits = base.descend(self.optimizer, network,
                                                state.opt, objective)
      accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
      return (state.replace(step=state.step + 1, classifier=network,
                            opt=opt),
              {"loss": loss, "accuracy": accuracy})

    return step_fn

  def periodic(self, run: base.RunContext) -> list[base.PeriodicWork]:
    """Every eval step: evaluate on the held-out split and log a row."""
    evaluator = TestSetEvaluator(self)

    def evaluate(step, state):
      row = {"step": step, **evaluator(state)}
      if run.is_chief:
        run.writers.write(row, "eval")
      log.info("step %d: %s accuracy %.4f (%d images)", step, evaluator.split,
               row["test_accuracy"], evaluator.count)
      return row

    return [base.PeriodicWork("eval", self.config.train.eval_every_steps,
                              evaluate)]

  def evaluate(self, state, mesh: Mesh, *, extractor: str | None = None,
               num_samples: int | None = None) -> dict:
    """Accuracy and loss on the held-out split."""
    del mesh
    if extractor is not None or num_samples is not None:
      raise UserError("--extractor and --num_samples are for generator runs; "
                      "a classifier run is evaluated on its held-out split.")
    return TestSetEvaluator(self)(state)

  def summary(self, step: int, results: dict, workdir: str) -> str:
    del workdir
    if results.get("eval") is None:
      return super().summary(step, results, "")
    return (f"Trained to step {step}. Test accuracy "
            f"{results['eval']['test_accuracy']:.4f}")


class TestSetEvaluator:
  """Accuracy and mean cross-entropy over the whole held-out split.

  The split is read and preprocessed once (the same resize and scaling as
  training), then evaluated in jitted batches.
  """

  def __init__(self, task: ClassifierTask, batch_size: int = 500):
    config = task.config
    source = data.load_source(config.data.name, config.eval.split,
                              config.data.data_dir or None)
    reader = BatchReader(source.source, config.data.resolution,
                         config.data.channels, config.data.resize_method)
    chunks = [reader(np.arange(i, min(i + batch_size, len(source.source))))
              for i in range(0, len(source.source), batch_size)]
    self.batches = [(c["image"], c["label"]) for c in chunks]
    self.count = len(source.source)
    self.split = config.eval.split

    def sums(network, images, labels):
      logits = task.logits(network.params, network.buffers, images)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return (jnp.sum(jnp.argmax(logits, -1) == labels), jnp.sum(loss))

    self._sums = jax.jit(sums)

  def __call__(self, state: ClassifierState) -> dict:
    correct = loss = 0.0
    for images, labels in self.batches:
      c, l = self._sums(state.classifier, images, labels)
      correct, loss = correct + float(c), loss + float(l)
    return {"test_accuracy": correct / self.count,
            "test_loss": loss / self.count}

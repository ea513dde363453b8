"""The classifier task: state, the pure train step, and test-set evaluation.

Trained by the same loop as the GANs (checkpoints, resume, W&B); instead of
sample grids, every `train.eval_every_steps` it measures accuracy on the
held-out split and logs `test_accuracy` and `test_loss`.
"""

import dataclasses
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import data
from cnnjax.data.pipeline import BatchReader
from cnnjax.models.classifier import Classifier
from cnnjax.train import state as state_lib
from cnnjax.train import step as step_lib

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Modules:
  model: nnx.GraphDef
  optimizer: optax.GradientTransformation


def build(config, seed: int) -> Classifier:
  return Classifier(base_width=config.model.base_width,
                    resolution=config.data.resolution,
                    channels=config.data.channels,
                    num_classes=config.model.num_classes,
                    feature_dim=config.model.feature_dim,
                    rngs=nnx.Rngs(seed))


def make_modules(config) -> Modules:
  abstract = nnx.eval_shape(lambda: build(config, 0))
  return Modules(model=nnx.graphdef(abstract),
                 optimizer=optax.adam(config.optim.lr, b1=config.optim.b1,
                                      b2=config.optim.b2))


def _init_state(config, modules: Modules):
  _, params, buffers = nnx.split(build(config, config.train.seed), nnx.Param,
                                 state_lib.BUFFERS)
  return {"step": jnp.zeros((), jnp.int32),
          "rng": jax.random.PRNGKey(config.train.seed),
          "params": params, "buffers": buffers,
          "opt": modules.optimizer.init(params)}


def abstract_state(config, modules: Modules, mesh: Mesh):
  return state_lib.abstract_of(lambda: _init_state(config, modules), mesh)


def init_state(config, modules: Modules, mesh: Mesh):
  return state_lib.init_replicated(lambda: _init_state(config, modules), mesh)


def count_params(state) -> int:
  return sum(x.size for x in jax.tree.leaves(state["params"]))


def logits_fn(modules: Modules, params, buffers, images):
  return nnx.merge(modules.model, params, buffers)(images, train=False)


def compile_step(config, modules: Modules, mesh: Mesh, abstract):
  """Cross-entropy on one batch ([1, B, ...] like a GAN step with n_critic=1)."""
  traces = [0]

  def step_fn(state, batch):
    traces[0] += 1
    images, labels = batch["image"][0], batch["label"][0]

    def objective(params):
      logits = logits_fn(modules, params, state["buffers"], images)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return jnp.mean(loss), logits

    (loss, logits), grads = jax.value_and_grad(objective, has_aux=True)(
        state["params"])
    updates, opt = modules.optimizer.update(grads, state["opt"],
                                            state["params"])
    params = optax.apply_updates(state["params"], updates)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    return (dict(state, step=state["step"] + 1, params=params, opt=opt),
            {"loss": loss, "accuracy": accuracy})

  shardings = jax.tree.map(lambda x: x.sharding, abstract)
  jitted = jax.jit(step_fn, in_shardings=(shardings,
                                         step_lib.batch_sharding(mesh)),
                   out_shardings=(shardings, NamedSharding(mesh, PartitionSpec())),
                   donate_argnums=0)
  return jitted, traces


class TestSetEvaluator:
  """Accuracy and mean cross-entropy over the whole held-out split.

  The split is read and preprocessed once (the same resize and scaling as
  training), then evaluated in jitted batches.
  """

  def __init__(self, config, modules: Modules, batch_size: int = 500):
    source = data.load_source(config.data.name, config.eval.split,
                              config.data.data_dir or None)
    reader = BatchReader(source.source, config.data.resolution,
                         config.data.channels, config.data.resize_method)
    chunks = [reader(np.arange(i, min(i + batch_size, len(source.source))))
              for i in range(0, len(source.source), batch_size)]
    self.batches = [(c["image"], c["label"]) for c in chunks]
    self.count = len(source.source)
    self.split = config.eval.split

    def sums(state, images, labels):
      logits = logits_fn(modules, state["params"], state["buffers"], images)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return (jnp.sum(jnp.argmax(logits, -1) == labels), jnp.sum(loss))

    self._sums = jax.jit(sums)

  def __call__(self, state) -> dict:
    correct = loss = 0.0
    for images, labels in self.batches:
      c, l = self._sums(state, images, labels)
      correct, loss = correct + float(c), loss + float(l)
    return {"test_accuracy": correct / self.count,
            "test_loss": loss / self.count}


def make_periodic(config, modules, workdir, writers, is_chief):
  """Every eval step: evaluate on the held-out split and log a row."""
  evaluator = TestSetEvaluator(config, modules)

  def periodic(step, state):
    row = {"step": step, **evaluator(state)}
    if is_chief:
      writers.write(row)
    log.info("step %d: %s accuracy %.4f (%d images)", step, evaluator.split,
             row["test_accuracy"], evaluator.count)
    return row

  return periodic


def digests(state, tree_sha256) -> dict:
  return {"params_sha256": tree_sha256(state["params"]),
          "state_sha256": tree_sha256(state)}

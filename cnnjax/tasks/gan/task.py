"""The GAN task: a generator and a discriminator trained by the phases of
`phases.py`, with sample grids and sample-quality evaluation as its
periodic work."""

import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from cnnjax.errors import UserError
from cnnjax.evaluation import evaluate as evaluate_lib
from cnnjax.tasks import base
from cnnjax.tasks.gan import config as gan_config
from cnnjax.tasks.gan import sampling
from cnnjax.tasks.gan import state as state_lib
from cnnjax.tasks.gan import step as step_lib
from cnnjax.utils import checkpoint, images
from cnnjax.utils.trees import tree_sha256

log = logging.getLogger(__name__)

PURPOSE_SAMPLE = 2001  # fold_in purpose of `cnnjax sample` latents


class GanTask(base.Task):
  """A GAN of any registered generator and discriminator family."""

  name = "gan"
  # Each family checks its own (models.check): StyleGAN2 goes to 256.
  resolutions = (28, 32, 64, 128, 256)
  config_module = gan_config

  def __init__(self, config):
    super().__init__(config)
    self.modules = state_lib.make_modules(config)

  def init_state(self) -> state_lib.GanState:
    return state_lib.init_state(self.config, self.modules)

  def step_fn(self, mesh: Mesh):
    return step_lib.make_step_fn(self.config, self.modules, mesh)

  def batch_dims(self) -> tuple[int, ...]:
    # One real batch per D update.
    return (self.config.train.n_critic, self.config.train.batch_size)

  def periodic(self, run: base.RunContext) -> list[base.PeriodicWork]:
    work = [base.PeriodicWork("samples", self.config.train.sample_every_steps,
                              self._sample_grids(run))]
    if self.config.eval.every_steps:
      work.append(base.PeriodicWork("eval", self.config.eval.every_steps,
                                    self._evaluations(run)))
    return work

  def _sample_grids(self, run: base.RunContext):
    """Every sample step: a grid of the fixed latents (one row per class)."""
    sampler = sampling.FixedLatentSampler(self.config, self.modules)

    def sample(step, state):
      path = os.path.join(run.workdir, "samples", f"step_{step}.png")
      if run.is_chief:
        images.save_grid(sampler(state), path, rows=sampler.rows)
        run.writers.write_image(step, "grid", path)
      return path

    return sample

  def _evaluations(self, run: base.RunContext):
    """Every `eval.every_steps`: the metric row, and the best checkpoint."""
    evaluator = self.evaluator(run.mesh)
    best = checkpoint.BestCheckpoint(run.workdir)

    def evaluate(step, state):
      row = {"step": step, **self._evaluate(evaluator, state)}
      if run.is_chief:
        run.writers.write(row, "eval")
      best.update(step, state, row["fid"], row["extractor"])
      log.info("step %d: FID %.3f, KID %.5f, precision %.3f, recall %.3f, "
               "IS %.3f (%d samples, %s generator, %.1f s)", step, row["fid"],
               row["kid"], row["precision"], row["recall"],
               row["inception_score"], row["num_samples"], row["generator"],
               row["eval_seconds"])
      return row

    return evaluate

  def evaluator(self, mesh: Mesh, extractor: str | None = None,
                num_samples: int | None = None) -> evaluate_lib.Evaluator:
    config = self.config
    return evaluate_lib.Evaluator(
        sampling.generate_fn(self.modules,
                             config.eval.truncation),
        latent_dim=config.model.generator.latent_dim,
        num_classes=config.model.num_classes, settings=config.eval,
        data_config=config.data, mesh=mesh, extractor=extractor,
        num_samples=num_samples)

  @staticmethod
  def _evaluate(evaluator, state) -> dict:
    row = evaluator(sampling.sampling_weights(state))
    row["generator"] = "ema" if state.ema_params is not None else "raw"
    return row

  def evaluate(self, state, mesh: Mesh, *, extractor: str | None = None,
               num_samples: int | None = None) -> dict:
    """FID, KID, precision/recall, IS (and class accuracy)."""
    return self._evaluate(self.evaluator(mesh, extractor, num_samples), state)

  def sample(self, state, num: int, *, seed: int = 0,
             class_label: int | None = None, batch_size: int = 256,
             truncation: float = 1.0, noise_mode: str | None = None):
    """(images [num', R, R, C] in [-1, 1], grid rows or None, used EMA):
    `num` samples, or for a conditional model without `class_label` one row
    per class (num' rounds down to a multiple of the classes). `truncation`
    and `noise_mode`: StyleGAN2's (see `sampling.generate_fn`)."""
    num_classes = self.config.model.num_classes
    self._check_class(class_label)
    z, labels, rows = sampling.grid_inputs(
        seed, num, self.config.model.generator.latent_dim, num_classes,
        PURPOSE_SAMPLE, class_label)
    generate = jax.jit(sampling.generate_fn(self.modules, truncation,
                                            noise_mode))
    weights = sampling.sampling_weights(state)
    batches = [(z[i:i + batch_size],
                None if labels is None else labels[i:i + batch_size])
               for i in range(0, len(z), batch_size)]
    pictures = np.concatenate([np.asarray(generate(weights, *batch))
                               for batch in batches])
    return pictures, rows, state.ema_params is not None

  def _check_class(self, class_label: int | None) -> None:
    num_classes = self.config.model.num_classes
    if class_label is not None and not 0 <= class_label < max(num_classes, 1):
      raise UserError(
          f"--class {class_label} is not a class of this run" +
          (f" (0..{num_classes - 1})." if num_classes else
           ": its model is unconditional; leave out --class."))

  def num_ws(self) -> int:
    """W+'s number of layers (generators with a W space)."""
    return nnx.eval_shape(lambda: state_lib.build_networks(
        self.config, 0))[0].num_ws

  def style_mixing(self, state, num: int, layer: int, *, seed: int = 0,
                   class_label: int | None = None, truncation: float = 1.0):
    """StyleGAN2's style-mixing figure as (images, rows, used EMA): `num`
    row and `num` column latents (see `sampling.style_mixing_grid`)."""
    self._check_class(class_label)
    latent_dim = self.config.model.generator.latent_dim
    z = sampling.latents(seed, 2 * num, latent_dim, PURPOSE_SAMPLE)
    labels = None
    if self.config.model.num_classes:
      labels = jnp.full((num,), class_label or 0, jnp.int32)
    grid = jax.jit(lambda w: sampling.style_mixing_grid(
        self.modules, w, z[:num], z[num:], layer, labels, truncation))(
            sampling.sampling_weights(state))
    pictures = np.asarray(grid).reshape(-1, *grid.shape[2:])
    return pictures, num + 1, state.ema_params is not None

  def summary(self, step: int, results: dict, workdir: str) -> str:
    path = results.get("samples") or os.path.join(workdir, "samples",
                                                  f"step_{step}.png")
    return (f"Trained to step {step}. Samples: {path}" if os.path.exists(path)
            else f"Trained to step {step}.")

  def weight_fields(self, state) -> tuple[str, ...]:
    return (*super().weight_fields(state), "ema_params")

  def warm_started(self, state: state_lib.GanState, targets: list[str]):
    """A loaded generator also starts the EMA, unless the EMA was loaded."""
    loaded_g = any(t in ("generator", "generator.params") for t in targets)
    if (state.ema_params is not None and loaded_g and
        not any(t.startswith("ema_params") for t in targets)):
      state = state.replace(ema_params=jax.tree.map(
          lambda x: x.copy(), state.generator.params))
    return state

  def digests(self, state: state_lib.GanState) -> dict:
    return {
        "generator_sha256": tree_sha256({"network": state.generator,
                                         "ema": state.ema_params}),
        **super().digests(state)}

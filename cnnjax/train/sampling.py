"""Drawing images from a generator: the fixed grid and free sampling."""

import jax
import jax.numpy as jnp
import numpy as np
from cnnjax.train import state as state_lib

PURPOSE_GRID = 1001  # fold_in purpose of the fixed latent batch of the grids


def generate(modules: state_lib.Modules, state, z: jax.Array,
             labels: jax.Array | None = None,
             prefer_ema: bool = True) -> jax.Array:
  """Images for latents `z` (and class `labels` for conditional models) from
  the state's generator (EMA when present), batch norm using its running
  statistics."""
  generator = state_lib.generator_for_sampling(modules, state, prefer_ema)
  return generator(z, labels, train=False)


def grid_inputs(seed: int, count: int, latent_dim: int, num_classes: int,
                purpose: int, class_label: int | None = None):
  """Latents and labels for a grid of about `count` images.

  Unconditional: `count` latents. One class: `count` latents of that class.
  Conditional without a class: one row per class, the same latents in every
  row, so a column shows one latent across the classes.
  Returns (z, labels or None, rows).
  """
  if not num_classes:
    return latents(seed, count, latent_dim, purpose), None, None
  if class_label is not None:
    z = latents(seed, count, latent_dim, purpose)
    return z, jnp.full((count,), class_label, jnp.int32), None
  columns = max(1, count // num_classes)
  z = jnp.tile(latents(seed, columns, latent_dim, purpose), (num_classes, 1))
  labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), columns)
  return z, labels, num_classes


def latents(seed: int, count: int, latent_dim: int, purpose: int) -> jax.Array:
  key = jax.random.fold_in(jax.random.PRNGKey(seed), purpose)
  return jax.random.normal(key, (count, latent_dim))


class FixedLatentSampler:
  """The same 64 latents at every sample step, so grids show progress (one
  row per class for a conditional model)."""

  def __init__(self, config, modules: state_lib.Modules, count: int = 64):
    self.z, self.labels, self.rows = grid_inputs(
        config.train.seed, count, config.model.latent_dim,
        config.model.num_classes, PURPOSE_GRID)
    self._generate = jax.jit(
        lambda state, z, labels: generate(modules, state, z, labels))

  def __call__(self, state) -> np.ndarray:
    return np.asarray(jax.device_get(self._generate(state, self.z,
                                                    self.labels)))

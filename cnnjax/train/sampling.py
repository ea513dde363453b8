"""Drawing images from a generator: the fixed grid and free sampling."""

import jax
import numpy as np
from flax import nnx

from cnnjax.train import state as state_lib

PURPOSE_GRID = 1001  # fold_in purpose of the fixed latent batch of the grids


def generate(modules: state_lib.Modules, state, z: jax.Array,
             prefer_ema: bool = True) -> jax.Array:
  """Images for latents `z` from the state's generator (EMA when present),
  with batch norm using its running statistics."""
  generator, _ = state_lib.generator_for_sampling(modules, state, prefer_ema)
  return generator(z, train=False)


def latents(seed: int, count: int, latent_dim: int, purpose: int) -> jax.Array:
  key = jax.random.fold_in(jax.random.PRNGKey(seed), purpose)
  return jax.random.normal(key, (count, latent_dim))


class FixedLatentSampler:
  """The same 64 latents at every log step, so grids show progress."""

  def __init__(self, config, modules: state_lib.Modules, count: int = 64):
    self.z = latents(config.train.seed, count, config.model.latent_dim,
                     PURPOSE_GRID)
    self._generate = jax.jit(lambda state, z: generate(modules, state, z))

  def __call__(self, state) -> np.ndarray:
    return np.asarray(jax.device_get(self._generate(state, self.z)))

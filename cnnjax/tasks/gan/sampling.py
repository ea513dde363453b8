"""Drawing images from a generator: the fixed grid and free sampling."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnjax.tasks.gan import state as state_lib

PURPOSE_GRID = 1001  # fold_in purpose of the fixed latent batch of the grids


def generate_fn(modules: state_lib.Modules, truncation: float = 1.0,
                noise_mode: str | None = None):
  """generate(weights, z, labels) -> images: the generator in inference
  mode (batch norm with its running statistics), as a pure function of
  `weights` = `sampling_weights(state)`. This is what evaluation takes.
  `truncation` and `noise_mode` are for generators with a W space
  (StyleGAN2); the defaults leave every generator as it is."""
  options = {}
  if truncation != 1.0:
    options["truncation"] = truncation
  if noise_mode is not None:
    options["noise_mode"] = noise_mode

  def generate(weights, z, labels=None):
    generator = nnx.merge(modules.generator, weights["params"],
                          weights["buffers"])
    return generator(z, labels, train=False, **options)
  return generate


def style_mixing_grid(modules: state_lib.Modules, weights, rows: jax.Array,
                      columns: jax.Array, layer: int, labels=None,
                      truncation: float = 1.0) -> jax.Array:
  """StyleGAN2's style-mixing figure: images [R + 1, C + 1, H, W, ch],
  row 0 the column latents' images, column 0 the row latents', and cell
  (r, c) row r's w on layers < `layer` with column c's from `layer` on
  (coarse styles from the rows, fine from the columns). Noise is the
  generator's constant noise, so only the styles differ."""
  generator = nnx.merge(modules.generator, weights["params"],
                        weights["buffers"])
  w_rows = generator.mapping(rows, labels, truncation)
  w_cols = generator.mapping(columns, labels, truncation)
  num_ws = generator.num_ws
  plus = lambda w: generator.synthesis(generator.broadcast(w), "const")
  top, left = plus(w_cols), plus(w_rows)
  mixed = jnp.where(jnp.arange(num_ws)[None, None, :, None] < layer,
                    generator.broadcast(w_rows)[:, None],
                    generator.broadcast(w_cols)[None, :])
  r, c = len(rows), len(columns)
  cells = generator.synthesis(mixed.reshape(r * c, num_ws, -1), "const")
  cells = cells.reshape(r, c, *cells.shape[1:])
  blank = jnp.full_like(top[:1], -1.0)
  first_row = jnp.concatenate([blank, top])[None]
  body = jnp.concatenate([left[:, None], cells], axis=1)
  return jnp.concatenate([first_row, body])


def sampling_weights(state: state_lib.GanState, prefer_ema: bool = True):
  """The generator weights to sample with: its EMA params when the state
  has them, and its buffers."""
  return {"params": state_lib.sampling_params(state, prefer_ema),
          "buffers": state.generator.buffers}


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
        config.train.seed, count, config.model.generator.latent_dim,
        config.model.num_classes, PURPOSE_GRID)
    self._generate = jax.jit(generate_fn(modules))

  def __call__(self, state: state_lib.GanState) -> np.ndarray:
    return np.asarray(jax.device_get(self._generate(
        sampling_weights(state), self.z, self.labels)))

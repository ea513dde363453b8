"""The seed's fully connected GAN: hidden widths w-2w-4w (256-512-1024)."""

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.models import layers


class Generator(nnx.Module):
  """z -> image in [-1, 1] through dense layers with LeakyReLU(0.2)."""

  def __init__(self, *, latent_dim: int, base_width: int, resolution: int,
               channels: int, rngs: nnx.Rngs, dtype=None):
    widths = [latent_dim, base_width, 2 * base_width, 4 * base_width]
    self.hidden = nnx.List([nnx.Linear(a, b, dtype=dtype, rngs=rngs)
                            for a, b in zip(widths[:-1], widths[1:])])
    self.shape = (resolution, resolution, channels)
    self.to_image = nnx.Linear(widths[-1], resolution * resolution * channels,
                               dtype=dtype, rngs=rngs)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "latent_dim", "base_width")

  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del labels, train  # unconditional, no normalisation
    x = z
    for dense in self.hidden:
      x = layers.leaky_relu(dense(x))
    return layers.output(jnp.tanh(self.to_image(x))).reshape(z.shape[0],
                                                             *self.shape)


class Discriminator(nnx.Module):
  """image -> logit through dense layers 4w-2w-w with LeakyReLU(0.2)."""

  def __init__(self, *, base_width: int, resolution: int, channels: int,
               rngs: nnx.Rngs, dtype=None):
    widths = [resolution * resolution * channels, 4 * base_width,
              2 * base_width, base_width]
    self.hidden = nnx.List([nnx.Linear(a, b, dtype=dtype, rngs=rngs)
                            for a, b in zip(widths[:-1], widths[1:])])
    self.to_logit = nnx.Linear(widths[-1], 1, dtype=dtype, rngs=rngs)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "base_width")

  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del labels, train  # unconditional, no normalisation
    x = x.reshape(x.shape[0], -1)
    for dense in self.hidden:
      x = layers.leaky_relu(dense(x))
    return layers.output(self.to_logit(x)[:, 0])

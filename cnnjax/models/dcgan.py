"""DCGAN generator and discriminator (Radford et al. 2016).

For 32x32 the generator projects z to 4x4x4g and doubles the size three times
(4g -> 2g -> g -> channels); 64x64 starts at 8g and doubles four times; 28x28
(MNIST-sized) starts at 7x7x2g and doubles twice. The discriminator mirrors it
with LeakyReLU(0.2) and no batch norm on its first layer.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.models import layers

# resolution -> (number of stride-2 stages, starting spatial size)
STAGES = {28: (2, 7), 32: (3, 4), 64: (4, 4)}


def _widths(base_width: int, resolution: int) -> list[int]:
  """Feature widths from the coarsest stage to the finest: [4g, 2g, g] at 32."""
  num_stages, _ = STAGES[resolution]
  return [base_width * 2 ** (num_stages - 1 - i) for i in range(num_stages)]


class Generator(nnx.Module):
  """z -> image in [-1, 1] of shape (resolution, resolution, channels)."""

  def __init__(self, *, latent_dim: int, base_width: int,
               bn_momentum: float = 0.9, resolution: int, channels: int,
               rngs: nnx.Rngs, dtype=None):
    widths = _widths(base_width, resolution)
    _, self.start = STAGES[resolution]
    self.start_width = widths[0]
    # A 4x4 "valid" transposed convolution of a 1x1 input is a dense layer.
    self.project = nnx.Linear(latent_dim, self.start**2 * widths[0],
                              use_bias=False, kernel_init=layers.dcgan_init,
                              dtype=dtype, rngs=rngs)
    self.project_norm = layers.batch_norm(widths[0], bn_momentum, rngs, dtype)
    self.ups = nnx.List([layers.up_conv(a, b, rngs, dtype)
                         for a, b in zip(widths[:-1], widths[1:])])
    self.norms = nnx.List([layers.batch_norm(b, bn_momentum, rngs, dtype)
                           for b in widths[1:]])
    self.to_image = layers.up_conv(widths[-1], channels, rngs, dtype)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "latent_dim", "base_width")

  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del labels  # unconditional
    x = self.project(z).reshape(z.shape[0], self.start, self.start,
                                self.start_width)
    x = nnx.relu(self.project_norm(x, use_running_average=not train))
    for up, norm in zip(self.ups, self.norms):
      x = nnx.relu(norm(up(x), use_running_average=not train))
    return layers.output(jnp.tanh(self.to_image(x)))


class Discriminator(nnx.Module):
  """image -> one logit per image."""

  def __init__(self, *, base_width: int, bn_momentum: float = 0.9,
               resolution: int, channels: int, rngs: nnx.Rngs, dtype=None):
    widths = _widths(base_width, resolution)[::-1]  # g, 2g, 4g at 32
    _, end = STAGES[resolution]
    self.from_image = layers.down_conv(channels, widths[0], rngs, dtype)
    self.downs = nnx.List([layers.down_conv(a, b, rngs, dtype)
                           for a, b in zip(widths[:-1], widths[1:])])
    self.norms = nnx.List([layers.batch_norm(b, bn_momentum, rngs, dtype)
                           for b in widths[1:]])
    # The final 4x4 "valid" convolution to one channel is a dense layer.
    self.to_logit = nnx.Linear(end * end * widths[-1], 1, use_bias=False,
                               kernel_init=layers.dcgan_init, dtype=dtype,
                               rngs=rngs)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "base_width")

  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del labels  # unconditional
    x = layers.leaky_relu(self.from_image(x))
    for down, norm in zip(self.downs, self.norms):
      x = layers.leaky_relu(norm(down(x), use_running_average=not train))
    return layers.output(self.to_logit(x.reshape(x.shape[0], -1))[:, 0])

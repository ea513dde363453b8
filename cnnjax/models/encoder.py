"""Encoders: image -> a generator's latent (for inversion and editing).

Two families, the mirrors of the generators they invert:

  dcgan   4x4 stride-2 convolutions (g -> 2g -> 4g at 32 px), as the DCGAN
          discriminator, then a dense layer to the latent
  resnet  residual blocks (3x3 conv, LeakyReLU, 3x3 conv, average pooling,
          with a pooled 1x1 shortcut), as SNGAN's discriminator

Both use group normalisation rather than batch norm: an encoder maps each
image on its own, so its output never depends on the rest of the batch (or
on how the batch is split over devices), in training and at inference
alike. The last layer starts at zero, so an untrained encoder answers the
prior's mean, z = 0, the point an optimiser also starts from.
"""

import jax
from flax import nnx

from cnnjax.models import layers
from cnnjax.models.dcgan import STAGES
from cnnjax.models.resnet import avg_pool


def _groups(features: int) -> int:
  """Groups of group norm: 8 where the width allows (Wu & He 2018 use 32
  with wider layers), else one group per 4 channels, at least 1."""
  return next(g for g in (8, 4, 2, 1) if features % g == 0)


def group_norm(features: int, rngs: nnx.Rngs, dtype=None) -> nnx.GroupNorm:
  return nnx.GroupNorm(features, num_groups=_groups(features), dtype=dtype,
                       rngs=rngs)


def _latent_head(in_features: int, latent_dim: int, rngs: nnx.Rngs,
                 dtype=None) -> nnx.Linear:
  return nnx.Linear(in_features, latent_dim, kernel_init=nnx.initializers.zeros,
                    dtype=dtype, rngs=rngs)


class DcganEncoder(nnx.Module):
  """[B, R, R, C] images in [-1, 1] -> latents [B, latent_dim]."""

  def __init__(self, *, latent_dim: int, base_width: int, resolution: int,
               channels: int, rngs: nnx.Rngs, dtype=None):
    num_stages, end = STAGES[resolution]
    widths = [base_width * 2 ** i for i in range(num_stages)]  # g, 2g, 4g
    self.from_image = layers.down_conv(channels, widths[0], rngs, dtype)
    self.downs = nnx.List([layers.down_conv(a, b, rngs, dtype)
                           for a, b in zip(widths[:-1], widths[1:])])
    self.norms = nnx.List([group_norm(b, rngs, dtype) for b in widths[1:]])
    self.to_latent = _latent_head(end * end * widths[-1], latent_dim, rngs,
                                  dtype)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "latent_dim", "base_width")

  def __call__(self, x: jax.Array) -> jax.Array:
    x = layers.leaky_relu(self.from_image(x))
    for down, norm in zip(self.downs, self.norms):
      x = layers.leaky_relu(norm(down(x)))
    return layers.output(self.to_latent(x.reshape(x.shape[0], -1)))


class DownBlock(nnx.Module):
  """Residual block that halves the size: norm-act-conv3-norm-act-conv3-pool
  plus a pooled 1x1 shortcut."""

  def __init__(self, in_features: int, out_features: int, *,
               rngs: nnx.Rngs, dtype=None):
    conv = lambda a, b, k: nnx.Conv(a, b, kernel_size=(k, k), padding="SAME",
                                    dtype=dtype, rngs=rngs)
    self.norm1 = group_norm(in_features, rngs, dtype)
    self.conv1 = conv(in_features, out_features, 3)
    self.norm2 = group_norm(out_features, rngs, dtype)
    self.conv2 = conv(out_features, out_features, 3)
    self.shortcut = conv(in_features, out_features, 1)

  def __call__(self, x: jax.Array) -> jax.Array:
    h = self.conv1(layers.leaky_relu(self.norm1(x)))
    h = self.conv2(layers.leaky_relu(self.norm2(h)))
    return avg_pool(h) + avg_pool(self.shortcut(x))


class ResnetEncoder(nnx.Module):
  """[B, R, R, C] images in [-1, 1] -> latents [B, latent_dim]: a 3x3 conv
  to g channels, then residual blocks doubling the width while halving the
  size down to the DCGAN's final size (4x4 at 32 and 64 px, 7x7 at 28)."""

  def __init__(self, *, latent_dim: int, base_width: int, resolution: int,
               channels: int, rngs: nnx.Rngs, dtype=None):
    num_stages, end = STAGES[resolution]
    widths = [base_width * 2 ** min(i, 3) for i in range(num_stages + 1)]
    self.from_image = nnx.Conv(channels, widths[0], kernel_size=(3, 3),
                               padding="SAME", dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([DownBlock(a, b, rngs=rngs, dtype=dtype)
                            for a, b in zip(widths[:-1], widths[1:])])
    self.norm = group_norm(widths[-1], rngs, dtype)
    self.to_latent = _latent_head(end * end * widths[-1], latent_dim, rngs,
                                  dtype)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution
    return layers.config_problems(fields, "latent_dim", "base_width")

  def __call__(self, x: jax.Array) -> jax.Array:
    x = self.from_image(x)
    for block in self.blocks:
      x = block(x)
    x = layers.leaky_relu(self.norm(x))
    return layers.output(self.to_latent(x.reshape(x.shape[0], -1)))

"""Decoders: feature maps of a frozen encoder -> images.

  adain   Huang & Belongie's (2017) AdaIN decoder, the mirror of VGG-19 up
          to relu4_1: 3x3 convolutions with reflection padding and ReLU,
          nearest-neighbour 2x upsampling in place of each pooling, no
          normalisation layer, a linear last convolution. Widths 4g, 2g, g
          with g = base_width (the paper's 64: 256, 128, 64); a smaller g
          makes a CPU-sized decoder.

Reflection padding, as in the paper's code: zero padding darkens the
border of every stylised image (the decoder would have to learn to undo a
frame the encoder never saw). Fully convolutional: relu4_1 features of
[h, w] give an image of [8h, 8w], at any size.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.models import layers

# relu4_1 of VGG-16 and VGG-19.
FEATURE_CHANNELS = 512
UPSAMPLINGS = 3  # VGG's poolings before relu4_1


def upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling of [B, H, W, C]."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


# He et al.'s (2015) variance 2 / fan_in, which keeps the signal's scale
# through a stack of ReLUs: the decoder's output has std 0.6 at
# initialisation for relu4_1-like input. PyTorch's default, which the
# paper's code kept (variance 1 / (3 fan_in)), shrinks it about sixfold
# per layer, to std 2e-4 at the output: 160,000 steps absorb that, a
# CPU-sized run of a few thousand does not (its outputs were still
# content-blind blobs after 749 steps). Uniform rather than flax's
# truncated normal: quicker to compile (16-30 s for this decoder's init
# on 2 busy CPU cores with the truncated normal).
he_init = nnx.initializers.variance_scaling(2.0, "fan_in", "uniform")


class ReflectConv(nnx.Module):
  """A 3x3 convolution of a reflection-padded input (size kept)."""

  def __init__(self, in_features: int, out_features: int, rngs: nnx.Rngs,
               dtype=None):
    self.conv = nnx.Conv(in_features, out_features, kernel_size=(3, 3),
                         padding="VALID", kernel_init=he_init,
                         dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.conv(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)),
                             mode="reflect"))


class AdainDecoder(nnx.Module):
  """relu4_1 features [B, h, w, 512] -> images [B, 8h, 8w, C] (unbounded:
  the losses see the image through VGG, and inference clips to [-1, 1])."""

  def __init__(self, *, base_width: int = 64, resolution: int,
               channels: int, rngs: nnx.Rngs, dtype=None):
    del resolution  # fully convolutional
    wide, middle, narrow = 4 * base_width, 2 * base_width, base_width
    # (in, out) of each convolution; None: an upsampling. The paper's
    # decoder with 512 -> 256 -> 128 -> 64 read as 4g -> 2g -> g.
    plan = [(FEATURE_CHANNELS, wide), None, (wide, wide), (wide, wide),
            (wide, wide), (wide, middle), None, (middle, middle),
            (middle, narrow), None, (narrow, narrow), (narrow, channels)]
    self.plan = tuple(step is None for step in plan)
    self.convs = nnx.List([ReflectConv(a, b, rngs, dtype)
                           for a, b in (s for s in plan if s is not None)])

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # any multiple of 2^UPSAMPLINGS: the task's resolutions
    return layers.config_problems(fields, "base_width")

  def __call__(self, features: jax.Array) -> jax.Array:
    x = features
    convs = iter(self.convs)
    for index, is_upsampling in enumerate(self.plan):
      if is_upsampling:
        x = upsample(x)
        continue
      x = next(convs)(x)
      if index < len(self.plan) - 1:  # the last convolution is linear
        x = jax.nn.relu(x)
    return layers.output(x)

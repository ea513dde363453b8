"""Layers shared by the generators and discriminators."""

import jax
from flax import nnx

from cnnjax.models.upconv import UpConv

# DCGAN's initialisation (Radford et al. 2016, section 4): N(0, 0.02) weights.
dcgan_init = nnx.initializers.normal(0.02)


def leaky_relu(x: jax.Array) -> jax.Array:
  return nnx.leaky_relu(x, negative_slope=0.2)


def batch_norm(features: int, momentum: float, rngs: nnx.Rngs) -> nnx.BatchNorm:
  # Flax's momentum is the weight of the old running average: PyTorch's
  # momentum=0.1 is flax's 0.9.
  return nnx.BatchNorm(features, momentum=momentum, epsilon=1e-5, rngs=rngs)


def up_conv(in_features: int, out_features: int, rngs: nnx.Rngs) -> UpConv:
  """4x4 stride-2 transposed convolution that doubles the spatial size."""
  return UpConv(in_features, out_features, kernel_init=dcgan_init, rngs=rngs)


def down_conv(in_features: int, out_features: int, rngs: nnx.Rngs) -> nnx.Conv:
  """4x4 stride-2 convolution that halves the spatial size (PyTorch's p=1)."""
  return nnx.Conv(
      in_features, out_features, kernel_size=(4, 4), strides=(2, 2),
      padding=((1, 1), (1, 1)), use_bias=False, kernel_init=dcgan_init,
      rngs=rngs)

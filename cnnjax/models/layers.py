"""Layers shared by the generators and discriminators.

Every model takes `dtype`, the dtype it computes in (None: float32).
Parameters stay float32 (`param_dtype`); with dtype=bfloat16 each layer
casts its input and weights to bfloat16, as Flax layers do, and models
return float32 (`output`).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.models.stride2 import UpConv

# DCGAN's initialisation (Radford et al. 2016, section 4): N(0, 0.02) weights.
dcgan_init = nnx.initializers.normal(0.02)


def leaky_relu(x: jax.Array) -> jax.Array:
  return nnx.leaky_relu(x, negative_slope=0.2)


def batch_norm(features: int, momentum: float, rngs: nnx.Rngs,
               dtype=None) -> nnx.BatchNorm:
  # Flax's momentum is the weight of the old running average: PyTorch's
  # momentum=0.1 is flax's 0.9. Statistics are reduced in float32 whatever
  # the compute dtype.
  return nnx.BatchNorm(features, momentum=momentum, epsilon=1e-5, dtype=dtype,
                       rngs=rngs)


def up_conv(in_features: int, out_features: int, rngs: nnx.Rngs,
            dtype=None) -> UpConv:
  """4x4 stride-2 transposed convolution that doubles the spatial size."""
  return UpConv(in_features, out_features, kernel_init=dcgan_init,
                dtype=dtype, rngs=rngs)


def down_conv(in_features: int, out_features: int, rngs: nnx.Rngs,
              dtype=None) -> nnx.Conv:
  """4x4 stride-2 convolution that halves the spatial size (PyTorch's p=1).

  XLA's own input gradient here, not `stride2.strided_conv`'s: on the DCGAN
  the two were within 2% (noise), and XLA's keeps multi-host runs bitwise
  equal to single-host ones (`tests/test_multihost.py`)."""
  return nnx.Conv(
      in_features, out_features, kernel_size=(4, 4), strides=(2, 2),
      padding=((1, 1), (1, 1)), use_bias=False, kernel_init=dcgan_init,
      dtype=dtype, rngs=rngs)


def config_problems(fields: dict, *positive: str) -> list[str]:
  """What is wrong with a family's config fields (`config_problems` of the
  models): the named sizes must be positive, a batch-norm momentum in
  [0, 1)."""
  problems = [f"{name}={fields[name]} must be positive." for name in positive
              if not fields[name] > 0]
  momentum = fields.get("bn_momentum")
  if momentum is not None and not 0 <= momentum < 1:
    problems.append(f"bn_momentum={momentum} must be in [0, 1).")
  return problems


def named_activations(x: jax.Array, stages, layers: tuple[str, ...],
                      network: str) -> dict[str, jax.Array]:
  """Runs `stages`, (name, map) pairs from input to output, on `x` and
  returns {name: output} of the named `layers`, stopping after the deepest
  one asked for: feature networks' one API for FID features and perceptual
  or style losses alike."""
  names = [name for name, _ in stages]
  unknown = sorted(set(layers) - set(names))
  if unknown:
    raise ValueError(f"{network} has no layers {unknown}; its layers are "
                     f"{tuple(names)}.")
  outputs = {}
  for name, stage in stages:
    x = stage(x)
    if name in layers:
      outputs[name] = x
      if len(outputs) == len(set(layers)):
        break
  return outputs


def output(x: jax.Array) -> jax.Array:
  """A model's output (image or logit) in float32, whatever it computed in:
  losses, penalties, augmentation and EMA stay in full precision."""
  return x.astype(jnp.float32)

"""VGG's 3x3 convolution (stride 1, padding 1) with its VJP written out.

Why: XLA:CPU runs the input gradient of a convolution ~3x slower inside a
while loop (style transfer's `lax.scan` of optimisation steps) than in
straight-line code. Autodiff writes that gradient as a convolution with the
kernel reversed and its feature dimensions swapped; outside a loop XLA
hoists the reversal and transposition into a copy and the convolution runs
on its fast path, inside a loop body it does not. Here the flipped and
transposed kernel is an explicit array, so the convolution is an ordinary
one in both places. Measured on one 64->64 layer at 128x128, forward and
backward: 240 ms in a scan with autodiff, 62-70 ms with this, 75 ms
unrolled (experiments/2026-12-03-style-transfer, "Profile of the gap").
The values equal autodiff's (tests/nets/test_vgg.py).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, kernel: jax.Array, precision) -> jax.Array:
  return lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                  dimension_numbers=_DIMENSIONS,
                                  precision=precision)


def conv3x3(x: jax.Array, kernel: jax.Array, precision=None) -> jax.Array:
  """x [B, H, W, I] * kernel [3, 3, I, O] -> [B, H, W, O]."""
  return _conv3x3(precision, x, kernel)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _conv3x3(precision, x, kernel):
  return _conv(x, kernel, precision)


def _forward(precision, x, kernel):
  return _conv(x, kernel, precision), (x, kernel)


def _backward(precision, saved, grad):
  x, kernel = saved
  # d/dx: the convolution of grad with the kernel turned by 180 degrees
  # and its input/output features swapped (padding 1 keeps the size).
  flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
  _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, precision), kernel)
  return _conv(grad, flipped, precision), kernel_vjp(grad)[0]


_conv3x3.defvjp(_forward, _backward)

"""The two convolutions of the speed table, for `reference.py --conv`.

`vjp` is cnnjax as it is now: vgg._conv calls cnnjax/nets/conv3x3.py,
whose VJP writes out the flipped, transposed kernel. `xla` puts back the
convolution vgg.py had when the table was first measured, differentiated
by autodiff, whose input gradient XLA:CPU runs ~3x slower inside a scan
(README.md, "Profile of the gap").
"""

import jax

from cnnjax.nets import vgg


def _autodiff_conv(x: jax.Array, weights) -> jax.Array:
  return jax.lax.conv_general_dilated(
      x, weights["kernel"], (1, 1), ((1, 1), (1, 1)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=vgg.PRECISION) + weights["bias"]


def install(conv: str) -> None:
  """Makes cnnjax's VGG use `conv` ("xla" or "vjp") in this process."""
  if conv == "xla":
    vgg._conv = _autodiff_conv

"""4x4 stride-2 convolutions and their transposes, with hand-written VJPs.

DCGAN's layers, and SNGAN's up/down-sampling convolutions once rewritten as
such (see `resnet.py`), are 4x4 stride-2 convolutions with padding 1 and
their transposes. XLA:CPU is slow on two of the computations involved:

- the weight gradient of the transposed convolution, as XLA derives it
  (3.7 s vs 0.14 s for a 16->32 px, 128->64 channel layer at batch 64,
  forward+backward);
- the transposed convolution itself, as the lhs-dilated convolution XLA uses
  for it, which is also the input gradient of the strided convolution: 1.2x
  to 7x slower than the formulation below on most DCGAN/SNGAN shapes, with
  cliffs (batch 128, 32 px, 32 channels: 56.5 ms against 7.7 ms).
  experiments/2026-11-25-speed/README.md has the measurements.

So all of them are written with the fast ones:

  y = C(w) x                   strided_conv: XLA's strided convolution
  x = C(w)^T y                 transposed_conv: the transpose of C written on
                               2x2 blocks (space-to-depth, then a 2x2
                               stride-1 conv), which XLA turns into stride-1
                               work
  g = d<y, C(w) x>/dw          kernel_gradient: XLA's weight gradient of C

and each one's VJP is written with the other two, so derivatives of every
order (WGAN-GP and R1 differentiate input gradients again) stay on them.
`tests/models/test_stride2.py` checks values and first and second
derivatives against autodiff of XLA's own formulations and finite
differences.
"""

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
_PADDING = ((1, 1), (1, 1))


def xla_strided_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """4x4 stride-2 convolution with padding 1: halves the spatial size."""
  return lax.conv_general_dilated(x, kernel, (2, 2), _PADDING,
                                  dimension_numbers=_DIMENSIONS)


def _reshape(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """x.reshape(shape) for reshapes that keep the batch axis (axis 0), whose
  sharding is kept too: meshes with explicit axes want it spelled out."""
  sharding = jax.typeof(x).sharding
  batch = sharding.spec[0] if sharding.spec else None
  if batch is None:
    return x.reshape(shape)
  return lax.reshape(x, shape, out_sharding=NamedSharding(
      sharding.mesh, PartitionSpec(batch)))


def _blocked_strided_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same map on 2x2 blocks: space-to-depth, then a 2x2 stride-1 conv.

  Padded by 1, x has even sizes; each 2x2 block of pixels becomes one pixel
  with 4x the channels, and the 4x4 kernel becomes a 2x2 kernel over them.
  Only its transpose is used (XLA transposes it into stride-1 work).
  """
  n, h, w, c = x.shape
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  x = _reshape(x, (n, h // 2 + 1, 2, w // 2 + 1, 2, c))
  x = _reshape(x.transpose(0, 1, 3, 2, 4, 5),
               (n, h // 2 + 1, w // 2 + 1, 4 * c))
  o = kernel.shape[3]
  kernel = kernel.reshape(2, 2, 2, 2, c, o).transpose(0, 2, 1, 3, 4, 5)
  return lax.conv_general_dilated(x, kernel.reshape(2, 2, 4 * c, o), (1, 1),
                                  "VALID", dimension_numbers=_DIMENSIONS)


def _transpose(strided, y: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)^T y for C = `strided`: doubles the spatial size of y."""
  n, h, w, _ = y.shape
  x = jax.ShapeDtypeStruct((n, 2 * h, 2 * w, kernel.shape[2]), y.dtype,
                           sharding=jax.typeof(y).sharding)
  (result,) = jax.linear_transpose(lambda x: strided(x, kernel), x)(y)
  return result


def _fast_transpose(y: jax.Array, kernel: jax.Array) -> jax.Array:
  return _transpose(_blocked_strided_conv, y, kernel)


def _xla_kernel_gradient(x: jax.Array, dy: jax.Array) -> jax.Array:
  """d<dy, C(w) x>/dw, bilinear in (x, dy): XLA's (fast) weight gradient of
  the strided conv. C is linear in w, so no value of w is needed."""
  kernel = jax.ShapeDtypeStruct((4, 4, x.shape[3], dy.shape[3]), x.dtype)
  (result,) = jax.linear_transpose(lambda k: xla_strided_conv(x, k),
                                   kernel)(dy)
  return result


def _bilinear(primal, backward):
  """`primal(a, b)` as a custom-VJP function whose VJP is backward(a, b, g).

  All three functions below are bilinear, so their residuals are just their
  two arguments.
  """
  function = jax.custom_vjp(primal)
  function.defvjp(lambda a, b: (primal(a, b), (a, b)),
                  lambda residuals, g: backward(*residuals, g))
  return function


def _strided(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Halves the (even) spatial size of x (NHWC); `kernel` is 4x4 HWIO."""
  return xla_strided_conv(x, kernel)


def _transposed(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Doubles the spatial size of x (NHWC).

  `kernel` is (4, 4, out_features, in_features): the HWIO kernel of the
  strided convolution that this layer is the transpose of.
  """
  return _fast_transpose(x, kernel)


def _kernel_gradient(x: jax.Array, dy: jax.Array) -> jax.Array:
  """d<dy, strided_conv(x, w)>/dw: the strided conv's weight gradient."""
  return _xla_kernel_gradient(x, dy)


# Each VJP follows from <y, C(w) x> = <C(w)^T y, x> = <w, kernel_gradient(x, y)>
# and is written with the other two functions (names resolved at call time).
strided_conv = _bilinear(_strided, lambda x, kernel, dy: (
    transposed_conv(dy, kernel), kernel_gradient(x, dy)))
transposed_conv = _bilinear(_transposed, lambda x, kernel, dy: (
    strided_conv(dy, kernel), kernel_gradient(dy, x)))
kernel_gradient = _bilinear(_kernel_gradient, lambda x, dy, dkernel: (
    transposed_conv(dy, dkernel), strided_conv(x, dkernel)))


class UpConv(nnx.Module):
  """4x4 stride-2 transposed convolution without bias (DCGAN's up-sampler).

  The same map as PyTorch's ConvTranspose2d(k=4, s=2, p=1, bias=False).
  """

  def __init__(self, in_features: int, out_features: int, *,
               kernel_init=nnx.initializers.normal(0.02), dtype=None,
               rngs: nnx.Rngs):
    self.dtype = dtype  # compute dtype; None keeps the input's
    self.kernel = nnx.Param(
        kernel_init(rngs.params(), (4, 4, out_features, in_features)))

  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.kernel[...]
    if self.dtype is not None:
      x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    return transposed_conv(x, kernel)

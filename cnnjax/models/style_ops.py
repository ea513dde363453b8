"""StyleGAN2's building blocks (Karras et al. 2020), NHWC.

- Equalised learning rate: weights are stored as N(0, 1) / lr_mul and
  scaled at run time by lr_mul / sqrt(fan_in), so Adam's per-parameter step
  (which ignores a parameter's scale) moves every layer at the same rate
  relative to its effective weights, times lr_mul.
- Modulated convolution: each sample's styles scale the kernel's input
  channels; demodulation rescales each output channel to unit expected
  variance. Computed either as one grouped convolution per batch (the
  paper's "fused" form) or by scaling activations before and after one
  ordinary convolution, which gives the same values (`modulated_conv`).
- FIR resampling with the [1, 3, 3, 1] filter (upsample: zero insertion
  then the filter; downsample: the filter then every second pixel).
- Minibatch standard deviation, the second-moment normalisation of latents
  and the leaky ReLU with gain sqrt(2).
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

LRELU_GAIN = float(np.sqrt(2.0))
# The binomial filter [1, 3, 3, 1]: StyleGAN2's resample_filter.
FIR = np.array([1.0, 3.0, 3.0, 1.0], np.float32)
_DIMS = ("NHWC", "HWIO", "NHWC")


def lrelu(x: jax.Array) -> jax.Array:
  """Leaky ReLU(0.2) times sqrt(2), which keeps unit-variance activations at
  unit variance (StyleGAN2's bias_act 'lrelu')."""
  return jax.nn.leaky_relu(x, 0.2) * LRELU_GAIN


def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True)
                           + eps)


def _cast(dtype, *arrays):
  return arrays if dtype is None else tuple(a.astype(dtype) for a in arrays)


class EqualizedLinear(nnx.Module):
  """A dense layer with equalised learning rate: y = x (W g) + b lr_mul."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs,
               bias_init: float = 0.0, lr_mul: float = 1.0,
               activation: bool = False, dtype=None):
    self.weight = nnx.Param(jax.random.normal(
        rngs.params(), (in_features, out_features)) / lr_mul)
    self.bias = nnx.Param(jnp.full((out_features,), bias_init / lr_mul,
                                   jnp.float32))
    self.gain = lr_mul / np.sqrt(in_features)
    self.lr_mul = lr_mul
    self.activation = activation
    self.dtype = dtype

  def __call__(self, x: jax.Array) -> jax.Array:
    weight = self.weight[...] * self.gain
    bias = self.bias[...] * self.lr_mul
    x, weight, bias = _cast(self.dtype, x, weight, bias)
    y = x @ weight + bias
    return lrelu(y) if self.activation else y


class EqualizedConv(nnx.Module):
  """A k x k convolution with equalised learning rate, optionally with the
  FIR filter before a stride-2 step (StyleGAN2's conv2d_resample down=2)."""

  def __init__(self, in_features: int, out_features: int, kernel_size: int,
               *, rngs: nnx.Rngs, bias: bool = True, down: bool = False,
               activation: bool = False, dtype=None):
    self.weight = nnx.Param(jax.random.normal(
        rngs.params(), (kernel_size, kernel_size, in_features, out_features)))
    self.bias = nnx.Param(jnp.zeros((out_features,))) if bias else None
    self.gain = 1.0 / np.sqrt(in_features * kernel_size ** 2)
    self.down = down
    self.activation = activation
    self.dtype = dtype

  def __call__(self, x: jax.Array, gain: float = 1.0) -> jax.Array:
    weight = self.weight[...] * self.gain
    x, weight = _cast(self.dtype, x, weight)
    k = weight.shape[0]
    if self.down:
      # Filter, then a valid stride-2 convolution: with k = 3 the filter
      # pads by 2 (conv2d_resample's padding for down=2), k = 1 by 1.
      x = fir_filter(x, pad=(k + 1) // 2)
      y = jax.lax.conv_general_dilated(x, weight, (2, 2), "VALID",
                                       dimension_numbers=_DIMS)
    else:
      y = jax.lax.conv_general_dilated(x, weight, (1, 1), "SAME",
                                       dimension_numbers=_DIMS)
    if self.bias is not None:
      y = y + self.bias[...].astype(y.dtype)
    y = lrelu(y) if self.activation else y
    return y * gain if gain != 1.0 else y


def _fir_1d(x: jax.Array, axis: int, pad: tuple[int, int],
            gain: float) -> jax.Array:
  """The [1, 3, 3, 1] filter (normalised to sum `gain`) along one axis
  after zero padding: four shifted slices summed. (A depthwise
  convolution computes the same, but XLA:CPU's grouped convolutions were
  the slowest part of the step.)"""
  widths = [(0, 0)] * x.ndim
  widths[axis] = pad
  x = jnp.pad(x, widths)
  taps = FIR / FIR.sum() * gain
  size = x.shape[axis] - 3
  return sum(float(t) * jax.lax.slice_in_dim(x, k, k + size, axis=axis)
             for k, t in enumerate(taps))


def _fir_2d(x: jax.Array, pad: tuple[int, int], gain: float = 1.0
            ) -> jax.Array:
  """The separable 4x4 filter over H and W (NHWC), `pad` zeros first."""
  root = float(np.sqrt(gain))
  return _fir_1d(_fir_1d(x, 1, pad, root), 2, pad, root)


def fir_filter(x: jax.Array, pad: int) -> jax.Array:
  """The 4x4 FIR filter with `pad` pixels of zeros each side before it:
  output size H + 2 pad - 3."""
  return _fir_2d(x, (pad, pad))


def _zero_insert(x: jax.Array, axis: int) -> jax.Array:
  """x[i] -> positions 2i, zeros at 2i + 1 (length 2n, a trailing zero)."""
  both = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
  shape = list(x.shape)
  shape[axis] *= 2
  return both.reshape(shape)


def upsample2d(x: jax.Array, pad: int = 0) -> jax.Array:
  """2x upsampling: zero insertion, then the FIR filter with gain 4
  (upfirdn2d.upsample2d): output 2H x 2W, or 2H + 2 pad with `pad` more
  pixels each side, filtered too (conv2d_resample's padding before a valid
  3x3 convolution, pad = 1)."""
  x = _zero_insert(_zero_insert(x, 1), 2)
  return _fir_2d(x, (2 + pad, 1 + pad), gain=4.0)


def downsample2d(x: jax.Array) -> jax.Array:
  """2x downsampling: the FIR filter, then every second pixel
  (upfirdn2d.downsample2d): output H/2 x W/2."""
  return _fir_2d(x, (1, 1))[:, ::2, ::2]


def modulated_conv(x: jax.Array, weight: jax.Array, styles: jax.Array,
                   demodulate: bool = True, fused: bool = False,
                   padding: str = "SAME") -> jax.Array:
  """StyleGAN2's modulated convolution, stride 1.

  x [N, H, W, I], weight [k, k, I, O] (already scaled), styles [N, I].
  Sample n convolves with weight * styles[n] over I, and, when
  `demodulate`, each output channel o is divided by the norm of its
  modulated kernel, sqrt(sum_{k,k,i} (w styles[n])^2 + 1e-8).

  `fused`: one grouped convolution of per-sample kernels (groups = N), as
  the paper writes it. Otherwise: x * styles, an ordinary convolution with
  the shared kernel, times the demodulation coefficients, the same map,
  which keeps XLA on its ordinary convolution path.
  """
  n, _, _, i = x.shape
  k, _, _, o = weight.shape
  if fused:
    w = weight[None] * styles[:, None, None, :, None]  # [N, k, k, I, O]
    if demodulate:
      w = w * jax.lax.rsqrt(jnp.sum(jnp.square(w), axis=(1, 2, 3),
                                    keepdims=True) + 1e-8)
    # Groups over the channel axis: [1, H, W, N*I] with kernel [k, k, I, N*O].
    h, wd = x.shape[1], x.shape[2]
    xg = jnp.transpose(x, (1, 2, 0, 3)).reshape(1, h, wd, n * i)
    wg = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(k, k, i, n * o)
    y = jax.lax.conv_general_dilated(xg, wg, (1, 1), padding,
                                     dimension_numbers=_DIMS,
                                     feature_group_count=n)
    return jnp.transpose(y.reshape(y.shape[1], y.shape[2], n, o),
                         (2, 0, 1, 3))
  y = jax.lax.conv_general_dilated(x * styles[:, None, None, :], weight,
                                   (1, 1), padding, dimension_numbers=_DIMS)
  if demodulate:
    # sum_{k,k,i} (w s_i)^2 = sum_i s_i^2 sum_{k,k} w^2: an [N, I] x [I, O]
    # product.
    dcoefs = jax.lax.rsqrt(jnp.square(styles) @ jnp.sum(
        jnp.square(weight), axis=(0, 1)) + 1e-8)
    y = y * dcoefs[:, None, None, :]
  return y


def minibatch_stddev(x: jax.Array, group_size: int,
                     num_channels: int = 1) -> jax.Array:
  """Appends `num_channels` feature maps holding the mean standard
  deviation of the features over groups of `group_size` samples.

  As StyleGAN2's MinibatchStdLayer: sample n belongs to group n mod
  (N / G), so a group's members are N / G apart in the batch.
  """
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g:
    raise ValueError(f"minibatch stddev: batch {n} is not a multiple of the "
                     f"group size {g}")
  f = num_channels
  y = x.reshape(g, n // g, h, w, f, c // f).astype(jnp.float32)
  y = y - jnp.mean(y, axis=0)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # [N/G, H, W, F, c]
  y = jnp.mean(y, axis=(1, 2, 4))  # [N/G, F]
  y = jnp.tile(y, (g, 1))[:, None, None, :]  # [N, 1, 1, F], n -> n mod N/G
  y = jnp.broadcast_to(y, (n, h, w, f)).astype(x.dtype)
  return jnp.concatenate([x, y], axis=-1)

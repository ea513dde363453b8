"""Winograd F(2x2, 2x2) and F(4x4, 2x2) for DCGAN's 4x4 stride-2
convolutions: fewer FLOPs, no faster on XLA:CPU.

A 4x4 stride-2 convolution with padding 1 is, after space-to-depth, a 2x2
stride-1 convolution over 4x the channels. Winograd's F(2x2, 2x2) computes
each 2x2 output tile of that convolution with 9 channel matmuls instead of
16 (1.78x fewer multiply-adds); its transforms are only sums and
differences, so float32 accuracy is that of a direct convolution. F(4x4, 2x2)
needs 25 per 4x4 tile instead of 64 (2.56x fewer), with fractions in its
transforms.

This script measures it in two ways:
  1. per layer, forward and forward+backward, F(2x2, 2x2) and F(4x4, 2x2)
     against XLA's convolution;
  2. the whole `configs/dcgan.py:fashion_mnist` step, with the layers of 64
     or more channels switched to it (`cnnjax.models.stride2`'s three
     functions replaced for this process only; the D's `nnx.Conv` replaced
     by `stride2.strided_conv`).

  .venv/bin/python experiments/2026-11-26-cpu-speed/winograd.py
"""

import importlib.util
import os
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from cnnjax import bench
from cnnjax.models import layers, stride2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "2026-11-25-speed"))
from timing import median_ms  # noqa: E402

MIN_CHANNELS = 64  # thinner layers (1 channel in or out) keep XLA's forms
TILE = 2  # m of F(m x m, 2 x 2) in the whole-step run; set by use_winograd


def toom_cook(m, points):
  """F(m, 2)'s matrices (A^T, G, B^T) from m finite points and infinity:
  y = A^T [(G g) * (B^T d)] is the valid correlation of d (m + 1 values)
  with g (2 values). Built as the transpose of Toom-Cook's polynomial
  product, so any distinct points work; small ones keep errors small."""
  def powers(degree):
    rows = [[p**i for i in range(degree)] for p in points]
    return np.array(rows + [[0] * (degree - 1) + [1]], np.float64)
  return powers(m).T, powers(2), np.linalg.inv(powers(m + 1)).T


TILES = {2: toom_cook(2, [0, 1]), 4: toom_cook(4, [0, 1, -1, 0.5])}


def _combine(matrix, rows, k):
  """sum_l matrix[k, l] * rows[l], skipping zeros (unrolled: XLA fuses it)."""
  terms = [c * rows[l] if abs(abs(c) - 1) > 1e-12 else (rows[l] if c > 0
           else -rows[l]) for l, c in enumerate(matrix[k]) if abs(c) > 1e-12]
  return sum(terms[1:], terms[0])


def _tiles(x, axis, m, bt):
  """B^T along `axis` (length mT + 1), tile by tile: [m+1, ..., T, ...]."""
  t = (x.shape[axis] - 1) // m
  shape = list(x.shape)
  shape[axis:axis + 1] = [t, m]
  blocks = lax.slice_in_dim(x, 0, m * t, axis=axis).reshape(shape)
  shifted = lax.slice_in_dim(x, 1, m * t + 1, axis=axis).reshape(shape)
  rows = [lax.index_in_dim(blocks, i, axis + 1, keepdims=False)
          for i in range(m)]
  rows.append(lax.index_in_dim(shifted, m - 1, axis + 1, keepdims=False))
  return jnp.stack([_combine(bt, rows, k) for k in range(m + 1)])


def winograd_valid_2x2(u, g, m):
  """Valid 2x2 stride-1 conv by F(m x m, 2 x 2): u [N, mP+1, mQ+1, C],
  g [2, 2, C, O]; (m+1)^2 channel matmuls per m x m output tile."""
  at, gt, bt = TILES[m]
  n = u.shape[0]
  v = jnp.swapaxes(_tiles(_tiles(u, 1, m, bt), 3, m, bt), 0, 1)
  p, q = v.shape[3:5]
  gt = jnp.asarray(gt, u.dtype)
  kernel = jnp.einsum("ia,jb,abco->ijco", gt, gt, g)
  prod = jnp.einsum("ijnpqc,ijco->ijnpqo", v, kernel)
  rows = [prod[i] for i in range(m + 1)]
  y = jnp.stack([_combine(at, rows, a) for a in range(m)])
  cols = [y[:, j] for j in range(m + 1)]
  y = jnp.stack([_combine(at, cols, b) for b in range(m)], axis=1)
  return y.transpose(2, 3, 0, 4, 1, 5).reshape(n, m * p, m * q, -1)


def winograd_strided_conv(x, kernel, m=2):
  """The same map as `stride2.xla_strided_conv` (x: H, W multiples of 2m;
  kernel 4x4 HWIO)."""
  n, h, w, c = x.shape
  o = kernel.shape[3]
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  x = x.reshape(n, h // 2 + 1, 2, w // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
  x = x.reshape(n, h // 2 + 1, w // 2 + 1, 4 * c)
  kernel = kernel.reshape(2, 2, 2, 2, c, o).transpose(0, 2, 1, 3, 4, 5)
  return winograd_valid_2x2(x, kernel.reshape(2, 2, 4 * c, o), m)


def _wide(kernel_shape):
  return min(kernel_shape[2], kernel_shape[3]) >= MIN_CHANNELS


def _strided(x, kernel):
  if _wide(kernel.shape):
    return winograd_strided_conv(x, kernel, TILE)
  return stride2.xla_strided_conv(x, kernel)


def _transposed(y, kernel):
  if _wide(kernel.shape):
    return stride2._transpose(partial(winograd_strided_conv, m=TILE), y,
                              kernel)
  return stride2._fast_transpose(y, kernel)


def _kernel_gradient(x, dy):
  if not _wide((4, 4, x.shape[3], dy.shape[3])):
    return stride2._xla_kernel_gradient(x, dy)
  kernel = jax.ShapeDtypeStruct((4, 4, x.shape[3], dy.shape[3]), x.dtype)
  (result,) = jax.linear_transpose(
      lambda k: winograd_strided_conv(x, k, TILE), kernel)(dy)
  return result


class _DownConv(nnx.Module):
  def __init__(self, in_features, out_features, rngs, dtype=None):
    del dtype  # float32 only here
    self.kernel = nnx.Param(layers.dcgan_init(
        rngs.params(), (4, 4, in_features, out_features)))

  def __call__(self, x):
    return stride2.strided_conv(x, self.kernel[...])


def use_winograd(m):
  """Switch stride2 (and so DCGAN's layers) to Winograd, for this process:
  the three custom-VJP functions rebuilt as stride2 builds them, on the
  Winograd forms. Their VJPs, and UpConv, look them up at call time."""
  global TILE
  TILE = m
  s2 = stride2
  s2.strided_conv = s2._bilinear(_strided, lambda x, kernel, dy: (
      s2.transposed_conv(dy, kernel), s2.kernel_gradient(x, dy)))
  s2.transposed_conv = s2._bilinear(_transposed, lambda x, kernel, dy: (
      s2.strided_conv(dy, kernel), s2.kernel_gradient(dy, x)))
  s2.kernel_gradient = s2._bilinear(_kernel_gradient, lambda x, dy, dk: (
      s2.transposed_conv(dy, dk), s2.strided_conv(x, dk)))
  layers.down_conv = _DownConv


def per_layer():
  key = jax.random.PRNGKey(0)
  for n, h, c, o in [(64, 16, 64, 128), (64, 8, 128, 256),
                     (128, 16, 64, 128), (128, 8, 128, 256)]:
    x = jax.random.normal(key, (n, h, h, c))
    k = 0.05 * jax.random.normal(key, (4, 4, c, o))
    dy = jax.random.normal(key, (n, h // 2, h // 2, o))
    ref = stride2.xla_strided_conv(x, k)
    row = [f"{n:4d} {h:3d} px {c:3d}->{o:3d}"]
    for name, conv in [("xla", stride2.xla_strided_conv),
                       ("F(2,2)", winograd_strided_conv),
                       ("F(4,2)", partial(winograd_strided_conv, m=4))]:
      if name == "F(4,2)" and h % 8:
        continue
      err = jnp.max(jnp.abs(conv(x, k) - ref)) / jnp.max(jnp.abs(ref))
      forward = jax.jit(conv)
      both = jax.jit(jax.grad(lambda x, k: jnp.vdot(conv(x, k), dy), (0, 1)))
      flops = forward.lower(x, k).compile().cost_analysis()["flops"]
      row.append(f"{name}: err {float(err):.0e} {flops / 1e9:.2f} GFLOP fwd "
                 f"{median_ms(forward, x, k):6.2f} ms, fwd+bwd "
                 f"{median_ms(both, x, k):6.2f} ms")
    print(" | ".join(row), flush=True)


def whole_step(label):
  spec = importlib.util.spec_from_file_location("dcgan", "configs/dcgan.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  result = bench.bench_step(module.get_config("fashion_mnist"), steps=20)
  print(f"DCGAN step, {label}: {result['images_per_sec']:.0f} images/s, "
        f"{result['step_ms']:.1f} ms, {result['flops_per_step'] / 1e9:.2f} "
        f"GFLOP/step", flush=True)


if __name__ == "__main__":
  per_layer()
  shipped = (stride2.strided_conv, stride2.transposed_conv,
             stride2.kernel_gradient, layers.down_conv)
  for _ in range(2):  # alternating, twice
    (stride2.strided_conv, stride2.transposed_conv, stride2.kernel_gradient,
     layers.down_conv) = shipped
    whole_step("XLA's convolutions (as shipped)")
    for m in (2, 4):
      use_winograd(m)
      whole_step(f"F({m}x{m},2x2) on the layers of 64+ channels")

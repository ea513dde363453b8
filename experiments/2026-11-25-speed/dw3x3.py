"""The weight gradient of a 3x3 stride-1 SAME convolution (NHWC/HWIO):
XLA's own against hand-written formulations, in float32 and bfloat16.

  .venv/bin/python experiments/2026-11-25-speed/dw3x3.py

Prints, per layer shape, the forward time and each formulation's median time
and its largest error relative to XLA's float32 gradient.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from timing import median_ms  # this folder's helper

DN = ("NHWC", "HWIO", "NHWC")
SHAPES = [(64, 32, 32, 32, 32), (64, 32, 32, 64, 64), (64, 16, 16, 128, 128)]


def conv(x, w):
  return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN)


def dw_autodiff(x, dy, w):
  return jax.vjp(lambda k: conv(x, k), w)[1](dy)[0]


def _pad(x):
  return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))


def _taps(x):
  """The nine shifted windows of the padded input, in HWIO tap order."""
  n, h, wd, ci = x.shape
  xp = _pad(x)
  return [xp[:, kh:kh + h, kw:kw + wd, :] for kh in range(3) for kw in range(3)]


def _pixel_dot(a, b):
  """sum over (n, h, w) of a[n, h, w, i] * b[n, h, w, o] -> [i, o]."""
  return lax.dot_general(a, b, (((0, 1, 2), (0, 1, 2)), ((), ())),
                         preferred_element_type=jnp.float32)


def dw_shift_dot(x, dy, w):
  return jnp.stack([_pixel_dot(t, dy) for t in _taps(x)]).reshape(w.shape)


def dw_channel_major(x, dy, w):
  # both operands channel-major, so the long contraction is the minor axis
  n, h, wd, ci = x.shape
  xt = _pad(x).transpose(3, 0, 1, 2)
  dyt = dy.transpose(3, 0, 1, 2).reshape(dy.shape[-1], -1)
  rows = [lax.dot_general(xt[:, :, kh:kh + h, kw:kw + wd].reshape(ci, -1), dyt,
                          (((1,), (1,)), ((), ())),
                          preferred_element_type=jnp.float32)
          for kh in range(3) for kw in range(3)]
  return jnp.stack(rows).reshape(w.shape)


def dw_chunked(x, dy, w, chunks=8):
  # the pixel sum split into a batch of 8 matmuls, then reduced
  d = dy.reshape(chunks, -1, dy.shape[-1])
  rows = [jnp.einsum("bki,bko->io", t.reshape(chunks, -1, x.shape[-1]), d,
                     preferred_element_type=jnp.float32) for t in _taps(x)]
  return jnp.stack(rows).reshape(w.shape)


def dw_rowconv(x, dy, w):
  # the three kw taps side by side on the channel axis: 3 dots of 3*ci rows
  h, wd = x.shape[1:3]
  xp = _pad(x)
  x3 = jnp.concatenate([xp[:, :, kw:kw + wd, :] for kw in range(3)], axis=-1)
  return jnp.stack([_pixel_dot(x3[:, kh:kh + h], dy)
                    for kh in range(3)]).reshape(w.shape)


def dw_im2col(x, dy, w):
  patches = jnp.concatenate(_taps(x), axis=-1).reshape(-1, 9 * x.shape[-1])
  return (patches.T @ dy.reshape(-1, dy.shape[-1])).reshape(w.shape)


FORMS = dict(autodiff=dw_autodiff, shift_dot=dw_shift_dot,
             channel_major=dw_channel_major, chunked=dw_chunked,
             rowconv=dw_rowconv, im2col=dw_im2col)



def main(shapes=SHAPES):
  for n, h, wd, ci, co in shapes:
    k = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k[0], (n, h, wd, ci))
    dy = jax.random.normal(k[1], (n, h, wd, co))
    w = jax.random.normal(k[2], (3, 3, ci, co))
    ref = np.asarray(jax.jit(dw_autodiff)(x, dy, w))
    line = [f"fwd={median_ms(jax.jit(conv), x, w):.1f}ms"]
    for dtype in (jnp.float32, jnp.bfloat16):
      args = (x.astype(dtype), dy.astype(dtype), w.astype(dtype))
      for name, form in FORMS.items():
        if dtype == jnp.bfloat16 and name == "autodiff":
          continue
        jitted = jax.jit(form)
        out = np.asarray(jitted(*args), np.float32)
        err = np.abs(out - ref).max() / np.abs(ref).max()
        suffix = "-bf16" if dtype == jnp.bfloat16 else ""
        line.append(f"{name}{suffix}={median_ms(jitted, *args):.1f}ms"
                    f"(err {err:.0e})")
    print((n, h, wd, ci, co), *line, flush=True)


if __name__ == "__main__":
  main()

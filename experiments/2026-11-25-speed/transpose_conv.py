"""The transposed 4x4 stride-2 convolution (= the input gradient of the
strided one): XLA's lhs-dilated form against cnnjax's form on 2x2 blocks
(`cnnjax.models.stride2`), on the DCGAN and SNGAN shapes.

  .venv/bin/python experiments/2026-11-25-speed/transpose_conv.py

Prints, per shape, the median time of each and the largest difference
relative to XLA's.
"""

import jax

from cnnjax.models import stride2
from timing import median_ms  # this folder's helper

# (batch, spatial size of the strided conv's input, its in, out channels)
SHAPES = [(128, 16, 64, 128), (128, 8, 128, 256), (64, 16, 64, 128),
          (64, 8, 128, 256), (64, 32, 1, 64), (128, 32, 32, 32),
          (128, 16, 32, 32), (64, 32, 32, 32), (64, 16, 32, 32),
          (64, 8, 32, 32), (128, 32, 128, 128), (64, 32, 128, 128),
          (64, 16, 128, 128)]



def main():
  xla = jax.jit(lambda y, k: stride2._transpose(stride2.xla_strided_conv, y,
                                                k))
  blocked = jax.jit(stride2.transposed_conv)
  print("batch, px, in<-out | XLA lhs-dilated ms | 2x2 blocks ms | speed-up"
        " | max rel. difference")
  for batch, size, c_in, c_out in SHAPES:
    keys = jax.random.split(jax.random.PRNGKey(0))
    y = jax.random.normal(keys[0], (batch, size // 2, size // 2, c_out))
    kernel = jax.random.normal(keys[1], (4, 4, c_in, c_out)) / 10
    reference = xla(y, kernel)
    error = float(abs(blocked(y, kernel) - reference).max()
                  / abs(reference).max())
    t_xla, t_blocked = median_ms(xla, y, kernel), median_ms(blocked, y, kernel)
    print(f"{batch}, {size}, {c_in}<-{c_out} | {t_xla:.2f} | {t_blocked:.2f}"
          f" | {t_xla / t_blocked:.2f}x | {error:.1e}", flush=True)


if __name__ == "__main__":
  main()

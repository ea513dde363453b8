"""Does bfloat16 buy speed from XLA on this CPU? Matmul rates with float32
accumulation, and a 4x4 stride-2 convolution as XLA's convolution against
patches + one matmul, in float32 and bfloat16 (forward + both gradients).

  .venv/bin/python experiments/2026-11-25-speed/bf16.py
"""

import jax
import jax.numpy as jnp
from jax import lax
from timing import median_ms  # this folder's helper

DN = ("NHWC", "HWIO", "NHWC")



def xla_conv(x, w):
  return lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)),
                                  dimension_numbers=DN)


def patches_conv(dtype):
  """The same conv as 2x2-block patches (16 * in features) and one matmul."""
  def conv(x, w):
    b, h, w_, c = x.shape
    x = jnp.pad(x.astype(dtype), ((0, 0), (1, 1), (1, 1), (0, 0)))
    x = x.reshape(b, h // 2 + 1, 2, w_ // 2 + 1, 2, c)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2 + 1, w_ // 2 + 1,
                                              4 * c)
    p = jnp.concatenate([x[:, i:i + h // 2, j:j + w_ // 2]
                         for i in (0, 1) for j in (0, 1)], -1)
    k = w.astype(dtype).reshape(2, 2, 2, 2, c, -1).transpose(0, 2, 1, 3, 4, 5)
    return jnp.einsum("bhwk,ko->bhwo", p, k.reshape(16 * c, -1),
                      preferred_element_type=jnp.float32)
  return conv


def main():
  key = jax.random.PRNGKey(0)
  print("matmul (m x k x n) | float32 GFLOP/s | bfloat16 -> float32 GFLOP/s"
        " | weight-gradient shape (contract m), f32 | bf16")
  for m, k, n in [(2048, 2048, 2048), (8192, 1024, 128), (2048, 2048, 256),
                  (1024, 8192, 128)]:
    rates = []
    for dtype in (jnp.float32, jnp.bfloat16):
      a = jax.random.normal(key, (m, k), dtype)
      b = jax.random.normal(key, (k, n), dtype)
      c = jax.random.normal(key, (m, n), dtype)
      dot = jax.jit(lambda a, b: jnp.dot(a, b,
                                         preferred_element_type=jnp.float32))
      dw = jax.jit(lambda a, c: jnp.dot(a.T, c,
                                        preferred_element_type=jnp.float32))
      flops = 2 * m * k * n / 1e6
      rates += [flops / median_ms(dot, a, b), flops / median_ms(dw, a, c)]
    print(f"{m}x{k}x{n} | {rates[0]:.0f} | {rates[2]:.0f} | {rates[1]:.0f}"
          f" | {rates[3]:.0f}", flush=True)

  print("4x4 stride-2 conv (batch, px, in->out) | formulation | forward ms |"
        " both gradients ms | GFLOP/s over the three")
  for b, h, c, o in [(128, 16, 64, 128), (128, 8, 128, 256)]:
    x = jax.random.normal(key, (b, h, h, c))
    w = jax.random.normal(key, (4, 4, c, o)) * 0.05
    r = jax.random.normal(key, (b, h // 2, h // 2, o))
    flops = 2 * b * (h // 2) ** 2 * 16 * c * o
    for name, f in [("XLA conv f32", xla_conv),
                    ("patches+matmul f32", patches_conv(jnp.float32)),
                    ("patches+matmul bf16", patches_conv(jnp.bfloat16))]:
      forward = median_ms(jax.jit(f), x, w)
      grads = median_ms(jax.jit(jax.grad(lambda x, w: (f(x, w) * r).sum(),
                                         argnums=(0, 1))), x, w)
      print(f"{b}, {h}, {c}->{o} | {name} | {forward:.1f} | {grads:.1f} | "
            f"{3 * flops / (forward + grads) / 1e6:.0f}", flush=True)


if __name__ == "__main__":
  main()

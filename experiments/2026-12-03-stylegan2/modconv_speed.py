"""Modulated convolution, batched against grouped ("fused"), forward and
backward, on this backend: seconds per call, alternating the two forms.

  python experiments/2026-12-03-stylegan2/modconv_speed.py [--rounds 3] [--shapes 4]

Shapes: the fashion_mnist config's layers (batch 64; 128 channels at 8 and
16 px, 128 -> 64 at 32 px) and one paper-width layer (batch 16, 512
channels at 32 px).
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp

from cnnjax.models import style_ops as ops

SHAPES = [  # (batch, size, in, out)
    (64, 8, 128, 128), (64, 16, 128, 128), (64, 32, 128, 64),
    (16, 32, 512, 512)]


def timed(fn, *args, repeats=5):
  jax.block_until_ready(fn(*args))  # compile
  start = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(fn(*args))
  return (time.perf_counter() - start) / repeats


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--shapes", type=int, default=len(SHAPES),
                      help="time the first N shapes")
  args = parser.parse_args()
  for n, size, cin, cout in SHAPES[:args.shapes]:
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (n, size, size, cin))
    w = jax.random.normal(keys[1], (3, 3, cin, cout))
    s = 1 + 0.2 * jax.random.normal(keys[2], (n, cin))
    fns = {}
    for fused in (False, True):
      loss = lambda x, w, s, fused=fused: jnp.sum(
          ops.modulated_conv(x, w, s, fused=fused) ** 2)
      fns[fused] = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    times = {False: [], True: []}
    for r in range(args.rounds):
      for fused in ((False, True) if r % 2 == 0 else (True, False)):
        times[fused].append(timed(fns[fused], x, w, s))
    print(json.dumps({
        "shape": [n, size, cin, cout], "backend": jax.default_backend(),
        "batched_s": [round(t, 5) for t in times[False]],
        "grouped_s": [round(t, 5) for t in times[True]]}), flush=True)


if __name__ == "__main__":
  main()

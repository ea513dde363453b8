"""The one timing helper of the micro-benchmarks in this folder."""

import time

import jax
import numpy as np


def median_ms(f, *args, repeats=11):
  """Median wall time of f(*args) in ms, after one call that compiles it."""
  jax.block_until_ready(f(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(f(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))

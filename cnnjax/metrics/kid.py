"""Kernel Inception Distance (Binkowski et al. 2018), float64.

KID is the unbiased estimate of the squared MMD between real and generated
features under the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3:

  MMD^2 = [sum_{i!=j} k(x_i, x_j) + sum_{i!=j} k(y_i, y_j)] / (m (m-1))
          - 2 sum_{i,j} k(x_i, y_j) / m^2,

averaged over random subsets of m samples of each set, each subset drawn
without replacement, as StyleGAN2-ADA and torch-fidelity do (the cross term
keeps its diagonal: x_i and y_i are independent). The reported std is the
population std (ddof=0) of the per-subset estimates, as torch-fidelity's.
The subsets come from numpy's default_rng(seed), so values agree with other
implementations up to the subset sampling noise, not bit for bit.
"""

import numpy as np

from cnnjax.metrics.stats import as_float64_features


def _cubic_kernel_sum(a: np.ndarray, b: np.ndarray | None = None) -> float:
  """Sum of (a_i.b_j / d + 1)^3 over all i, j; with no `b`, of a_i.a_j over
  i != j."""
  same = b is None
  # numpy computes a @ a.T as a symmetric rank-k update: half the flops.
  kernel = a @ a.T if same else a @ b.T
  kernel /= a.shape[1]
  kernel += 1.0
  cube = kernel * kernel
  cube *= kernel
  total = cube.sum()
  return float(total - np.trace(cube)) if same else float(total)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 estimate between samples [m, d] x and y, cubic kernel."""
  m = x.shape[0]
  within = _cubic_kernel_sum(x) + _cubic_kernel_sum(y)
  return within / (m * (m - 1)) - 2 * _cubic_kernel_sum(x, y) / (m * m)


def kid_from_features(real, fake, num_subsets: int = 100,
                      subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
  """(mean, std) over `num_subsets` subsets of the unbiased MMD^2 estimate.

  `subset_size` is capped at min(n_real, n_fake): with fewer samples every
  subset is a permutation of the whole (smaller) set.
  """
  real = as_float64_features(real, "real features")
  fake = as_float64_features(fake, "fake features")
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"Features of different dimensions: {real.shape[1]} "
                     f"and {fake.shape[1]}.")
  if num_subsets < 1:
    raise ValueError(f"num_subsets must be >= 1, got {num_subsets}.")
  size = min(subset_size, real.shape[0], fake.shape[0])
  if size < 2:
    raise ValueError(f"KID needs subsets of at least 2 samples, got {size}.")
  rng = np.random.default_rng(seed)
  estimates = np.empty(num_subsets, dtype=np.float64)
  for subset in range(num_subsets):
    x = fake[rng.choice(fake.shape[0], size, replace=False)]
    y = real[rng.choice(real.shape[0], size, replace=False)]
    estimates[subset] = mmd2_unbiased(x, y)
  return float(estimates.mean()), float(estimates.std())

"""Fréchet (Inception) distance between two Gaussians (Heusel et al. 2017).

  FD = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})

pytorch-fid computes Tr((S1 S2)^{1/2}) with `scipy.linalg.sqrtm` of the
non-symmetric product S1 S2, which turns complex or NaN on rank-deficient
covariances (fewer samples than dimensions, duplicated features) and needs an
ad-hoc diagonal offset. Here the trace comes from symmetric factorizations:
with S1 = V1 W1 V1^T and S2 = V2 W2 V2^T (eigh, tiny negative eigenvalues
clipped to 0), the eigenvalues of (S1 S2) are the squared singular values of

  B = W1^{1/2} V1^T V2 W2^{1/2} = V1^T S1^{1/2} S2^{1/2} V2,

so Tr((S1 S2)^{1/2}) is the sum of the singular values of B. Taking singular
values of B, rather than square roots of the eigenvalues of B B^T, keeps the
rounding error at eps * ||B|| instead of sqrt(eps * ||B B^T||); and for equal
covariances V1^T V2 is the identity up to rounding, so identical feature sets
give FD ~ 1e-13 * Tr(S) (sqrtm gives about -1e-8 * Tr(S) on rank-deficient
ones).

The eigen and singular value decompositions run on one BLAS thread. They are
dominated by matrix-vector steps with a thread sync each: on an idle 2-core
CPU a second thread saves ~40% (0.8 s vs 1.3 s for a 2048 x 2048 eigh), but on
a busy one (data loading, another job) OpenBLAS's spinning threads made them
20x slower (18 s). One thread also makes this step's rounding independent of
the machine's thread count.
"""

import numpy as np
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from cnnjax.metrics.stats import feature_statistics


def _check_statistics(mu: np.ndarray, sigma: np.ndarray, name: str) -> None:
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise ValueError(f"{name}: mean must be [D] and covariance [D, D], got "
                     f"{mu.shape} and {sigma.shape}.")
  if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
    raise ValueError(f"{name}: statistics contain NaN or Inf values.")


def _sqrt_eigen(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(sqrt of eigenvalues, eigenvectors) of a symmetric PSD matrix.

  Eigenvalues a covariance should not have (tiny negatives from rounding)
  are clipped to 0, as a PSD matrix has none.
  """
  eigenvalues, eigenvectors = np.linalg.eigh((sigma + sigma.T) / 2)
  return np.sqrt(np.clip(eigenvalues, 0.0, None)), eigenvectors


def trace_sqrt_product(sigma1, sigma2) -> float:
  """Tr((S1 S2)^{1/2}) for symmetric PSD S1, S2, in float64."""
  sigma1 = np.asarray(sigma1, dtype=np.float64)
  sigma2 = np.asarray(sigma2, dtype=np.float64)
  with threadpool_limits(limits=1, user_api="blas"):
    root1, vectors1 = _sqrt_eigen(sigma1)
    root2, vectors2 = _sqrt_eigen(sigma2)
    product = root1[:, None] * (vectors1.T @ vectors2) * root2[None, :]
    singular_values = np.linalg.svd(product, compute_uv=False)
  return float(np.sum(singular_values))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

  Finite, real and non-negative for any PSD covariances, rank-deficient ones
  included; equal to the pytorch-fid value (to ~1e-10 relative) wherever
  that is well defined.
  """
  mu1, mu2 = (np.asarray(m, dtype=np.float64) for m in (mu1, mu2))
  sigma1, sigma2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
  _check_statistics(mu1, sigma1, "first")
  _check_statistics(mu2, sigma2, "second")
  if mu1.shape != mu2.shape:
    raise ValueError(f"Statistics of different dimensions: {mu1.shape[0]} "
                     f"and {mu2.shape[0]}.")
  diff = mu1 - mu2
  distance = (diff @ diff + np.trace(sigma1) + np.trace(sigma2) -
              2 * trace_sqrt_product(sigma1, sigma2))
  # FD is a squared Wasserstein-2 distance, so >= 0; rounding can take an
  # exact 0 (identical statistics) to about -1e-13 * Tr(S).
  return max(float(distance), 0.0)


def fid_from_features(real, fake) -> float:
  """Fréchet distance between Gaussians fitted to two [N, D] feature sets."""
  return frechet_distance(*feature_statistics(real), *feature_statistics(fake))

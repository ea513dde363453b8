"""Improved precision and recall (Kynkäänniemi et al. 2019), float64.

Each feature set approximates its manifold by balls around its samples, of
radius the distance to the sample's k-th nearest neighbour in the same set
(the sample itself excluded). Precision is the share of fake samples inside
the real manifold (within the radius of at least one real sample); recall is
the share of real samples inside the fake manifold. "Inside" includes the
boundary (<=), as the reference implementations.

Distances are computed in row blocks of `batch_size` x N, as squared
distances |a|^2 + |b|^2 - 2 a.b with a float64 numpy (BLAS) matrix product.
Measured on a 2-core CPU, that is as fast as a jitted jax.numpy float64 block,
and numpy's in-place partition picks the k-th neighbour 10x faster than
lax.top_k; float32 blocks would be ~2x faster but round distances at 1e-7.
Integer-valued inputs stay exact (the tests rely on it for exact ties). The
real-fake block is computed once and serves both precision (any over real)
and recall (any over fake).
"""

import numpy as np

from cnnjax.metrics.stats import as_float64_features


def _squared_norms(features: np.ndarray) -> np.ndarray:
  return np.einsum("ij,ij->i", features, features)


def _squared_distances(rows, row_norms, columns, column_norms,
                       out: np.ndarray) -> np.ndarray:
  """[R, C] squared distances into `out`; may hold tiny negatives for
  coincident points."""
  # Scaling by -2 is exact in floating point, so this is -2 (rows @ columns.T)
  # without a pass over the block; `out` saves an 80 MB allocation per block.
  block = np.matmul(rows * -2.0, columns.T, out=out[:rows.shape[0]])
  block += row_norms[:, None]
  block += column_norms[None, :]
  return block


def knn_squared_radii(features, k: int = 3,
                      batch_size: int = 1024) -> np.ndarray:
  """Squared distance from each sample to its k-th nearest other sample."""
  features = as_float64_features(features)
  count = features.shape[0]
  if not 1 <= k < count:
    raise ValueError(f"k must be in [1, {count - 1}] for {count} samples, "
                     f"got {k}.")
  norms = _squared_norms(features)
  radii = np.empty(count, dtype=np.float64)
  buffer = np.empty((min(batch_size, count), count), dtype=np.float64)
  for start in range(0, count, batch_size):
    stop = min(start + batch_size, count)
    block = _squared_distances(features[start:stop], norms[start:stop],
                               features, norms, buffer)
    # Each sample is its own nearest neighbour at exactly 0, so index k of
    # the sorted row is the k-th neighbour excluding itself; a duplicate
    # sample still counts as a neighbour at distance 0.
    rows = np.arange(stop - start)
    block[rows, rows + start] = 0.0
    block.partition(k, axis=1)  # in place: np.partition would copy the block
    radii[start:stop] = block[:, k]
  # Rounding can leave coincident points at -1e-13 rather than 0.
  return np.maximum(radii, 0.0)


def precision_recall(real, fake, k: int = 3,
                     batch_size: int = 1024) -> tuple[float, float]:
  """(precision, recall) of fake [N, D] features against real [M, D] ones.

  Memory: one float64 block of batch_size x max(N, M) at a time (80 MB for
  1024 x 10k), besides the features themselves.
  """
  real = as_float64_features(real, "real features")
  fake = as_float64_features(fake, "fake features")
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"Features of different dimensions: {real.shape[1]} "
                     f"and {fake.shape[1]}.")
  real_radii = knn_squared_radii(real, k, batch_size)
  fake_radii = knn_squared_radii(fake, k, batch_size)
  real_norms, fake_norms = _squared_norms(real), _squared_norms(fake)
  fake_in_real = np.zeros(fake.shape[0], dtype=bool)
  real_in_fake = np.zeros(real.shape[0], dtype=bool)
  buffer = np.empty((min(batch_size, fake.shape[0]), real.shape[0]))
  for start in range(0, fake.shape[0], batch_size):
    stop = min(start + batch_size, fake.shape[0])
    block = _squared_distances(fake[start:stop], fake_norms[start:stop],
                               real, real_norms, buffer)
    # Tiny negative distances compare as inside, as 0 would: radii are >= 0.
    fake_in_real[start:stop] = np.any(block <= real_radii[None, :], axis=1)
    real_in_fake |= np.any(block <= fake_radii[start:stop, None], axis=0)
  return float(fake_in_real.mean()), float(real_in_fake.mean())

"""Feature statistics for the Fréchet distance: mean and covariance, float64.

`feature_statistics` matches pytorch-fid's `np.mean(axis=0)` and
`np.cov(rowvar=False)` (ddof=1). `StatisticsAccumulator` gives the same numbers
from batches, so a feature extractor can stream 10k x 2048 features through it
without ever holding them all.
"""

import numpy as np


def as_float64_features(features, name: str = "features",
                        copy: bool | None = None) -> np.ndarray:
  """`features` as a finite float64 [N, D] numpy array.

  `copy=None` copies only to convert; `copy=True` always returns a private
  array the caller may modify in place.

  NaN or Inf features (a diverged generator, a broken extractor) would give a
  NaN or, worse, a plausible-looking number, so they are refused here.
  """
  array = np.array(features, dtype=np.float64, copy=copy)
  if array.ndim != 2:
    raise ValueError(f"{name} must be [num_samples, dim], got shape "
                     f"{array.shape}.")
  if not np.all(np.isfinite(array)):
    raise ValueError(f"{name} contain NaN or Inf values.")
  return array


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean [D] and unbiased (ddof=1) covariance [D, D] of [N, D] features."""
  # A private float64 copy, centered in place: the only extra [N, D] array.
  centered = as_float64_features(features, copy=True)
  count = centered.shape[0]
  if count < 2:
    raise ValueError(f"A covariance needs at least 2 samples, got {count}.")
  mean = centered.mean(axis=0)
  centered -= mean
  sigma = centered.T @ centered / (count - 1)
  return mean, sigma


class StatisticsAccumulator:
  """Streaming mean and covariance of feature batches, in float64.

  Each batch is reduced to its own mean and centered scatter matrix and then
  merged (Chan, Golub & LeVeque 1979). Summing raw x x^T instead would lose
  digits to cancellation whenever the mean is large against the spread, which
  is the usual case for post-ReLU features.
  """

  def __init__(self):
    self.count = 0
    self._mean = None
    self._scatter = None  # sum over samples of (x - mean)(x - mean)^T

  def update(self, batch) -> None:
    """Adds a [B, D] batch of features (numpy or jax, any float dtype)."""
    batch = as_float64_features(batch, "batch")
    batch_count = batch.shape[0]
    if batch_count == 0:
      return
    if self._mean is not None and batch.shape[1] != self._mean.shape[0]:
      raise ValueError(f"batch has dimension {batch.shape[1]}, earlier "
                       f"batches had {self._mean.shape[0]}.")
    batch_mean = batch.mean(axis=0)
    centered = batch - batch_mean
    batch_scatter = centered.T @ centered
    if self._mean is None:
      self.count, self._mean, self._scatter = (batch_count, batch_mean,
                                               batch_scatter)
      return
    total = self.count + batch_count
    delta = batch_mean - self._mean
    self._scatter += batch_scatter
    self._scatter += np.outer(delta, delta) * (self.count * batch_count / total)
    self._mean = self._mean + delta * (batch_count / total)
    self.count = total

  def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased (ddof=1) covariance [D, D] of all batches."""
    if self.count < 2:
      raise ValueError(f"A covariance needs at least 2 samples, got "
                       f"{self.count}.")
    return self._mean.copy(), self._scatter / (self.count - 1)

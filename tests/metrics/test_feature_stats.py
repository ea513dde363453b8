"""Feature mean/covariance, in one go and streamed, against np.cov."""

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.metrics import StatisticsAccumulator, feature_statistics


def _relative_error(got, want):
  return np.max(np.abs(got - want)) / np.max(np.abs(want))


def test_feature_statistics_match_numpy_cov():
  features = np.random.default_rng(0).standard_normal((300, 20))
  mean, sigma = feature_statistics(features)
  assert mean.dtype == sigma.dtype == np.float64
  np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-13)
  np.testing.assert_allclose(sigma, np.cov(features, rowvar=False),
                             rtol=1e-12, atol=1e-15)


def test_feature_statistics_accept_float32_jax_arrays_without_changing_them():
  features = np.random.default_rng(1).standard_normal((50, 6)).astype(
      np.float32)
  kept = features.copy()
  mean, sigma = feature_statistics(jnp.asarray(features))
  # The float32 values are converted exactly, then everything is float64.
  want = np.cov(features.astype(np.float64), rowvar=False)
  np.testing.assert_allclose(sigma, want, rtol=1e-12)
  mean_np, _ = feature_statistics(features)
  np.testing.assert_array_equal(features, kept)  # not centered in place
  np.testing.assert_allclose(mean, mean_np, rtol=1e-15)


@pytest.mark.parametrize("batch_sizes", [[400], [1, 399], [37, 100, 3, 260]])
def test_streaming_accumulator_matches_one_go(batch_sizes):
  # A mean far from zero against the spread, as post-ReLU features have:
  # summing raw second moments would lose ~8 digits here.
  rng = np.random.default_rng(2)
  features = 1e4 + rng.standard_normal((sum(batch_sizes), 16))
  accumulator = StatisticsAccumulator()
  start = 0
  for size in batch_sizes:
    accumulator.update(features[start:start + size].astype(np.float64))
    start += size
  mean, sigma = accumulator.mean_cov()
  want_mean, want_sigma = np.mean(features, 0), np.cov(features, rowvar=False)
  assert accumulator.count == len(features)
  assert _relative_error(mean, want_mean) < 1e-12
  assert _relative_error(sigma, want_sigma) < 1e-10


def test_accumulator_takes_jax_float32_batches():
  features = np.random.default_rng(3).uniform(0, 5, (96, 8)).astype(np.float32)
  accumulator = StatisticsAccumulator()
  for batch in np.split(features, 4):
    accumulator.update(jnp.asarray(batch))
  mean, sigma = accumulator.mean_cov()
  want_mean, want_sigma = feature_statistics(features)
  assert _relative_error(mean, want_mean) < 1e-12
  assert _relative_error(sigma, want_sigma) < 1e-10


def test_bad_features_are_refused():
  with pytest.raises(ValueError, match="NaN"):
    feature_statistics(np.array([[0.0, 1.0], [np.nan, 2.0]]))
  with pytest.raises(ValueError, match="at least 2"):
    feature_statistics(np.ones((1, 3)))
  with pytest.raises(ValueError, match="num_samples, dim"):
    feature_statistics(np.ones(3))
  accumulator = StatisticsAccumulator()
  accumulator.update(np.ones((2, 3)))
  with pytest.raises(ValueError, match="dimension"):
    accumulator.update(np.ones((2, 4)))
  with pytest.raises(ValueError, match="at least 2"):
    StatisticsAccumulator().mean_cov()

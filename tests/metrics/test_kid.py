"""KID against a direct O(n^2) loop over the kernel's definition."""

import itertools

import numpy as np
import pytest

from cnnjax.metrics import kid_from_features


def kernel(a, b):
  return (np.dot(a, b) / len(a) + 1.0)**3


def loop_mmd2(fake, real):
  """Unbiased MMD^2 of Binkowski et al. (2018), eq. 3, term by term; the two
  sets may have different sizes."""
  n, m = len(fake), len(real)
  within_fake = sum(kernel(fake[i], fake[j])
                    for i, j in itertools.permutations(range(n), 2))
  within_real = sum(kernel(real[i], real[j])
                    for i, j in itertools.permutations(range(m), 2))
  across = sum(kernel(x, y) for x in fake for y in real)
  return (within_fake / (n * (n - 1)) + within_real / (m * (m - 1)) -
          2 * across / (n * m))


def test_one_full_subset_matches_the_loop():
  rng = np.random.default_rng(0)
  real = rng.uniform(0, 2, (12, 5))
  fake = rng.uniform(0, 2, (12, 5)) + 0.3
  # subset_size >= n: every subset is a permutation of the whole set, and
  # the estimate does not depend on the order of the samples.
  mean, std = kid_from_features(real, fake, num_subsets=3, subset_size=1000)
  assert mean == pytest.approx(loop_mmd2(fake, real), rel=1e-12)
  assert std < 1e-12 * abs(mean)


def test_subsets_of_unequal_sets_average_to_the_full_estimate():
  # Random subsets of size min(n_real, n_fake) give unbiased estimates of
  # the two-sample statistic on all the samples.
  rng = np.random.default_rng(1)
  real = rng.standard_normal((9, 4))
  fake = rng.standard_normal((6, 4)) + 0.5
  num_subsets = 4000
  mean, std = kid_from_features(real, fake, num_subsets=num_subsets)
  assert std > 0
  assert abs(mean - loop_mmd2(fake, real)) < 5 * std / np.sqrt(num_subsets)


def test_same_distribution_is_near_zero_and_a_shift_is_clearly_positive():
  rng = np.random.default_rng(2)
  real = rng.standard_normal((2000, 16))
  same = rng.standard_normal((2000, 16))
  shifted = rng.standard_normal((2000, 16)) + 0.5
  mean, std = kid_from_features(real, same, num_subsets=20, subset_size=500)
  assert abs(mean) < 3 * std
  shifted_mean, shifted_std = kid_from_features(real, shifted, num_subsets=20,
                                                subset_size=500)
  assert shifted_mean > 10 * shifted_std and shifted_mean > 10 * abs(mean)


def test_seed_makes_the_subsets_reproducible():
  rng = np.random.default_rng(3)
  real, fake = rng.standard_normal((100, 8)), rng.standard_normal((80, 8))
  first = kid_from_features(real, fake, num_subsets=5, subset_size=30, seed=7)
  assert kid_from_features(real, fake, num_subsets=5, subset_size=30,
                           seed=7) == first
  assert kid_from_features(real, fake, num_subsets=5, subset_size=30,
                           seed=8) != first


def test_float32_input_is_computed_in_float64():
  rng = np.random.default_rng(4)
  real = rng.uniform(0, 3, (10, 6)).astype(np.float32)
  fake = rng.uniform(0, 3, (10, 6)).astype(np.float32)
  mean, _ = kid_from_features(real, fake, num_subsets=1)
  want = loop_mmd2(fake.astype(np.float64), real.astype(np.float64))
  assert mean == pytest.approx(want, rel=1e-12)


def test_bad_inputs_are_refused():
  with pytest.raises(ValueError, match="dimensions"):
    kid_from_features(np.ones((5, 2)), np.ones((5, 3)))
  with pytest.raises(ValueError, match="at least 2"):
    kid_from_features(np.ones((1, 2)), np.ones((5, 2)))
  with pytest.raises(ValueError, match="num_subsets"):
    kid_from_features(np.ones((5, 2)), np.ones((5, 2)), num_subsets=0)

"""Fréchet distance against closed forms and the pytorch-fid sqrtm formula."""

import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group

from cnnjax.metrics import (feature_statistics, fid_from_features,
                            frechet_distance)


def sqrtm_frechet_distance(mu1, sigma1, mu2, sigma2):
  """The pytorch-fid formula: sqrtm of the non-symmetric product S1 S2."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # sqrtm warns on singular products
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  diff = mu1 - mu2
  return (diff @ diff + np.trace(sigma1) + np.trace(sigma2) -
          2 * np.trace(np.real(covmean)))


def random_spd(rng, dim, floor):
  factor = rng.standard_normal((dim, dim))
  return factor @ factor.T / dim + floor * np.eye(dim)


def test_one_dimensional_gaussians():
  # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2.
  got = frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]])
  assert got == pytest.approx(3.0**2 + (2.0 - 3.0)**2, rel=1e-14)


def test_equal_covariances_leave_the_mean_term():
  rng = np.random.default_rng(0)
  sigma = random_spd(rng, 32, 0.1)
  mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
  want = np.sum((mu1 - mu2)**2)
  assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(want,
                                                                   rel=1e-12)


def test_diagonal_covariances_closed_form():
  rng = np.random.default_rng(1)
  a, b = rng.uniform(0.01, 3, 20), rng.uniform(0.01, 3, 20)
  mu1, mu2 = rng.standard_normal(20), rng.standard_normal(20)
  want = np.sum((mu1 - mu2)**2) + np.sum((np.sqrt(a) - np.sqrt(b))**2)
  got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("num_zero,rel", [(0, 1e-10), (5, 1e-6)])
def test_commuting_covariances_closed_form(num_zero, rel):
  # Same eigenvectors: the distance is that of the eigenvalue spectra. With
  # zero eigenvalues, rounding the matrices to float64 already moves them by
  # ~1e-16, and their square roots by ~1e-8: the problem's own sensitivity.
  rng = np.random.default_rng(2)
  rotation = ortho_group.rvs(24, random_state=3)
  a, b = rng.uniform(0.01, 3, 24), rng.uniform(0.01, 3, 24)
  b[:num_zero] = 0.0
  sigma1 = rotation @ np.diag(a) @ rotation.T
  sigma2 = rotation @ np.diag(b) @ rotation.T
  mu1, mu2 = rng.standard_normal(24), rng.standard_normal(24)
  want = np.sum((mu1 - mu2)**2) + np.sum((np.sqrt(a) - np.sqrt(b))**2)
  got = frechet_distance(mu1, sigma1, mu2, sigma2)
  assert got == pytest.approx(want, rel=rel)


def test_non_commuting_two_by_two_closed_form():
  # For 2x2 A = S1 S2 with eigenvalues l1, l2 >= 0:
  # Tr(A^{1/2}) = sqrt(l1) + sqrt(l2) = sqrt(Tr A + 2 sqrt(det A)).
  sigma1 = np.array([[2.0, 0.7], [0.7, 1.0]])
  sigma2 = np.array([[0.5, -0.3], [-0.3, 3.0]])
  product = sigma1 @ sigma2
  trace_sqrt = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
  want = np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
  got = frechet_distance(np.zeros(2), sigma1, np.zeros(2), sigma2)
  assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("dim", [2, 16, 64, 200])
def test_matches_sqrtm_formula_on_well_conditioned_inputs(dim):
  rng = np.random.default_rng(dim)
  sigma1, sigma2 = random_spd(rng, dim, 0.5), random_spd(rng, dim, 0.05)
  mu1, mu2 = rng.standard_normal(dim), 0.3 * rng.standard_normal(dim)
  want = sqrtm_frechet_distance(mu1, sigma1, mu2, sigma2)
  got = frechet_distance(mu1, sigma1, mu2, sigma2)
  assert isinstance(got, float)
  assert got == pytest.approx(want, rel=1e-6)
  # It is a distance: symmetric in its arguments.
  assert frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(got,
                                                                     rel=1e-10)


@pytest.mark.parametrize("num_samples,dim", [(10, 64), (40, 64), (65, 128)])
def test_rank_deficient_covariances_stay_finite_and_close_to_sqrtm(
    num_samples, dim):
  rng = np.random.default_rng(num_samples)
  real = rng.standard_normal((num_samples, dim))
  fake = 1.5 * rng.standard_normal((num_samples, dim)) + 0.2
  stats = (*feature_statistics(real), *feature_statistics(fake))
  got = frechet_distance(*stats)
  assert np.isfinite(got) and got >= 0
  want = sqrtm_frechet_distance(*stats)
  scale = np.trace(stats[1]) + np.trace(stats[3])
  if np.isfinite(want):
    assert abs(got - want) < 1e-6 * scale


def test_duplicated_features_give_a_finite_distance():
  # Duplicated feature columns: singular covariances even with many samples.
  rng = np.random.default_rng(4)
  base_real, base_fake = rng.standard_normal((500, 8)), rng.standard_normal(
      (500, 8)) + 1
  real = np.concatenate([base_real, base_real, base_real[:, :3]], axis=1)
  fake = np.concatenate([base_fake, base_fake, base_fake[:, :3]], axis=1)
  got = fid_from_features(real, fake)
  want = sqrtm_frechet_distance(*feature_statistics(real),
                                *feature_statistics(fake))
  assert np.isfinite(got) and got > 0
  assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("num_samples", [20, 500])
def test_identical_features_give_zero(num_samples):
  # 20 samples in 64 dims is rank-deficient: sqrtm gives ~ -1e-6 there.
  features = np.random.default_rng(5).gamma(1.0, size=(num_samples, 64))
  mean, sigma = feature_statistics(features)
  assert fid_from_features(features, features) < 1e-10 * np.trace(sigma)
  # Reordered samples give a covariance equal only up to rounding.
  shuffled = features[::-1].copy()
  assert fid_from_features(features, shuffled) < 1e-6 * np.trace(sigma)


def test_fid_from_features_is_frechet_distance_of_the_statistics():
  rng = np.random.default_rng(6)
  real, fake = rng.standard_normal((200, 10)), rng.uniform(size=(150, 10))
  want = frechet_distance(np.mean(real, 0), np.cov(real, rowvar=False),
                          np.mean(fake, 0), np.cov(fake, rowvar=False))
  assert fid_from_features(real, fake) == pytest.approx(want, rel=1e-12)


def test_bad_statistics_are_refused():
  with pytest.raises(ValueError, match="dimensions"):
    frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(ValueError, match="covariance"):
    frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
  with pytest.raises(ValueError, match="NaN"):
    frechet_distance(np.array([0.0, np.nan]), np.eye(2), np.zeros(2),
                     np.eye(2))

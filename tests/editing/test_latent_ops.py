"""Latent edit math against closed forms and independent numpy computations."""

import jax
import numpy as np
import pytest
from scipy.stats import ortho_group

from cnnjax.editing.latent_ops import (apply_direction, fit_direction, lerp,
                                       pca_directions, sefa_directions, slerp)


def sign_aligned(rows, reference):
  """rows with each flipped to agree in sign with the matching reference row."""
  signs = np.sign(np.sum(rows * reference, axis=1, keepdims=True))
  return rows * signs


def test_lerp_endpoints_midpoint_and_shapes():
  rng = np.random.default_rng(0)
  a, b = rng.standard_normal((2, 4, 6)).astype(np.float32)
  got = np.asarray(lerp(a, b, np.array([0.0, 0.5, 1.0])))
  assert got.shape == (4, 3, 6)
  np.testing.assert_array_equal(got[:, 0], a)
  np.testing.assert_array_equal(got[:, 2], b)
  np.testing.assert_allclose(got[:, 1], (a + b) / 2, rtol=1e-6)
  assert lerp(a[0], b[0], np.linspace(0, 1, 5)).shape == (5, 6)


def test_slerp_of_orthogonal_unit_vectors():
  a, b = np.eye(8, dtype=np.float32)[:2]
  got = np.asarray(slerp(a, b, np.array([0.0, 0.5, 1.0])))
  np.testing.assert_array_equal(got[0], a)
  np.testing.assert_array_equal(got[2], b)
  np.testing.assert_allclose(got[1], (a + b) / np.sqrt(2), atol=1e-7)


def test_slerp_walks_the_great_circle_at_constant_speed():
  # In a plane, equal-norm a and b at angles alpha and beta: slerp(t) is
  # at angle alpha + t (beta - alpha) with the same norm. A random rotation
  # puts that plane anywhere in 32 dimensions.
  rotation = ortho_group.rvs(32, random_state=1)
  alpha, beta, radius = 0.3, 2.2, 5.5
  ts = np.linspace(0, 1, 9)

  def point(angle):
    planar = np.zeros(32)
    planar[:2] = radius * np.cos(angle), radius * np.sin(angle)
    return rotation @ planar

  want = np.stack([point(alpha + t * (beta - alpha)) for t in ts])
  got = np.asarray(slerp(point(alpha).astype(np.float32),
                         point(beta).astype(np.float32), ts))
  np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), radius, rtol=1e-6)


def test_slerp_batches_and_keeps_gaussian_norms():
  rng = np.random.default_rng(2)
  a = rng.standard_normal((3, 64)).astype(np.float32)
  b = rng.standard_normal((3, 64)).astype(np.float32)
  b *= np.linalg.norm(a, axis=1, keepdims=True) / np.linalg.norm(
      b, axis=1, keepdims=True)
  ts = np.linspace(0, 1, 7)
  got = np.asarray(jax.jit(slerp)(a, b, ts))
  assert got.shape == (3, 7, 64)
  np.testing.assert_allclose(np.linalg.norm(got, axis=2),
                             np.repeat(np.linalg.norm(a, axis=1)[:, None], 7,
                                       axis=1), rtol=1e-5)
  for i in range(3):  # each row of the batch on its own
    np.testing.assert_allclose(got[i], slerp(a[i], b[i], ts), atol=1e-6)


@pytest.mark.parametrize("other", ["scaled", "nearly_parallel", "opposite",
                                   "zero"])
def test_slerp_falls_back_to_lerp_where_the_circle_is_undefined(other):
  a = np.random.default_rng(3).standard_normal(16).astype(np.float32)
  b = {"scaled": 2.5 * a,
       "nearly_parallel": a + 1e-6 * np.linalg.norm(a) * np.eye(16)[0],
       "opposite": -0.7 * a,
       "zero": np.zeros_like(a)}[other].astype(np.float32)
  ts = np.linspace(0, 1, 5)
  got = np.asarray(slerp(a, b, ts))
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, lerp(a, b, ts), rtol=1e-6, atol=1e-6)


def test_apply_direction_shapes_and_values():
  rng = np.random.default_rng(4)
  latents = rng.standard_normal((3, 5)).astype(np.float32)
  direction = rng.standard_normal(5).astype(np.float32)
  strengths = np.array([-2.0, 0.0, 1.5], np.float32)
  got = np.asarray(apply_direction(latents, direction, strengths))
  assert got.shape == (3, 3, 5)
  for i in range(3):
    for j in range(3):
      np.testing.assert_allclose(got[i, j],
                                 latents[i] + strengths[j] * direction,
                                 rtol=1e-6)
  np.testing.assert_array_equal(got[:, 1], latents)


def test_fit_direction_recovers_a_separating_normal():
  rng = np.random.default_rng(5)
  normal = rng.standard_normal(16)
  normal /= np.linalg.norm(normal)
  latents = rng.standard_normal((4000, 16))
  margin = latents @ normal - 0.3
  keep = np.abs(margin) > 0.2  # a margin: linearly separable with room
  latents, positive = latents[keep], margin[keep] > 0
  direction, offset, accuracy = fit_direction(latents, positive)
  assert direction.shape == (16,)
  assert np.linalg.norm(direction) == pytest.approx(1.0, abs=1e-12)
  assert direction @ normal > 0.98  # and so points to the positive side
  assert offset == pytest.approx(-0.3, abs=0.05)
  assert accuracy == 1.0
  # The boundary it reports classifies like the true one.
  np.testing.assert_array_equal(latents @ direction + offset > 0, positive)
  # Deterministic: the same fit twice.
  again = fit_direction(latents, positive)
  np.testing.assert_array_equal(again[0], direction)


def test_fit_direction_needs_both_classes():
  with pytest.raises(ValueError, match="both"):
    fit_direction(np.zeros((4, 2)), np.ones(4, bool))


def official_sefa(kernel):
  """genforce/sefa's factorize_weight on a PyTorch weight [out, d]."""
  weight = kernel.T  # nnx kernel [d, out] -> PyTorch Linear weight [out, d]
  weight = weight.T  # factorize_weight's `.style.weight.T`: [d, out]
  weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
  eigenvalues, eigenvectors = np.linalg.eig(weight.dot(weight.T))
  order = np.argsort(eigenvalues.real)[::-1]
  return eigenvalues.real[order], eigenvectors.real.T[order]


def test_sefa_matches_the_official_factorisation():
  rng = np.random.default_rng(6)
  # Output units with weights of very different scales: without SeFa's
  # normalisation the big ones would decide the directions alone.
  kernel = rng.standard_normal((12, 40)) * rng.uniform(0.1, 10, (1, 40))
  want_values, want_vectors = official_sefa(kernel)
  values, directions = sefa_directions(kernel)
  np.testing.assert_allclose(values, want_values, rtol=1e-10)
  np.testing.assert_allclose(sign_aligned(directions, want_vectors),
                             want_vectors, atol=1e-10)
  np.testing.assert_allclose(directions @ directions.T, np.eye(12), atol=1e-12)
  # Largest-magnitude component positive, and k keeps the leading ones.
  rows = np.arange(12)
  assert np.all(directions[rows, np.argmax(np.abs(directions), 1)] > 0)
  top_values, top = sefa_directions(kernel.astype(np.float32), k=3)
  np.testing.assert_allclose(top_values, values[:3], rtol=1e-5)
  np.testing.assert_allclose(top, directions[:3], atol=1e-5)


def test_sefa_top_direction_moves_the_normalised_layer_most():
  rng = np.random.default_rng(7)
  kernel = rng.standard_normal((10, 30))
  normalised = kernel / np.linalg.norm(kernel, axis=0, keepdims=True)
  values, directions = sefa_directions(kernel)
  # Each eigenvalue is the squared output change of a unit move along it ...
  np.testing.assert_allclose(np.sum((directions @ normalised)**2, axis=1),
                             values, rtol=1e-10)
  # ... and no unit move changes the output more than the first.
  moves = rng.standard_normal((2000, 10))
  moves /= np.linalg.norm(moves, axis=1, keepdims=True)
  assert np.max(np.sum((moves @ normalised)**2, axis=1)) <= values[0]


def whitened_latents(rng, num, dim):
  """Centred latents whose sample covariance is exactly the identity."""
  raw = rng.standard_normal((num, dim))
  q, _ = np.linalg.qr(raw - raw.mean(axis=0))
  return q * np.sqrt(num - 1)


@pytest.mark.parametrize("k", [3, 8])
def test_pca_directions_of_a_linear_layer_on_white_latents(k):
  # y = z M + c with z white: the activations' principal axes are M's right
  # singular vectors v_i (variances s_i^2), and the latent move that makes
  # y move along v_i is M's left singular vector u_i.
  rng = np.random.default_rng(8)
  latents = whitened_latents(rng, 300, 8)
  layer = rng.standard_normal((8, 20))
  activations = latents @ layer + rng.standard_normal(20)
  left, singular_values, _ = np.linalg.svd(layer, full_matrices=False)
  directions, ratio = pca_directions(latents, activations.reshape(300, 4, 5), k)
  assert directions.shape == (k, 8) and ratio.shape == (k,)
  want = left.T[:k]
  np.testing.assert_allclose(sign_aligned(directions, want), want, atol=1e-8)
  np.testing.assert_allclose(ratio, (singular_values**2 /
                                     np.sum(singular_values**2))[:k],
                             rtol=1e-8)
  rows = np.arange(k)
  assert np.all(directions[rows, np.argmax(np.abs(directions), 1)] > 0)


def test_pca_directions_each_move_one_principal_component():
  # Gaussian (not whitened) latents and a rank-deficient view: moving z
  # along direction i changes the activations' coordinate on principal
  # axis i (from numpy's SVD here) and on no other axis.
  rng = np.random.default_rng(9)
  latents = rng.standard_normal((500, 6)) * rng.uniform(0.5, 2, 6)
  layer = rng.standard_normal((6, 30))
  activations = latents @ layer
  _, _, right = np.linalg.svd(activations - activations.mean(axis=0),
                              full_matrices=False)
  directions, _ = pca_directions(latents, activations, 4)
  np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
  coordinates = directions @ layer @ right[:4].T  # [direction, axis]
  diagonal = np.abs(np.diag(coordinates))
  off_diagonal = coordinates - np.diag(np.diag(coordinates))
  assert np.all(diagonal > 0.1)
  np.testing.assert_allclose(off_diagonal, 0.0, atol=1e-9 * diagonal.max())

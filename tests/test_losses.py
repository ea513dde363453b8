"""GAN losses against hand-computed values."""

import math

import jax.numpy as jnp
import numpy as np

from cnnjax import losses


def test_non_saturating_at_zero_logits_is_log_two():
  zero = jnp.zeros(5)
  assert np.isclose(losses.non_saturating_discriminator(zero, zero),
                    2 * math.log(2))
  assert np.isclose(losses.non_saturating_generator(zero), math.log(2))


def test_non_saturating_against_binary_cross_entropy():
  real = np.array([2.0, -1.0, 0.5])
  fake = np.array([-3.0, 0.1])
  sigmoid = lambda x: 1 / (1 + np.exp(-x))
  want_d = (-np.mean(np.log(sigmoid(real))) -
            np.mean(np.log(1 - sigmoid(fake))))
  want_g = -np.mean(np.log(sigmoid(fake)))
  assert np.isclose(losses.non_saturating_discriminator(real, fake), want_d,
                    rtol=1e-6)
  assert np.isclose(losses.non_saturating_generator(fake), want_g, rtol=1e-6)


def test_large_logits_stay_finite():
  big = jnp.array([1e4, -1e4])
  assert np.isfinite(losses.non_saturating_discriminator(big, big))
  assert np.isfinite(losses.non_saturating_generator(big))


def test_hinge_against_hand_values():
  real = jnp.array([2.0, 0.5, -1.0])  # relu(1 - r): 0, 0.5, 2
  fake = jnp.array([-2.0, 0.0])  # relu(1 + f): 0, 1
  assert np.isclose(losses.hinge_discriminator(real, fake), 2.5 / 3 + 0.5)
  assert np.isclose(losses.hinge_generator(fake), 1.0)


def test_wasserstein_signs():
  real, fake = jnp.array([3.0, 1.0]), jnp.array([-1.0, 0.0])
  assert np.isclose(losses.wasserstein_discriminator(real, fake), -0.5 - 2.0)
  assert np.isclose(losses.wasserstein_generator(fake), 0.5)


def test_least_squares_against_hand_values():
  real, fake = jnp.array([1.0, 0.0]), jnp.array([0.0, 2.0])
  # 1/2 [mean((r-1)^2) + mean(f^2)] = 1/2 [0.5 + 2]
  assert np.isclose(losses.least_squares_discriminator(real, fake), 1.25)
  # 1/2 mean((f-1)^2) = 1/2 * 1
  assert np.isclose(losses.least_squares_generator(fake), 0.5)


def test_registry_pairs():
  assert set(losses.LOSSES) == {"non_saturating", "hinge", "wasserstein",
                                "least_squares"}

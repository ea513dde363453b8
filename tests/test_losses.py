"""GAN losses against hand-computed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_hinge_is_flat_beyond_the_margin():
  # Confident logits (real >= 1, fake <= -1) give D neither loss nor gradient.
  real, fake = jnp.array([1.0, 3.0]), jnp.array([-1.0, -4.0])
  assert losses.hinge_discriminator(real, fake) == 0.0
  d_real, d_fake = jax.grad(losses.hinge_discriminator, argnums=(0, 1))(
      real + 0.1, fake - 0.1)
  assert not np.any(d_real) and not np.any(d_fake)
  # Inside the margin each logit pulls with slope 1 / batch.
  d_real, d_fake = jax.grad(losses.hinge_discriminator, argnums=(0, 1))(
      jnp.zeros(4), jnp.zeros(2))
  np.testing.assert_allclose(d_real, -0.25)
  np.testing.assert_allclose(d_fake, 0.5)


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


def test_against_numpy_on_random_logits():
  rng = np.random.RandomState(0)
  real, fake = rng.normal(size=7) * 2, rng.normal(size=5) * 2
  want = {
      "hinge": (np.mean(np.maximum(0, 1 - real)) +
                np.mean(np.maximum(0, 1 + fake)), -np.mean(fake)),
      "wasserstein": (np.mean(fake) - np.mean(real), -np.mean(fake)),
      "least_squares": (0.5 * np.mean((real - 1) ** 2) +
                        0.5 * np.mean(fake**2),
                        0.5 * np.mean((fake - 1) ** 2)),
  }
  for name, (want_d, want_g) in want.items():
    d_loss, g_loss = losses.LOSSES[name]
    assert np.isclose(d_loss(real, fake), want_d, rtol=1e-5), name
    assert np.isclose(g_loss(fake), want_g, rtol=1e-5), name


def test_least_squares_optimum():
  # D's optimum for p_data = p_g is 1/2 everywhere (a = 0, b = 1), where its
  # loss is 1/2 (1/4 + 1/4) = 1/4 (Mao et al. 2017, eq. 3 with a + b = 1).
  half = jnp.full(3, 0.5)
  assert np.isclose(losses.least_squares_discriminator(half, half), 0.25)
  assert losses.least_squares_generator(jnp.ones(3)) == 0.0


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_losses_are_batch_means(name):
  """Repeating the batch leaves every loss unchanged: they are means, so the
  gradient scale does not depend on the batch size."""
  d_loss, g_loss = losses.LOSSES[name]
  real, fake = jnp.array([0.3, -1.2, 2.0]), jnp.array([-0.4, 1.5])
  twice = lambda x: jnp.concatenate([x, x])
  assert d_loss(real, fake).shape == () and g_loss(fake).shape == ()
  assert np.isclose(d_loss(twice(real), twice(fake)), d_loss(real, fake))
  assert np.isclose(g_loss(twice(fake)), g_loss(fake))


def test_registry_pairs():
  assert set(losses.LOSSES) == {"non_saturating", "hinge", "wasserstein",
                                "least_squares"}

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

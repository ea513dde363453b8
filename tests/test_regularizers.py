"""Gradient penalty and R1 against discriminators whose input gradient is
known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from cnnjax import regularizers


def _batches(seed=0, shape=(5, 4, 4, 2)):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  return jax.random.normal(k1, shape), jax.random.normal(k2, shape)


def _linear(w):
  """D(x) = <w, x>: the gradient is w everywhere."""
  return lambda x: jnp.sum(x * w, axis=(1, 2, 3))


def test_penalties_on_a_linear_discriminator():
  real, fake = _batches()
  w = jax.random.normal(jax.random.PRNGKey(3), real.shape[1:]) * 0.3
  norm = float(jnp.linalg.norm(w))
  gp = regularizers.gradient_penalty(_linear(w), real, fake,
                                     jax.random.PRNGKey(7))
  assert np.isclose(gp, (norm - 1) ** 2, rtol=1e-5)
  assert np.isclose(regularizers.r1_penalty(_linear(w), real), norm**2,
                    rtol=1e-5)
  # Differentiable in D's parameters: closed-form gradients in w.
  gp_grad = jax.grad(lambda w: regularizers.gradient_penalty(
      _linear(w), real, fake, jax.random.PRNGKey(7)))(w)
  np.testing.assert_allclose(gp_grad, 2 * (norm - 1) * w / norm, rtol=1e-4,
                             atol=1e-6)
  r1_grad = jax.grad(lambda w: regularizers.r1_penalty(_linear(w), real))(w)
  np.testing.assert_allclose(r1_grad, 2 * w, rtol=1e-5, atol=1e-6)


def test_penalties_on_a_quadratic_discriminator():
  """D(x) = 1/2 ||x||^2 per sample: the gradient is x itself."""
  real, fake = _batches(1)
  d_fn = lambda x: 0.5 * jnp.sum(x**2, axis=(1, 2, 3))
  real_np, fake_np = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  r1_want = np.mean(np.sum(real_np.reshape(5, -1) ** 2, axis=1))
  assert np.isclose(regularizers.r1_penalty(d_fn, real), r1_want, rtol=1e-5)
  key = jax.random.PRNGKey(11)
  eps = np.asarray(jax.random.uniform(key, (5, 1, 1, 1)), np.float64)
  mixed = eps * real_np + (1 - eps) * fake_np
  gp_want = np.mean((np.linalg.norm(mixed.reshape(5, -1), axis=1) - 1) ** 2)
  assert np.isclose(regularizers.gradient_penalty(d_fn, real, fake, key),
                    gp_want, rtol=1e-5)


def test_gradient_penalty_vanishes_on_a_unit_gradient_critic():
  real, fake = _batches(2)
  w = jax.random.normal(jax.random.PRNGKey(4), real.shape[1:])
  w = w / jnp.linalg.norm(w)
  key = jax.random.PRNGKey(0)
  assert np.isclose(regularizers.gradient_penalty(_linear(w), real, fake, key),
                    0.0, atol=1e-10)
  grad = jax.grad(lambda w: regularizers.gradient_penalty(
      _linear(w), real, fake, key))(w)
  np.testing.assert_allclose(grad, 0.0, atol=1e-5)


def test_r1_gradient_in_a_quadratic_discriminator_scale():
  """D(x) = a/2 ||x||^2: R1 = a^2 E||x||^2, so dR1/da = 2 a E||x||^2."""
  real, _ = _batches(3)
  mean_sq = float(jnp.mean(jnp.sum(real**2, axis=(1, 2, 3))))
  r1 = lambda a: regularizers.r1_penalty(
      lambda x: 0.5 * a * jnp.sum(x**2, axis=(1, 2, 3)), real)
  assert np.isclose(r1(1.5), 2.25 * mean_sq, rtol=1e-5)
  assert np.isclose(jax.grad(r1)(1.5), 3.0 * mean_sq, rtol=1e-5)


def test_batch_coupled_critic_gets_the_gradient_of_the_sum():
  """The documented caveat: D(x_i) = <w, x_i - mean_j x_j> sums to 0 over
  the batch, so the penalties see a zero gradient, not each sample's own
  (1 - 1/B) w. Critics used with these penalties must not couple samples."""
  real, fake = _batches(4)
  w = jax.random.normal(jax.random.PRNGKey(5), real.shape[1:])
  centred = lambda x: _linear(w)(x - jnp.mean(x, axis=0, keepdims=True))
  assert np.isclose(regularizers.r1_penalty(centred, real), 0.0, atol=1e-8)
  assert np.isclose(regularizers.gradient_penalty(
      centred, real, fake, jax.random.PRNGKey(0)), 1.0, atol=1e-5)


def test_penalties_jitted_on_a_sharded_batch_match_unsharded():
  mesh = jax.make_mesh((8,), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))
  real, fake = _batches(5, shape=(16, 4, 4, 2))
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  d_fn = lambda x: jnp.sum(jnp.tanh(x) ** 2, axis=(1, 2, 3))
  key = jax.random.PRNGKey(2)
  both = lambda r, f: (regularizers.gradient_penalty(d_fn, r, f, key),
                       regularizers.r1_penalty(d_fn, r))
  sharded = jax.jit(both)(jax.device_put(real, sharding),
                          jax.device_put(fake, sharding))
  np.testing.assert_allclose(sharded, both(real, fake), rtol=1e-5)


def test_lazy_regularization_correction():
  lr, b1, b2 = regularizers.lazy_regularization_adam(2e-3, 0.0, 0.99, 16)
  c = 16 / 17
  assert np.isclose(lr, 2e-3 * c) and b1 == 0.0 and np.isclose(b2, 0.99**c)
  assert regularizers.lazy_regularization_adam(1.0, 0.5, 0.9, 1) == (
      0.5, 0.5**0.5, 0.9**0.5)

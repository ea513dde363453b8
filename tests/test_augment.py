"""DiffAugment: per-sample transforms, shared keys, gradients, sharding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec
from jax.test_util import check_grads

from cnnjax import augment

POLICY = "color,translation,cutout"


def _images(seed=0, batch=8, size=16, channels=3):
  return jax.random.uniform(jax.random.PRNGKey(seed),
                            (batch, size, size, channels), minval=-1, maxval=1)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", POLICY])
def test_shape_dtype_and_per_sample_randomness(policy):
  constant = jnp.full((8, 16, 16, 3), 0.5)
  out = augment.diff_augment(constant, jax.random.PRNGKey(0), policy)
  assert out.shape == constant.shape and out.dtype == constant.dtype
  # The same input image comes out differently in different samples.
  flat = np.asarray(out).reshape(8, -1)
  assert len({row.tobytes() for row in flat}) > 1


def test_translation_moves_content_and_fills_zero():
  image = jnp.zeros((1, 16, 16, 1)).at[0, 8, 8, 0].set(1.0)
  out = np.asarray(augment.translation(image, jax.random.PRNGKey(5)))
  assert out.sum() == 1.0  # the dot moved (by at most 2 px), nothing else
  y, x = np.argwhere(out[0, :, :, 0])[0]
  assert abs(y - 8) <= 2 and abs(x - 8) <= 2


def test_cutout_zeroes_a_square_of_half_the_size():
  ones = jnp.ones((16, 16, 16, 1))
  out = np.asarray(augment.cutout(ones, jax.random.PRNGKey(2)))
  zeros = (out == 0).reshape(16, -1).sum(axis=1)
  assert zeros.max() == 64 and (zeros <= 64).all() and (zeros > 0).all()


def test_same_key_same_transform_per_sample():
  a, b = _images(0), _images(1)
  key = jax.random.PRNGKey(9)
  # Translation and cutout are linear, so augmenting a - b equals the
  # difference of the augmented batches when the parameters are shared.
  for policy in ("translation", "cutout", "translation,cutout"):
    lhs = augment.diff_augment(a, key, policy) - augment.diff_augment(b, key, policy)
    np.testing.assert_allclose(lhs, augment.diff_augment(a - b, key, policy),
                               atol=1e-5)


def test_gradients_pass_and_match_finite_differences():
  images = _images(2, batch=2, size=8)
  key = jax.random.PRNGKey(4)
  f = lambda x: augment.diff_augment(x, key, POLICY)
  grad = jax.grad(lambda x: jnp.sum(f(x) * jnp.arange(x.size).reshape(x.shape)))(images)
  assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
  check_grads(f, (images,), order=1, modes=("rev",), atol=1e-2, rtol=1e-2)


def test_probability_zero_is_identity_and_one_is_always():
  images = _images(3)
  key = jax.random.PRNGKey(1)
  np.testing.assert_array_equal(
      augment.diff_augment(images, key, POLICY, jnp.float32(0.0)), images)
  np.testing.assert_allclose(
      augment.diff_augment(images, key, POLICY, jnp.float32(1.0)),
      augment.diff_augment(images, key, POLICY), atol=1e-6)


def test_sharded_matches_unsharded():
  mesh = jax.make_mesh((8,), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))
  images = _images(4, batch=16)
  sharded = jax.device_put(images, NamedSharding(mesh, PartitionSpec("data")))
  f = jax.jit(lambda x: augment.diff_augment(x, jax.random.PRNGKey(0), POLICY,
                                             jnp.float32(0.5)))
  np.testing.assert_allclose(f(sharded), f(images), atol=1e-6)


def test_ada_update_moves_towards_target():
  kwargs = dict(target=0.6, batch_size=64, adjust_kimg=500)
  up = augment.ada_update(jnp.float32(0.2), jnp.float32(0.9), **kwargs)
  down = augment.ada_update(jnp.float32(0.2), jnp.float32(0.1), **kwargs)
  assert np.isclose(up, 0.2 + 64 / 500_000) and np.isclose(down, 0.2 - 64 / 500_000)
  assert augment.ada_update(jnp.float32(0.0), jnp.float32(0.0), **kwargs) == 0.0
  assert augment.ada_update(jnp.float32(1.0), jnp.float32(1.0), **kwargs) == 1.0

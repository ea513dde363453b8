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


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", POLICY])
@pytest.mark.parametrize("probability", [1.0, 0.5])
def test_same_key_same_transform_per_sample(policy, probability):
  """Every transform is affine in the images for fixed parameters, so with
  shared parameters f(a) - f(b) = f(a - b) - f(0); a different key breaks it."""
  a, b = _images(0), _images(1)
  f = lambda x, key: augment.diff_augment(x, key, policy,
                                          jnp.float32(probability))
  key = jax.random.PRNGKey(9)
  zero = f(jnp.zeros_like(a), key)
  np.testing.assert_allclose(f(a, key) - f(b, key), f(a - b, key) - zero,
                             atol=1e-5)
  other = f(a, key) - f(b, jax.random.PRNGKey(10))
  assert not np.allclose(other, f(a - b, key) - zero, atol=1e-3)


def test_translation_gradient_is_the_opposite_shift():
  """The adjoint of "out[i, j] = x[i - ty, j - tx], 0 outside" is the
  opposite shift: d sum(out * r) / dx[p, q] = r[p + ty, q + tx], 0 outside."""
  batch, size, reach = 8, 16, 2  # round(16 / 8) = 2
  key = jax.random.PRNGKey(6)
  translate = lambda x: augment.diff_augment(x, key, "translation")
  # Each sample's shift, read off where a centred dot lands.
  dot = jnp.zeros((batch, size, size, 1)).at[:, 8, 8, 0].set(1.0)
  shifts = [np.argwhere(m[..., 0])[0] - 8 for m in np.asarray(translate(dot))]
  assert all(np.abs(s).max() <= reach for s in shifts)
  assert len({tuple(s) for s in shifts}) > 1
  weights = np.random.RandomState(0).normal(size=(batch, size, size, 2))
  images = _images(5, batch=batch, size=size, channels=2)
  grad = jax.grad(lambda x: jnp.sum(translate(x) * weights))(images)
  want = np.zeros_like(weights)
  for b, (ty, tx) in enumerate(shifts):
    padded = np.pad(weights[b], ((reach, reach), (reach, reach), (0, 0)))
    y, x = reach + ty, reach + tx
    want[b] = padded[y:y + size, x:x + size]
  np.testing.assert_allclose(grad, want, atol=1e-6)
  check_grads(translate, (images,), order=1, modes=("rev",))


def test_bfloat16_stays_bfloat16():
  images = _images(6).astype(jnp.bfloat16)
  for policy in ("color", "translation", "cutout", POLICY):
    out = augment.diff_augment(images, jax.random.PRNGKey(0), policy, 0.5)
    assert out.dtype == jnp.bfloat16, policy


def test_probability_is_a_per_sample_coin():
  images = _images(7, batch=64)
  out = augment.diff_augment(images, jax.random.PRNGKey(3), "color",
                             jnp.float32(0.5))
  # Brightness alone changes every augmented sample; untouched ones are exact.
  untouched = np.all(np.asarray(out) == np.asarray(images), axis=(1, 2, 3))
  assert 16 < untouched.sum() < 48


def test_unknown_transform_is_refused():
  with pytest.raises(ValueError, match="flip"):
    augment.diff_augment(_images(), jax.random.PRNGKey(0), "color,flip")


def test_gradients_pass_and_match_finite_differences():
  images = _images(2, batch=2, size=8)
  key = jax.random.PRNGKey(4)
  f = lambda x: augment.diff_augment(x, key, POLICY)
  weights = jnp.arange(images.size).reshape(images.shape)
  grad = jax.grad(lambda x: jnp.sum(f(x) * weights))(images)
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
  f = lambda x: augment.diff_augment(x, jax.random.PRNGKey(0), POLICY,
                                     jnp.float32(0.5))
  out = jax.jit(f)(sharded)
  assert out.sharding.is_equivalent_to(sharded.sharding, out.ndim)
  np.testing.assert_allclose(out, f(images), atol=1e-5)


def test_ada_update_moves_towards_target():
  kwargs = dict(target=0.6, batch_size=64, adjust_kimg=500, interval=1)
  up = augment.ada_update(jnp.float32(0.2), jnp.float32(0.9), **kwargs)
  down = augment.ada_update(jnp.float32(0.2), jnp.float32(0.1), **kwargs)
  assert np.isclose(up, 0.2 + 64 / 500_000)
  assert np.isclose(down, 0.2 - 64 / 500_000)
  assert augment.ada_update(jnp.float32(0.0), jnp.float32(0.0), **kwargs) == 0.0
  assert augment.ada_update(jnp.float32(1.0), jnp.float32(1.0), **kwargs) == 1.0
  # The paper's defaults (target 0.6, 500 kimg) and its every-4-steps interval.
  assert np.isclose(augment.ada_update(jnp.float32(0.5), jnp.float32(0.7),
                                       batch_size=64), 0.5 + 4 * 64 / 500_000)
  assert np.isclose(augment.ada_update(jnp.float32(0.5), jnp.float32(0.5),
                                       batch_size=64), 0.5 - 4 * 64 / 500_000)

"""Differentiable augmentation for the discriminator: DiffAugment and ADA.

DiffAugment (Zhao et al. 2020) augments every image D sees, real and fake,
with transforms that gradients pass through, so G is trained through them.
Each transform draws its parameters per sample from the key, so calling it
with the same key on two batches of the same size applies the same
transform to sample i of both (how the step makes real and fake share
augmentations when configured). Conventions follow the reference code for
images in [-1, 1]: translated-in and cut-out pixels are 0 (mid-grey).

ADA (Karras et al. 2020) applies each transform to a sample with probability
p and adapts p from how sure D is on real images.
"""

import jax
import jax.numpy as jnp

TRANSLATION_RATIO = 1 / 8  # largest shift, as a fraction of the image size
CUTOUT_RATIO = 1 / 2  # side of the cut-out square, as a fraction of the size


def _per_sample(key, batch, low=0.0, high=1.0):
  return jax.random.uniform(key, (batch, 1, 1, 1), minval=low, maxval=high)


def color(images: jax.Array, key: jax.Array) -> jax.Array:
  """Random brightness, saturation and contrast per sample."""
  batch = images.shape[0]
  brightness, saturation, contrast = jax.random.split(key, 3)
  images = images + _per_sample(brightness, batch, -0.5, 0.5)
  mean = jnp.mean(images, axis=3, keepdims=True)
  images = (images - mean) * _per_sample(saturation, batch, 0.0, 2.0) + mean
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _per_sample(contrast, batch, 0.5, 1.5) + mean


def _shift_matrix(shifts: jax.Array, size: int) -> jax.Array:
  """[B, size, size] one-hot matrices with out[b, i, j] = (j == i - shift_b).

  Multiplying by them shifts rows with zero fill; unlike a gather there is
  no index clamping, and the gradient is the exact adjoint shift.
  """
  positions = jnp.arange(size)
  source = positions[None, :, None] - shifts[:, None, None]
  return (positions[None, None, :] == source).astype(jnp.float32)


def translation(images: jax.Array, key: jax.Array) -> jax.Array:
  """Shifts each sample by up to 1/8 of the size in y and x, zero fill."""
  batch, height, width, _ = images.shape
  key_y, key_x = jax.random.split(key)
  shift_y = int(height * TRANSLATION_RATIO + 0.5)
  shift_x = int(width * TRANSLATION_RATIO + 0.5)
  ty = jax.random.randint(key_y, (batch,), -shift_y, shift_y + 1)
  tx = jax.random.randint(key_x, (batch,), -shift_x, shift_x + 1)
  rows, cols = _shift_matrix(ty, height), _shift_matrix(tx, width)
  return jnp.einsum("bhy,bywc,bxw->bhxc", rows, images, cols)


def cutout(images: jax.Array, key: jax.Array) -> jax.Array:
  """Zeroes a random square of half the size in each sample (it may be
  partly outside the image)."""
  batch, height, width, _ = images.shape
  size_y = int(height * CUTOUT_RATIO + 0.5)
  size_x = int(width * CUTOUT_RATIO + 0.5)
  key_y, key_x = jax.random.split(key)
  top = jax.random.randint(key_y, (batch, 1), 0, height + (1 - size_y % 2))
  left = jax.random.randint(key_x, (batch, 1), 0, width + (1 - size_x % 2))
  top, left = top - size_y // 2, left - size_x // 2
  y, x = jnp.arange(height)[None, :], jnp.arange(width)[None, :]
  inside_y = (y >= top) & (y < top + size_y)
  inside_x = (x >= left) & (x < left + size_x)
  keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
  return images * keep[..., None].astype(images.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(images: jax.Array, key: jax.Array, policy: str,
                 probability: float | jax.Array = 1.0) -> jax.Array:
  """Applies the comma-separated transforms of `policy` in order.

  Each transform is applied to each sample with `probability` (a per-sample
  coin, ADA's scheme); 1 is DiffAugment's always-on default.
  """
  for index, name in enumerate(t for t in policy.split(",") if t):
    transform_key = jax.random.fold_in(key, index)
    augmented = TRANSFORMS[name](images, jax.random.fold_in(transform_key, 0))
    if isinstance(probability, (int, float)) and probability >= 1:
      images = augmented
      continue
    coin = jax.random.uniform(jax.random.fold_in(transform_key, 1),
                              (images.shape[0], 1, 1, 1))
    images = jnp.where(coin < probability, augmented, images)
  return images


def ada_update(p: jax.Array, real_sign_mean: jax.Array, *, target: float,
               batch_size: int, adjust_kimg: float,
               interval: int = 1) -> jax.Array:
  """ADA's rule: r_t = E[sign D(real)]; p moves by batch * interval /
  (adjust_kimg * 1000) towards more augmentation when r_t > target (D is
  overfitting) and less when below, clipped to [0, 1]."""
  step = batch_size * interval / (adjust_kimg * 1000.0)
  return jnp.clip(p + jnp.sign(real_sign_mean - target) * step, 0.0, 1.0)

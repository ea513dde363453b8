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


def _per_sample(key, images, low, high):
  """[B, 1, 1, 1] uniform draws in the images' dtype.

  Drawn in float32 and cast, so bfloat16 images stay bfloat16 (a float32
  factor would silently promote them) without coarse bfloat16 sampling.
  """
  draws = jax.random.uniform(key, (images.shape[0], 1, 1, 1), minval=low,
                             maxval=high)
  return draws.astype(images.dtype)


def color(images: jax.Array, key: jax.Array) -> jax.Array:
  """Per sample: brightness + U[-0.5, 0.5]; saturation x U[0, 2] around each
  pixel's channel mean; contrast x U[0.5, 1.5] around the image's mean."""
  brightness, saturation, contrast = jax.random.split(key, 3)
  images = images + _per_sample(brightness, images, -0.5, 0.5)
  mean = jnp.mean(images, axis=3, keepdims=True)
  images = (images - mean) * _per_sample(saturation, images, 0.0, 2.0) + mean
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _per_sample(contrast, images, 0.5, 1.5) + mean


def _shift_matrix(shifts: jax.Array, size: int, dtype) -> jax.Array:
  """[B, size, size] one-hot matrices with out[b, i, j] = (j == i - shift_b).

  Multiplying by them shifts rows with zero fill; unlike a gather there is
  no index clamping, the gradient is the exact adjoint (opposite) shift, and
  the batched matmul splits over a sharded batch like any other. It costs
  H + W multiply-adds per output value, small next to D's convolutions.
  """
  positions = jnp.arange(size)
  source = positions[None, :, None] - shifts[:, None, None]
  return (positions[None, None, :] == source).astype(dtype)


def translation(images: jax.Array, key: jax.Array) -> jax.Array:
  """Shifts each sample by a uniform integer in [-s, s] pixels in y and in x,
  s = round(size / 8); pixels shifted in are 0 (mid-grey in [-1, 1])."""
  batch, height, width, _ = images.shape
  key_y, key_x = jax.random.split(key)
  shift_y = int(height * TRANSLATION_RATIO + 0.5)
  shift_x = int(width * TRANSLATION_RATIO + 0.5)
  ty = jax.random.randint(key_y, (batch,), -shift_y, shift_y + 1)
  tx = jax.random.randint(key_x, (batch,), -shift_x, shift_x + 1)
  rows = _shift_matrix(ty, height, images.dtype)
  cols = _shift_matrix(tx, width, images.dtype)
  return jnp.einsum("bhy,bywc,bxw->bhxc", rows, images, cols)


def cutout(images: jax.Array, key: jax.Array) -> jax.Array:
  """Sets a square of half the size to 0 (mid-grey) in each sample.

  Its centre is uniform over the image, so it may be partly outside it, as
  in the reference code.
  """
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
  """Applies the comma-separated transforms of `policy` (a subset of
  TRANSFORMS, e.g. "color,translation,cutout") in order.

  Transform k of the policy draws its parameters from fold_in(key, k), per
  sample. Each transform is applied to each sample with `probability` (a
  per-sample coin per transform, ADA's scheme; it may be a traced scalar);
  1 is DiffAugment's always-on default and 0 returns `images` unchanged.
  """
  names = [t for t in policy.split(",") if t]
  unknown = sorted(set(names) - set(TRANSFORMS))
  if unknown:
    raise ValueError(f"Unknown augmentations {unknown} in policy {policy!r}; "
                     f"use a comma-separated subset of {sorted(TRANSFORMS)}.")
  for index, name in enumerate(names):
    transform_key = jax.random.fold_in(key, index)
    augmented = TRANSFORMS[name](images, jax.random.fold_in(transform_key, 0))
    if isinstance(probability, (int, float)) and probability >= 1:
      images = augmented
      continue
    coin = jax.random.uniform(jax.random.fold_in(transform_key, 1),
                              (images.shape[0], 1, 1, 1))
    images = jnp.where(coin < probability, augmented, images)
  return images


def ada_update(p: jax.Array, real_logits_sign_mean: jax.Array, *,
               target: float = 0.6, batch_size: int,
               adjust_kimg: float = 500, interval: int = 4) -> jax.Array:
  """ADA's rule, called once every `interval` steps of `batch_size` images.

  r_t = E[sign D(real)] (`real_logits_sign_mean`); p moves by batch_size *
  interval / (adjust_kimg * 1000) towards more augmentation when r_t >
  target (D is overfitting) and towards less when below, clipped to [0, 1],
  so p can cross [0, 1] in `adjust_kimg` thousand images. Pure jnp, so it
  can run inside the jitted step.
  """
  step = batch_size * interval / (adjust_kimg * 1000.0)
  return jnp.clip(p + jnp.sign(real_logits_sign_mean - target) * step, 0.0,
                  1.0)

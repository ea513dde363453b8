"""Reconstruction metrics against numpy and scikit-image's SSIM."""

import jax
import numpy as np
import pytest
from skimage import data, transform
from skimage.metrics import structural_similarity

from cnnjax.metrics.reconstruction import feature_distance, mse, psnr, ssim


def skimage_ssim(x, y):
  """Wang et al. 2004's SSIM as skimage documents it, in float64, per image."""
  return np.array([
      structural_similarity(a, b, data_range=2.0, gaussian_weights=True,
                            sigma=1.5, use_sample_covariance=False,
                            channel_axis=-1)
      for a, b in zip(x.astype(np.float64), y.astype(np.float64))])


def to_range(image):
  """[0, 1] image -> [-1, 1]."""
  return 2.0 * image - 1.0


def structured_images():
  """Natural images at 32x32 in [-1, 1]: 3 grayscale and 3 RGB ones."""
  camera = transform.resize(data.camera(), (32, 32), anti_aliasing=True)
  astronaut = transform.resize(data.astronaut(), (32, 32), anti_aliasing=True)
  coffee = transform.resize(data.coffee(), (32, 32), anti_aliasing=True)
  gray = np.stack([camera, camera[::-1], 0.2 * camera + 0.75])[..., None]
  rgb = np.stack([astronaut, coffee, 0.2 * astronaut + 0.75])
  # The third image of each: bright and low-contrast, where E[x^2] - E[x]^2
  # loses the most float32 digits.
  return to_range(gray), to_range(rgb)


def noisy(images, scale, seed):
  rng = np.random.default_rng(seed)
  return np.clip(images + scale * rng.standard_normal(images.shape), -1, 1)


def test_mse_and_psnr_match_numpy():
  rng = np.random.default_rng(0)
  a = rng.uniform(-1, 1, (5, 8, 6, 3)).astype(np.float32)
  b = rng.uniform(-1, 1, (5, 8, 6, 3)).astype(np.float32)
  want_mse = np.mean((a.astype(np.float64) - b)**2, axis=(1, 2, 3))
  want_psnr = 10 * np.log10(4.0 / want_mse)
  np.testing.assert_allclose(mse(a, b), want_mse, rtol=1e-6)
  np.testing.assert_allclose(psnr(a, b), want_psnr, rtol=1e-6)
  # The data range only enters as R^2: a pair mapped to [0, 1] with R = 1
  # has the same PSNR.
  np.testing.assert_allclose(psnr((a + 1) / 2, (b + 1) / 2, data_range=1.0),
                             want_psnr, rtol=1e-5)


def test_psnr_of_a_known_error_and_of_identical_images():
  a = np.zeros((2, 4, 4, 1), np.float32)
  b = a.copy()
  b[0] += 0.02  # MSE 4e-4: PSNR = 10 log10(4 / 4e-4) = 40 dB
  got = np.asarray(psnr(a, b))
  assert got[0] == pytest.approx(40.0, abs=1e-4)
  assert got[1] == np.inf


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("noise", [0.01, 0.1, 0.5])
def test_ssim_matches_skimage_on_random_images(channels, noise):
  rng = np.random.default_rng(channels)
  x = rng.uniform(-1, 1, (3, 24, 20, channels))
  y = noisy(x, noise, seed=int(100 * noise))
  got = ssim(x.astype(np.float32), y.astype(np.float32))
  assert got.shape == (3,)
  np.testing.assert_allclose(got, skimage_ssim(x, y), atol=1e-5, rtol=0)


@pytest.mark.parametrize("noise", [0.003, 0.03, 0.3])
def test_ssim_matches_skimage_on_natural_images(noise):
  for images in structured_images():
    degraded = noisy(images, noise, seed=7)
    want = skimage_ssim(images, degraded)
    got = ssim(images.astype(np.float32), degraded.astype(np.float32))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_ssim_matches_skimage_on_blurred_and_shifted_images():
  # Structural changes rather than noise: a blur and a brightness shift.
  gray, rgb = structured_images()
  for images in (gray, rgb):
    blurred = np.stack([transform.rescale(transform.rescale(
        image, 0.5, channel_axis=-1), 2.0, channel_axis=-1)
                        for image in images])
    brighter = np.clip(images + 0.3, -1, 1)
    for other in (blurred, brighter):
      got = ssim(images.astype(np.float32), other.astype(np.float32))
      np.testing.assert_allclose(got, skimage_ssim(images, other), atol=1e-5,
                                 rtol=0)


def test_ssim_of_an_image_with_itself_is_one_and_it_jits():
  gray, rgb = structured_images()
  for images in (gray, rgb):
    images = images.astype(np.float32)
    np.testing.assert_allclose(jax.jit(ssim)(images, images), 1.0, atol=1e-6)


def test_ssim_refuses_images_smaller_than_its_window():
  small = np.zeros((1, 10, 32, 1), np.float32)
  with pytest.raises(ValueError, match="11x11"):
    ssim(small, small)
  with pytest.raises(ValueError, match="one shape"):
    ssim(np.zeros((1, 16, 16, 1)), np.zeros((1, 16, 16, 3)))


def test_feature_distance_matches_numpy():
  rng = np.random.default_rng(3)
  a = rng.standard_normal((6, 32))
  b = rng.standard_normal((6, 32))
  b[0] = 3.0 * a[0]  # same direction, other scale: distance 0
  b[1] = -a[1]  # opposite direction: distance 4
  a_unit = a / np.linalg.norm(a, axis=1, keepdims=True)
  b_unit = b / np.linalg.norm(b, axis=1, keepdims=True)
  want = np.sum((a_unit - b_unit)**2, axis=1)
  got = np.asarray(feature_distance(a.astype(np.float32), b.astype(np.float32)))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert got[0] == pytest.approx(0.0, abs=1e-6)
  assert got[1] == pytest.approx(4.0, abs=1e-5)
  # 2 - 2 cos: the identity the docstring states.
  cosine = np.sum(a_unit * b_unit, axis=1)
  np.testing.assert_allclose(got, 2 - 2 * cosine, atol=1e-5)

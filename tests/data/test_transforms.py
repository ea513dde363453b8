"""Resizing, padding, channel conversion and scaling of batches."""

import numpy as np
import pytest
from PIL import Image

from cnnjax.data import transforms
from cnnjax.errors import ConfigError, DataError


def _batch(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_auto_pads_28_to_32_with_background():
  images = _batch((3, 28, 28, 1))
  out = transforms.to_float(transforms.to_resolution(images, 32, "auto"), 1)
  assert out.shape == (3, 32, 32, 1) and out.dtype == np.float32
  np.testing.assert_array_equal(out[:, 2:30, 2:30],
                                images.astype(np.float32) / 127.5 - 1)
  border = np.ones((32, 32), bool)
  border[2:30, 2:30] = False
  assert (out[:, border] == -1).all()


def test_auto_resizes_8_to_32_bilinear_like_pil():
  images = _batch((2, 8, 8, 1))
  out = transforms.to_resolution(images, 32, "auto")
  assert out.shape == (2, 32, 32, 1) and out.dtype == np.uint8
  expected = Image.fromarray(images[1, ..., 0]).resize((32, 32),
                                                       Image.BILINEAR)
  np.testing.assert_array_equal(out[1, ..., 0], np.asarray(expected))


def test_auto_downscales_rgb_with_antialiasing():
  # A 1-pixel checkerboard averages to mid-gray when antialiased.
  board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
  images = np.repeat(board[None, ..., None], 3, axis=-1)
  out = transforms.to_resolution(images, 32, "auto").astype(float)
  assert abs(out[0, 8:24, 8:24].mean() - 127.5) < 2
  assert out[0, 8:24, 8:24].std() < 5


def test_nearest_duplicates_pixels():
  images = _batch((2, 8, 8, 3))
  out = transforms.to_resolution(images, 16, "nearest")
  np.testing.assert_array_equal(out, images.repeat(2, 1).repeat(2, 2))


def test_center_crop_of_non_square_images():
  images = _batch((2, 10, 6, 1))
  out = transforms.to_resolution(images, 6, "auto")
  np.testing.assert_array_equal(out, images[:, 2:8])
  # A list of images with different shapes is handled one by one.
  mixed = [_batch((10, 6, 1), 1), _batch((6, 8, 1), 2)]
  out = transforms.to_resolution(mixed, 6, "auto")
  np.testing.assert_array_equal(out[0], mixed[0][2:8])
  np.testing.assert_array_equal(out[1], mixed[1][:, 1:7])


def test_crop_positions_cover_every_offset_of_the_longer_side():
  tall, wide = _batch((10, 6, 1), 1), _batch((6, 9, 1), 2)
  out = transforms.to_resolution([tall, wide], 6, "auto",
                                 crop_positions=np.array([0.0, 0.999]))
  np.testing.assert_array_equal(out[0], tall[0:6])  # first of 5 offsets
  np.testing.assert_array_equal(out[1], wide[:, 3:9])  # last of 4
  # Uniform positions hit the 5 offsets equally often.
  offsets = [transforms.crop_square(np.arange(10)[:, None, None] *
                                    np.ones((1, 6, 1)), p)[0, 0, 0]
             for p in (np.arange(50) + 0.5) / 50]
  assert np.bincount(np.asarray(offsets, int)).tolist() == [10] * 5


def test_pad_refuses_larger_sources_and_unknown_methods_fail():
  with pytest.raises(DataError, match="'pad' cannot shrink 64x64"):
    transforms.to_resolution(_batch((1, 64, 64, 1)), 32, "pad")
  with pytest.raises(ConfigError, match="resize_method 'bicubic'"):
    transforms.to_resolution(_batch((1, 28, 28, 1)), 32, "bicubic")
  # pad also works past the auto threshold when asked for explicitly.
  assert transforms.to_resolution(_batch((1, 8, 8, 1)), 32, "pad").shape == (
      1, 32, 32, 1)


def test_gray_to_rgb_repeats_and_rgb_to_gray_uses_bt601():
  gray = _batch((2, 4, 4, 1))
  rgb = transforms.to_float(gray, 3)
  assert rgb.shape == (2, 4, 4, 3)
  for c in range(3):
    np.testing.assert_array_equal(rgb[..., c], rgb[..., 0])
  colour = _batch((2, 4, 4, 3))
  luma = transforms.to_float(colour, 1)
  expected = (colour.astype(np.float64) @ [0.299, 0.587, 0.114]) / 127.5 - 1
  np.testing.assert_allclose(luma[..., 0], expected, atol=1e-5)
  white = np.full((1, 2, 2, 3), 255, np.uint8)
  assert transforms.to_float(white, 1).max() == 1.0
  assert transforms.to_float(np.zeros((1, 2, 2, 3), np.uint8), 1).min() == -1.0


def test_scaling_is_exactly_x_over_127_5_minus_1():
  values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
  out = transforms.to_float(values, 1)
  np.testing.assert_array_equal(
      out, values.astype(np.float32) / np.float32(127.5) - np.float32(1))
  assert out.min() == -1 and out.max() == 1


def test_unsupported_channel_counts():
  with pytest.raises(DataError, match="4 channels"):
    transforms.to_float(_batch((1, 2, 2, 4)), 3)
  with pytest.raises(ConfigError, match="channels must be 1 or 3"):
    transforms.to_float(_batch((1, 2, 2, 1)), 2)

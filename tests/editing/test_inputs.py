"""Reading images and masks for inversion and edits, and checking outputs."""

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnjax import data
from cnnjax.data.pipeline import BatchReader
from cnnjax.editing import inputs
from cnnjax.editing.inputs import (check_out_dir, check_out_path, read_images,
                                   read_mask)
from cnnjax.errors import UserError


def _config(**overrides):
  return {"name": "digits", "resolution": 32, "channels": 1,
          "resize_method": "auto", "data_dir": "", **overrides}


def _random(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(path, pixels, **options):
  Image.fromarray(pixels).save(str(path), **options)
  return str(path)


def _expected(pixels):
  """x / 127.5 - 1 in float64, independent of cnnjax's float32 code."""
  return pixels.astype(np.float64) / 127.5 - 1.0


# --- image files -------------------------------------------------------------


def test_exact_size_gray_png_reads_as_scaled_pixels(tmp_path):
  pixels = _random((32, 32))
  read = read_images(_save(tmp_path / "face.png", pixels), _config())
  assert read.images.dtype == np.float32 and read.images.shape == (1, 32, 32, 1)
  np.testing.assert_allclose(read.images[0, ..., 0], _expected(pixels),
                             atol=1e-6)
  assert read.labels is None and read.names == ["face.png"] and len(read) == 1
  assert "face.png" in read.source


def test_jpeg_rgb_and_gray_read_as_pil_decodes_them(tmp_path):
  rgb = _save(tmp_path / "c.jpg", _random((32, 32, 3)), quality=95)
  gray = _save(tmp_path / "g.JPEG", _random((32, 32), seed=1), quality=95)
  read_rgb = read_images(rgb, _config(channels=3))
  read_gray = read_images(gray, _config())
  np.testing.assert_allclose(read_rgb.images[0],
                             _expected(np.asarray(Image.open(rgb))), atol=1e-6)
  np.testing.assert_allclose(read_gray.images[0, ..., 0],
                             _expected(np.asarray(Image.open(gray))), atol=1e-6)


def test_folder_reads_image_files_sorted_by_name_not_recursively(tmp_path):
  values = {"b.png": 40, "A.PNG": 80, "a10.jpg": 120, "c.jpeg": 200}
  for name, value in values.items():
    _save(tmp_path / name, np.full((32, 32), value, np.uint8), quality=100)
  (tmp_path / "notes.txt").write_text("not an image")
  (tmp_path / "sub").mkdir()
  _save(tmp_path / "sub" / "deeper.png", np.zeros((32, 32), np.uint8))
  read = read_images(str(tmp_path), _config())
  assert read.names == ["A.PNG", "a10.jpg", "b.png", "c.jpeg"]
  assert read.images.shape == (4, 32, 32, 1)
  # JPEG may move a flat gray by a level; the order is what is checked.
  means = (read.images.mean(axis=(1, 2, 3)) + 1) * 127.5
  np.testing.assert_allclose(means, [values[n] for n in read.names], atol=1.5)
  assert "4 images" in read.source


@pytest.mark.parametrize("method", ["auto", "pad"])
def test_28_px_file_is_padded_exactly_as_batch_reader_pads(tmp_path, method):
  pixels = _random((28, 28), seed=2)
  read = read_images(_save(tmp_path / "item.png", pixels),
                     _config(resize_method=method))
  reader = BatchReader(source=data.ArraySource(pixels[None, ..., None],
                                               np.zeros(1)),
                       resolution=32, channels=1, resize_method=method)
  np.testing.assert_array_equal(read.images, reader(np.arange(1))["image"])
  assert (read.images[0, :2] == -1).all() and (read.images[0, -2:] == -1).all()
  np.testing.assert_allclose(read.images[0, 2:30, 2:30, 0], _expected(pixels),
                             atol=1e-6)


def test_folder_mixes_exact_and_padded_sizes(tmp_path):
  _save(tmp_path / "a.png", _random((32, 32)))
  _save(tmp_path / "b.png", _random((30, 30)))
  assert read_images(str(tmp_path), _config()).images.shape == (2, 32, 32, 1)


@pytest.mark.parametrize("size,method", [
    ((100, 80), "auto"), ((32, 28), "auto"), ((64, 64), "auto"),
    ((27, 27), "auto"), ((28, 28), "bilinear"), ((64, 64), "pad")])
def test_sizes_that_need_resampling_or_cropping_are_refused(tmp_path, size,
                                                            method):
  width, height = size
  path = _save(tmp_path / "big.png", _random((height, width)))
  with pytest.raises(UserError, match=rf"big.png is {width}x{height}, but the "
                     r"model takes 32x32 images.*resize it"):
    read_images(path, _config(resize_method=method))


def test_any_smaller_square_is_padded_with_resize_method_pad(tmp_path):
  path = _save(tmp_path / "small.png", _random((20, 20)))
  images = read_images(path, _config(resize_method="pad")).images
  assert images.shape == (1, 32, 32, 1) and (images[0, :6] == -1).all()


def test_channels_must_match_the_model(tmp_path):
  color = _save(tmp_path / "color.png", _random((32, 32, 3)))
  gray = _save(tmp_path / "gray.png", _random((32, 32)))
  with pytest.raises(UserError, match="color.png is a color image, but the "
                     "model is grayscale.*convert"):
    read_images(color, _config())
  with pytest.raises(UserError, match="gray.png is a grayscale image, but the "
                     "model is RGB"):
    read_images(gray, _config(channels=3))


def test_gray_content_in_rgb_or_palette_files_is_read_losslessly(tmp_path):
  pixels = _random((32, 32), seed=3)
  as_rgb = _save(tmp_path / "rgb.png", np.repeat(pixels[..., None], 3, -1))
  as_palette = str(tmp_path / "palette.png")
  Image.fromarray(pixels).convert("P").save(as_palette)
  assert Image.open(as_palette).mode == "P"
  for path in (as_rgb, as_palette):
    np.testing.assert_allclose(read_images(path, _config()).images[0, ..., 0],
                               _expected(pixels), atol=1e-6)
  # An RGB model takes the gray-looking RGB file as RGB.
  assert read_images(as_rgb, _config(channels=3)).images.shape[-1] == 3


def test_alpha_is_dropped_when_opaque_and_refused_when_not(tmp_path):
  rgba = np.concatenate([_random((32, 32, 3)), np.full((32, 32, 1), 255,
                                                        np.uint8)], -1)
  opaque = _save(tmp_path / "opaque.png", rgba)
  np.testing.assert_allclose(read_images(opaque, _config(channels=3)).images[0],
                             _expected(rgba[..., :3]), atol=1e-6)
  rgba[0, 0, 3] = 10
  clear = _save(tmp_path / "clear.png", rgba)
  with pytest.raises(UserError, match="clear.png has transparent pixels"):
    read_images(clear, _config(channels=3))


def test_16_bit_images_are_refused(tmp_path):
  path = str(tmp_path / "deep.png")
  Image.fromarray(np.full((32, 32), 1000, np.uint16)).save(path)
  with pytest.raises(UserError, match="deep.png has PIL mode .*8-bit"):
    read_images(path, _config())


def test_unreadable_files_are_named(tmp_path):
  garbage = tmp_path / "noise.png"
  garbage.write_bytes(np.random.default_rng(0).bytes(500))
  with pytest.raises(UserError, match="cannot read .*noise.png as an image"):
    read_images(str(garbage), _config())
  whole = open(_save(tmp_path / "whole.png", _random((32, 32))), "rb").read()
  truncated = tmp_path / "cut.png"
  truncated.write_bytes(whole[:len(whole) // 2])
  with pytest.raises(UserError, match="cannot read .*cut.png as an image"):
    read_images(str(truncated), _config())
  # In a folder, the bad file is the one named.
  os.remove(garbage)
  with pytest.raises(UserError, match="cut.png"):
    read_images(str(tmp_path), _config())


def test_missing_paths_empty_folders_and_other_files(tmp_path):
  with pytest.raises(UserError, match="no such file or folder: .*nothing.png"):
    read_images(str(tmp_path / "nothing.png"), _config())
  (tmp_path / "empty").mkdir()
  with pytest.raises(UserError, match="has no .png/.jpg/.jpeg files"):
    read_images(str(tmp_path / "empty"), _config())
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(UserError, match="notes.txt is not a .png/.jpg/.jpeg"):
    read_images(str(tmp_path / "notes.txt"), _config())


# --- dataset records ---------------------------------------------------------


def test_dataset_records_are_what_training_batches_hold():
  read = read_images("dataset:digits:train:5", _config())
  source = data.load_source("digits", "train")
  batch = BatchReader(source=source.source, resolution=32, channels=1,
                      resize_method="auto")(np.arange(5))
  np.testing.assert_array_equal(read.images, batch["image"])
  np.testing.assert_array_equal(read.labels, batch["label"])
  assert read.labels.dtype == np.int32 and read.images.shape == (5, 32, 32, 1)
  assert read.names == [f"digits:train:{i}" for i in range(5)]
  assert "first 5 records" in read.source and "digits" in read.source


def test_dataset_without_n_reads_the_whole_split():
  read = read_images("dataset:digits:test", _config(resolution=8))
  assert read.images.shape == (359, 8, 8, 1) and len(read.labels) == 359


@pytest.mark.parametrize("spec,message", [
    ("dataset:nope:train", "unknown dataset 'nope'"),
    ("dataset:digits:validation", "unknown split 'validation'"),
    ("dataset:digits:train:0", "between 1 and 1438 .got 0"),
    ("dataset:digits:train:-3", "between 1 and 1438"),
    ("dataset:digits:train:1439", "has 1438 images"),
    ("dataset:digits:train:five", "N must be an integer"),
    ("dataset:digits", r"dataset:<name>:<split>\[:N\]"),
    ("dataset:", r"dataset:<name>:<split>\[:N\]"),
    ("dataset:digits:train:5:6", r"dataset:<name>:<split>\[:N\]")])
def test_bad_dataset_specs(spec, message):
  with pytest.raises(UserError, match=message):
    read_images(spec, _config())


@pytest.mark.parametrize("spec,name,split,data_dir", [
    ("dataset:tfds:cifar10:test:3", "tfds:cifar10", "test", "/data"),
    ("dataset:mine:val:3", "mine", "val", "")])
def test_dataset_spec_names_and_data_dir(monkeypatch, spec, name, split,
                                         data_dir):
  calls = []

  def fake_load_source(*args):
    calls.append(args)
    images = _random((4, 32, 32, 3))
    return data.ImageSource(data.ArraySource(images, np.arange(4)),
                            (32, 32, 3), 4, "fake", "a fake")

  monkeypatch.setattr(inputs, "load_source", fake_load_source)
  read = read_images(spec, _config(channels=3, data_dir=data_dir))
  assert calls == [(name, split, data_dir or None)]
  assert read.names == [f"{name}:{split}:{i}" for i in range(3)]
  np.testing.assert_array_equal(read.labels, [0, 1, 2])


# --- masks -------------------------------------------------------------------


def _known_outside(x0, y0, x1, y1, resolution):
  """1 outside the rectangle [x0, x1) x [y0, y1), by comparing coordinates."""
  ys, xs = np.mgrid[:resolution, :resolution]
  inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
  return (~inside).astype(np.float32)


def test_rect_and_center_masks():
  mask = read_mask("rect:8,4,24,12", 32)
  assert mask.dtype == np.float32 and mask.shape == (32, 32)
  np.testing.assert_array_equal(mask, _known_outside(8, 4, 24, 12, 32))
  np.testing.assert_array_equal(read_mask("center:12", 32),
                                _known_outside(10, 10, 22, 22, 32))
  np.testing.assert_array_equal(read_mask("center:3", 8),
                                _known_outside(2, 2, 5, 5, 8))
  assert read_mask("rect:0,0,1,1", 32).sum() == 32 * 32 - 1


def test_mask_image_white_fills_and_black_keeps(tmp_path):
  picture = Image.new("RGB", (32, 32), (127, 127, 127))  # just below white
  ImageDraw.Draw(picture).rectangle([5, 6, 9, 20], fill=(128, 128, 128))
  path = str(tmp_path / "mask.png")
  picture.save(path)
  # PIL's rectangle includes both corners: x 5..9, y 6..20.
  np.testing.assert_array_equal(read_mask(path, 32),
                                _known_outside(5, 6, 10, 21, 32))


@pytest.mark.parametrize("spec,message", [
    ("rect:1,2,3", "rect:X0,Y0,X1,Y1 with four integers"),
    ("rect:a,b,c,d", "rect:X0,Y0,X1,Y1 with four integers"),
    ("rect:0,0,33,4", "0 <= X0 < X1 <= 32"),
    ("rect:5,5,5,9", "0 <= X0 < X1 <= 32"),
    ("rect:4,9,8,2", "0 <= Y0 < Y1 <= 32"),
    ("rect:0,0,32,32", "fills the whole image"),
    ("center:x", "center:S with an integer"),
    ("center:0", "between 1 and 31"),
    ("center:32", "between 1 and 31"),
    ("circle:3", "is not rect:X0,Y0,X1,Y1, center:S or an existing"),
    ("no-such-mask.png", "is not rect:X0,Y0,X1,Y1, center:S or an existing")])
def test_bad_mask_specs(spec, message):
  with pytest.raises(UserError, match=message):
    read_mask(spec, 32)


def test_bad_mask_images(tmp_path):
  small = _save(tmp_path / "small.png", np.full((28, 28), 255, np.uint8))
  with pytest.raises(UserError, match="small.png is 28x28, but the images "
                     "are 32x32"):
    read_mask(small, 32)
  black = _save(tmp_path / "black.png", np.zeros((32, 32), np.uint8))
  with pytest.raises(UserError, match="fills no pixel"):
    read_mask(black, 32)
  white = _save(tmp_path / "white.png", np.full((32, 32), 255, np.uint8))
  with pytest.raises(UserError, match="fills the whole image"):
    read_mask(white, 32)
  broken = tmp_path / "broken.png"
  broken.write_bytes(b"not a png at all")
  with pytest.raises(UserError, match="cannot read .*broken.png"):
    read_mask(str(broken), 32)


# --- outputs -----------------------------------------------------------------


def test_check_out_path(tmp_path):
  fresh = str(tmp_path / "new" / "edit.png")
  check_out_path(fresh, overwrite=False, suffix=".png")
  check_out_path(str(tmp_path / "EDIT.PNG"), overwrite=False, suffix=".png")
  assert not os.path.exists(tmp_path / "new")  # nothing is created
  with pytest.raises(UserError, match="edit.jpg must end with .png"):
    check_out_path(str(tmp_path / "edit.jpg"), overwrite=True, suffix=".png")
  taken = _save(tmp_path / "taken.png", np.zeros((4, 4), np.uint8))
  with pytest.raises(UserError, match="taken.png exists; choose another "
                     "--out or pass --overwrite."):
    check_out_path(taken, overwrite=False, suffix=".png")
  check_out_path(taken, overwrite=True, suffix=".png")
  (tmp_path / "dir.png").mkdir()
  with pytest.raises(UserError, match="dir.png is a folder"):
    check_out_path(str(tmp_path / "dir.png"), overwrite=True, suffix=".png")


def test_check_out_dir(tmp_path):
  produced = ["latents.npz", "reconstruction.png"]
  check_out_dir(str(tmp_path / "fresh"), overwrite=False, produced=produced)
  assert not os.path.exists(tmp_path / "fresh")
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "unrelated.txt").write_text("kept")
  check_out_dir(str(tmp_path / "out"), overwrite=False, produced=produced)
  (tmp_path / "out" / "reconstruction.png").write_bytes(b"old")
  with pytest.raises(UserError, match="already holds reconstruction.png; "
                     "choose another --out or pass --overwrite"):
    check_out_dir(str(tmp_path / "out"), overwrite=False, produced=produced)
  check_out_dir(str(tmp_path / "out"), overwrite=True, produced=produced)
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match="is a file; give a folder"):
    check_out_dir(str(tmp_path / "file"), overwrite=True, produced=produced)

"""`folder:<path>` datasets: finding files, labels, splits, decoding every
mode, crops through the real pipeline, and clear errors for bad folders."""

import itertools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnjax import config as config_lib
from cnnjax import data
from cnnjax.data import folder, skimage_demo
from cnnjax.data.pipeline import BatchReader
from cnnjax.errors import ConfigError, DataError
from data_test_utils import make_data_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _random(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(path, pixels, **options):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(
      pixels)
  image.save(path, **options)
  return str(path)


def _records(spec, split="all"):
  source = data.load_source(spec, split)
  return source, [source.source[i] for i in range(len(source))]


def test_nested_files_are_found_sorted_and_labeled_by_subfolder(tmp_path):
  for path in ("dogs/z.PNG", "cats/b/deep.jpeg", "cats/a.png", "dogs/x.JPG"):
    _save(tmp_path / path, _random((6, 5, 3)))
  for ignored in (".git/c.png", "cats/.hidden.png", "dogs/notes.txt"):
    os.makedirs(os.path.dirname(tmp_path / ignored), exist_ok=True)
    (tmp_path / ignored).write_bytes(b"not an image")
  source, records = _records(f"folder:{tmp_path}")
  assert source.source.paths == ["cats/a.png", "cats/b/deep.jpeg",
                                 "dogs/x.JPG", "dogs/z.PNG"]
  assert [r["label"] for r in records] == [0, 0, 1, 1]
  assert source.num_classes == 2 and source.image_shape == (6, 5, 3)
  assert f"folder {tmp_path}: split 'all' (4 of 4 images), 2 classes " \
         "(cats, dogs), RGB, 5x6" in source.description


def test_images_in_the_root_make_it_unlabeled(tmp_path):
  _save(tmp_path / "loose.png", _random((8, 8)))
  _save(tmp_path / "sub" / "a.png", _random((8, 12)))
  source, records = _records(f"folder:{tmp_path}")
  assert source.num_classes == 0 and [r["label"] for r in records] == [0, 0]
  assert source.image_shape is None  # two sizes
  assert "unlabeled: 1 images sit directly in the folder" in source.description


def test_every_mode_becomes_8_bit_gray_or_rgb(tmp_path):
  rgb = _random((5, 7, 3), seed=1)
  gray = _random((5, 7), seed=2)
  rgba = np.concatenate([rgb, _random((5, 7, 1), seed=3)], -1)
  deep = np.arange(35, dtype=np.uint16).reshape(5, 7) * 1800
  palette = Image.fromarray(rgb).quantize(16)
  _save(tmp_path / "a_gray.png", gray)
  _save(tmp_path / "b_deep.png", deep)
  assert Image.open(tmp_path / "b_deep.png").mode.startswith("I")
  gray_source, records = _records(f"folder:{tmp_path}")
  assert gray_source.image_shape == (5, 7, 1)  # every file is gray
  np.testing.assert_array_equal(records[0]["image"][..., 0], gray)
  np.testing.assert_array_equal(records[1]["image"][..., 0],
                                np.rint(deep / 257).astype(np.uint8))

  _save(tmp_path / "c_rgb.png", rgb)
  _save(tmp_path / "d_rgba.png", rgba)
  _save(tmp_path / "e_palette.png", palette)
  smooth = np.stack([np.add.outer(np.arange(5) * 30, np.arange(7) * 20)] * 3,
                    -1).astype(np.uint8)  # JPEG keeps smooth images well
  jpeg = dict(quality=95, subsampling=0)
  _save(tmp_path / "f_photo.jpg", smooth, **jpeg)
  # EXIF orientation 6: the stored pixels are shown turned 90° clockwise.
  exif = Image.Exif()
  exif[0x0112] = 6
  _save(tmp_path / "g_turned.jpg", smooth, exif=exif.tobytes(), **jpeg)
  source, records = _records(f"folder:{tmp_path}")
  images = [r["image"] for r in records]
  assert source.image_shape is None and {i.shape[-1] for i in images} == {3}
  np.testing.assert_array_equal(images[0], np.repeat(gray[..., None], 3, -1))
  np.testing.assert_array_equal(images[2], rgb)
  alpha = rgba[..., 3:].astype(np.int64)  # composited onto black
  np.testing.assert_array_equal(images[3], (rgb * alpha + 127) // 255)
  np.testing.assert_array_equal(images[4],
                                np.asarray(palette.convert("RGB")))
  assert np.abs(images[5].astype(int) - smooth).max() <= 3  # JPEG is lossy
  assert images[6].shape == (7, 5, 3)
  np.testing.assert_array_equal(images[6], np.rot90(images[5], k=-1))


def test_splits_are_a_fixed_hash_partition(tmp_path):
  for i in range(60):
    _save(tmp_path / f"{i:02d}.png", _random((4, 4), seed=i))
  paths = {split: data.load_source(f"folder:{tmp_path}", split).source.paths
           for split in folder.SPLITS}
  assert sorted(paths["train"] + paths["test"]) == paths["all"]
  assert not set(paths["train"]) & set(paths["test"])
  assert paths["test"] == [p for p in paths["all"] if folder.in_test_split(p)]
  assert 1 <= len(paths["test"]) <= 15
  # Other files coming or going move no file between the splits.
  for i in range(60, 80):
    _save(tmp_path / f"{i:02d}.png", _random((4, 4), seed=i))
  os.remove(tmp_path / paths["test"][0])
  test = data.load_source(f"folder:{tmp_path}", "test").source.paths
  assert set(paths["test"][1:]) <= set(test)
  with pytest.raises(DataError, match="unknown split 'val'.*train, test, all"):
    data.load_source(f"folder:{tmp_path}", "val")


def test_the_fingerprint_follows_the_files_not_where_they_are(tmp_path):
  for i in range(3):
    _save(tmp_path / "a" / f"{i}.png", _random((6, 6), seed=i))
  first = data.load_source(f"folder:{tmp_path / 'a'}", "all")
  shutil.copytree(tmp_path / "a", tmp_path / "b")
  assert data.load_source(f"folder:{tmp_path / 'b'}", "all").fingerprint == \
      first.fingerprint
  assert first.fingerprint[:12] in first.description
  _save(tmp_path / "b" / "1.png", _random((6, 7), seed=1))
  assert data.load_source(f"folder:{tmp_path / 'b'}", "all").fingerprint != \
      first.fingerprint


def test_an_empty_split_says_how_to_fix_it(tmp_path):
  name = next(f"{i}.png" for i in range(100)
              if not folder.in_test_split(f"{i}.png"))
  _save(tmp_path / name, _random((4, 4)))
  with pytest.raises(DataError, match="split 'test' is empty.*split 'all'"):
    data.load_source(f"folder:{tmp_path}", "test")


def test_center_crop_and_resize_match_pil(tmp_path):
  sizes = [(40, 64), (64, 40), (32, 32), (50, 100)]  # (height, width)
  pixels = [_random(size + (3,), seed=i) for i, size in enumerate(sizes)]
  for i, image in enumerate(pixels):
    _save(tmp_path / f"{i}.png", image)
  source = data.load_source(f"folder:{tmp_path}", "all")
  batch = BatchReader(source.source, 32, 3, "auto")(np.arange(4))
  for image, got in zip(pixels, batch["image"]):
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    expected = Image.fromarray(image).crop(
        (left, top, left + side, top + side)).resize((32, 32), Image.BILINEAR)
    np.testing.assert_allclose(got, np.asarray(expected) / 127.5 - 1,
                               atol=1e-6)


def _wide_folder(root, count=8):
  """One 32x96 image per class folder, each with columns 0..95 in it, so a
  crop's offset can be read from its first pixel."""
  columns = np.tile(np.arange(96, dtype=np.uint8) * 2, (32, 1))
  for i in range(count):
    _save(root / f"class{i}" / "wide.png", columns + i)
  return f"folder:{root}"


def _offsets(batch):
  """Record (label) -> crop offset in pixels."""
  first = np.rint((batch["image"][:, 0, 0, 0] + 1) * 127.5).astype(int)
  return {int(label): (value - label) // 2
          for label, value in zip(batch["label"], first)}


def _crop_stream(name, *, seed=0, crop="random", index=0, count=1, batch=8):
  config = make_data_config(name=name, split="all", resolution=32, crop=crop)
  return data.make_train_dataset(config, global_batch_size=batch, seed=seed,
                                 process_index=index, process_count=count)


def test_random_crops_are_a_pure_function_of_seed_epoch_and_record(tmp_path):
  name = _wide_folder(tmp_path)
  center = _offsets(next(iter(_crop_stream(name, crop="center"))))
  assert center == {i: 32 for i in range(8)}
  epochs = [_offsets(b) for b in itertools.islice(_crop_stream(name), 3)]
  assert all(0 <= offset <= 64 for e in epochs for offset in e.values())
  assert epochs[0] != epochs[1] != epochs[2]  # new crops every epoch
  assert [_offsets(b) for b in itertools.islice(_crop_stream(name), 3)] == \
      epochs
  assert _offsets(next(iter(_crop_stream(name, seed=1)))) != epochs[0]
  # Two processes see the rows of the one-process batches, crops included.
  halves = [next(iter(_crop_stream(name, index=p, count=2)))
            for p in range(2)]
  assert {**_offsets(halves[0]), **_offsets(halves[1])} == epochs[0]
  # A restored iterator continues with the same crops.
  iterator = iter(_crop_stream(name))
  next(iterator)
  restored = iter(_crop_stream(name))
  restored.set_state(iterator.get_state())
  assert [_offsets(next(restored)) for _ in range(2)] == epochs[1:]


def test_channels_convert_both_ways_through_the_pipeline(tmp_path):
  gray, rgb = _random((32, 32), seed=4), _random((32, 32, 3), seed=5)
  _save(tmp_path / "gray" / "g.png", gray)
  _save(tmp_path / "rgb" / "c.png", rgb)
  for name, channels, expected in (
      ("gray", 3, np.repeat(gray[..., None], 3, -1) / 127.5 - 1),
      ("rgb", 1, (rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
                  )[..., None] / 127.5 - 1)):
    config = make_data_config(name=f"folder:{tmp_path / name}", split="all",
                              channels=channels)
    batch = next(iter(data.make_train_dataset(
        config, global_batch_size=2, seed=0, process_index=0,
        process_count=1)))
    assert batch["image"].shape == (2, 32, 32, channels)
    np.testing.assert_allclose(batch["image"][0], expected, atol=1e-5)


def test_bad_folders_and_files_are_one_clear_error(tmp_path):
  with pytest.raises(DataError, match=f"no folder {tmp_path}/missing"):
    data.load_source(f"folder:{tmp_path}/missing")
  _save(tmp_path / "one.png", _random((4, 4)))
  with pytest.raises(DataError, match="one.png is a file, not a folder"):
    data.load_source(f"folder:{tmp_path}/one.png")
  with pytest.raises(DataError, match="names no folder"):
    data.load_source("folder:")
  (tmp_path / "empty" / ".hidden").mkdir(parents=True)
  _save(tmp_path / "empty" / ".hidden" / "x.png", _random((4, 4)))
  (tmp_path / "empty" / "notes.txt").write_text("hi")
  with pytest.raises(DataError, match="holds no .png/.jpg/.jpeg files"):
    data.load_source(f"folder:{tmp_path}/empty")
  # Not an image at all: refused when the folder is loaded.
  (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(300))
  with pytest.raises(DataError, match="cannot read .*noise.png as an image"):
    data.load_source(f"folder:{tmp_path}", "all")
  # Cut short: the header reads, the pixels fail when the batch is read.
  whole = (tmp_path / "one.png").read_bytes()
  (tmp_path / "noise.png").write_bytes(whole[:len(whole) // 2])
  config = make_data_config(name=f"folder:{tmp_path}", split="all")
  stream = data.make_train_dataset(config, global_batch_size=2, seed=0,
                                   process_index=0, process_count=1)
  with pytest.raises(DataError, match="cannot read .*noise.png as an image"):
    next(iter(stream))


def test_crop_and_labels_are_checked(tmp_path, tiny_config):
  name = _wide_folder(tmp_path, count=3)
  config = tiny_config
  config.data.crop = "diagonal"
  with pytest.raises(ConfigError, match="data.crop='diagonal' must be"):
    config_lib.validate_shared(config, 8)
  with pytest.raises(ConfigError, match="data.crop 'diagonal' is unknown"):
    next(iter(_crop_stream(name, crop="diagonal")))
  source = data.load_source(name, "all")
  data.check_labels(source, 0)
  data.check_labels(source, 5)
  with pytest.raises(DataError, match="has 3 classes but model.num_classes=2"):
    data.check_labels(source, 2)
  _save(tmp_path / "loose.png", _random((4, 4)))
  with pytest.raises(DataError, match="needs labeled data.*unlabeled"):
    data.check_labels(data.load_source(name, "all"), 3)


def test_editing_reads_folder_records(tmp_path):
  from cnnjax.editing.inputs import read_images
  name = _wide_folder(tmp_path, count=3)
  read = read_images(f"dataset:{name}:all:2", make_data_config())
  assert read.images.shape == (2, 32, 32, 1)
  assert read.names == [f"{name}:all:0", f"{name}:all:1"]


def test_skimage_demo_exports_a_two_class_folder(tmp_path, monkeypatch):
  monkeypatch.setattr(skimage_demo, "PHOTOS", ("astronaut",))
  monkeypatch.setattr(skimage_demo, "TEXTURES", ("brick",))
  skimage_demo.main([str(tmp_path), "--tile", "256"])
  source = data.load_source(f"folder:{tmp_path}", "all")
  assert len(source) == 8 and source.num_classes == 2
  assert source.image_shape == (256, 256, 3)


@pytest.mark.slow
def test_a_tiny_gan_trains_on_a_folder(tmp_path, tiny_config, caplog):
  import jax
  from cnnjax.train import loop
  caplog.set_level("INFO")
  for i in range(16):
    size = (20 + 4 * (i % 4), 24 + 6 * (i % 3))
    _save(tmp_path / "images" / f"c{i % 2}" / f"{i}.png",
          _random(size + ((3,) if i % 3 else ()), seed=i))
  config = tiny_config
  config.data.name = f"folder:{tmp_path / 'images'}"
  config.data.crop = "random"
  config.train.num_steps = 3
  workdir = str(tmp_path / "run")
  result = loop.train_and_evaluate(config, workdir, devices=jax.devices()[:1])
  assert result["step"] == 3 and not result["interrupted"]
  assert f"Data: folder {tmp_path / 'images'}: split 'train'" in caplog.text
  assert "2 classes (c0, c1), RGB" in caplog.text
  rows = [json.loads(line) for line in open(os.path.join(workdir,
                                                         "metrics.jsonl"))]
  assert any("d_loss" in row for row in rows)
  assert all(np.isfinite(value) for row in rows
             for key, value in row.items() if "loss" in key)


def test_the_cli_names_a_missing_folder(tmp_path):
  workdir = tmp_path / "run"
  # As tests/conftest.py's cli() (tests/data imports its helpers by name).
  result = subprocess.run(
      [sys.executable, "-m", "cnnjax.main", "train",
       "--config=configs/dcgan.py:tiny", f"--workdir={workdir}",
       f"--config.data.name=folder:{tmp_path}/nothing"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  errors = [line for line in result.stderr.splitlines()
            if "cnnjax: error:" in line]
  assert len(errors) == 1 and f"no folder {tmp_path}/nothing" in errors[0]
  assert not workdir.exists()

"""IDX parsing and the cnnjax_fashion_mnist TFDS builder, on small files."""

import gzip
import os
import threading

import numpy as np
import pytest

from cnnjax import data
from cnnjax.data import fashion_mnist
from cnnjax.data.fashion_mnist import debian_idx_dir as real_debian_idx_dir
from cnnjax.data.idx import read_idx, write_idx
from cnnjax.errors import DataError
from data_test_utils import write_fashion_idx


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, compress):
  array = np.random.default_rng(0).integers(0, 256, (7, 28, 28), np.uint8)
  path = str(tmp_path / "images-idx3-ubyte")
  write_idx(path, array, compress=compress)
  with open(path, "rb") as f:
    assert (f.read(2) == b"\x1f\x8b") == compress
  np.testing.assert_array_equal(read_idx(path, expected_ndim=3), array)


def _corrupt(path, kind):
  with open(path, "rb") as f:
    raw = f.read()
  if kind == "truncated_gzip":
    raw = raw[:len(raw) // 2]
  elif kind == "truncated_data":
    raw = gzip.compress(gzip.decompress(raw)[:-5])
  elif kind == "bad_magic":
    raw = gzip.compress(b"\x00\x00\x0d\x03" + gzip.decompress(raw)[4:])
  with open(path, "wb") as f:
    f.write(raw)


@pytest.mark.parametrize("kind",
                         ["truncated_gzip", "truncated_data", "bad_magic"])
def test_corrupt_idx_raises_data_error_naming_the_file(idx_dir, isolated_data,
                                                       kind):
  folder, _ = idx_dir
  bad = os.path.join(folder, "train-images-idx3-ubyte.gz")
  _corrupt(bad, kind)
  with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
    data.load_source("fashion_mnist")
  # Nothing half-prepared is left to be mistaken for data later.
  assert not (isolated_data / fashion_mnist.BUILDER_NAME).exists()


def test_label_count_mismatch_is_reported(tmp_path, monkeypatch):
  folder = str(tmp_path / "idx")
  write_fashion_idx(folder, seed=0)
  write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"),
            np.zeros(3, np.uint8), compress=True)
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, folder)
  with pytest.raises(DataError, match="20 images but .* 3 labels"):
    data.load_source("fashion_mnist", "test")


@pytest.mark.parametrize("compress", [True, False])
def test_prepared_dataset_equals_idx_input(tmp_path, monkeypatch,
                                           isolated_data, compress):
  folder = str(tmp_path / "idx")
  arrays = write_fashion_idx(folder, seed=3, compress=compress)
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, folder)
  for split, (images, labels) in arrays.items():
    source = data.load_source("fashion_mnist", split)
    assert len(source) == len(images)
    assert source.image_shape == (28, 28, 1)
    assert source.num_classes == 10
    assert f"from IDX files in {folder}" in source.description
    assert str(isolated_data / fashion_mnist.BUILDER_NAME / "1.0.0") in (
        source.description)
    # Record i is image i of the IDX file (shuffling disabled at preparation).
    for i in range(len(images)):
      record = source.source[i]
      assert record["image"].dtype == np.uint8
      np.testing.assert_array_equal(record["image"][..., 0], images[i])
      assert record["label"] == labels[i]
    batch_images, batch_labels = source.source.read_batch([3, 0, 7])
    np.testing.assert_array_equal(batch_images[..., 0], images[[3, 0, 7]])
    np.testing.assert_array_equal(batch_labels, labels[[3, 0, 7]])


def test_second_load_does_not_prepare_again(idx_dir, isolated_data,
                                            monkeypatch):
  data.load_source("fashion_mnist")
  version_dir = isolated_data / fashion_mnist.BUILDER_NAME / "1.0.0"
  before = {p.name: p.stat().st_mtime_ns for p in version_dir.iterdir()}

  def fail(*args, **kwargs):
    raise AssertionError("prepared a second time")

  monkeypatch.setattr(fashion_mnist.CnnjaxFashionMnist,
                      "download_and_prepare", fail)
  source = data.load_source("fashion_mnist", "test")
  assert len(source) == 20
  assert {p.name: p.stat().st_mtime_ns for p in version_dir.iterdir()} == (
      before)
  # Preparation wrote nothing besides the dataset and its lock file.
  assert sorted(p.name for p in isolated_data.iterdir()) == [
      f".{fashion_mnist.BUILDER_NAME}.lock", fashion_mnist.BUILDER_NAME]


def test_interrupted_preparation_leaves_no_dataset(idx_dir, isolated_data,
                                                   monkeypatch):
  original = fashion_mnist.CnnjaxFashionMnist._generate_examples

  def interrupted(self, arrays):
    for count, example in enumerate(original(self, arrays)):
      if count == 10:
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C
      yield example

  monkeypatch.setattr(fashion_mnist.CnnjaxFashionMnist, "_generate_examples",
                      interrupted)
  with pytest.raises(KeyboardInterrupt):
    data.load_source("fashion_mnist")
  dataset_dir = isolated_data / fashion_mnist.BUILDER_NAME
  # tfds wrote into an incomplete.* folder and removed it.
  assert not list(dataset_dir.glob("*/dataset_info.json"))
  assert not (dataset_dir / "1.0.0").exists()

  # A process killed outright leaves its incomplete.* folder; it is ignored.
  (dataset_dir / "incomplete.ABC123_1.0.0").mkdir(parents=True)
  monkeypatch.setattr(fashion_mnist.CnnjaxFashionMnist, "_generate_examples",
                      original)
  source = data.load_source("fashion_mnist")
  assert len(source) == 50


def test_concurrent_loads_prepare_once(idx_dir, monkeypatch):
  calls = []
  original = fashion_mnist.CnnjaxFashionMnist.download_and_prepare

  def counted(self, **kwargs):
    calls.append(1)
    return original(self, **kwargs)

  monkeypatch.setattr(fashion_mnist.CnnjaxFashionMnist,
                      "download_and_prepare", counted)
  lengths, errors = [], []

  def load():
    try:
      lengths.append(len(data.load_source("fashion_mnist")))
    except Exception as e:  # reported below
      errors.append(e)

  threads = [threading.Thread(target=load) for _ in range(3)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert not errors and lengths == [50, 50, 50]
  assert len(calls) == 1


def test_unwritable_data_dir_is_a_data_error(idx_dir, tmp_path, monkeypatch):
  (tmp_path / "a_file").write_text("")
  monkeypatch.setenv("CNNJAX_DATA_DIR", str(tmp_path / "a_file" / "data"))
  with pytest.raises(DataError, match="to a writable folder"):
    data.load_source("fashion_mnist")


@pytest.mark.skipif(real_debian_idx_dir() is None,
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_package_files_are_found_and_valid():
  folder = real_debian_idx_dir()
  paths = fashion_mnist.idx_paths(folder)
  images, labels = fashion_mnist.read_idx_split(paths["test"])
  assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
  assert np.bincount(labels).tolist() == [1000] * 10

"""Dataset names and Fashion-MNIST's search order, with tmp dirs only."""

import os
import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from cnnjax import data
from cnnjax.data import fashion_mnist
from cnnjax.errors import DataError
from data_test_utils import write_fashion_idx


def _first_image(split="train"):
  return data.load_source("fashion_mnist", split).source[0]["image"][..., 0]


def test_unknown_name_lists_known_names():
  with pytest.raises(DataError) as error:
    data.load_source("imagenet_22k")
  message = str(error.value)
  assert "imagenet_22k" in message
  for name in ("fashion_mnist", "digits", "tfds:<name>"):
    assert name in message


def test_env_dir_beats_debian_dir(tmp_path, monkeypatch):
  env_arrays = write_fashion_idx(str(tmp_path / "env"), seed=10)
  write_fashion_idx(str(tmp_path / "debian"), seed=20)
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, str(tmp_path / "env"))
  monkeypatch.setattr(fashion_mnist, "debian_idx_dir",
                      lambda: str(tmp_path / "debian"))
  source = data.load_source("fashion_mnist")
  assert f"IDX files in {tmp_path / 'env'}" in source.description
  np.testing.assert_array_equal(_first_image(), env_arrays["train"][0][0])


def test_debian_dir_used_without_env_dir(tmp_path, monkeypatch):
  debian_arrays = write_fashion_idx(str(tmp_path / "debian"), seed=20)
  monkeypatch.setattr(fashion_mnist, "debian_idx_dir",
                      lambda: str(tmp_path / "debian"))
  source = data.load_source("fashion_mnist", "test")
  assert f"IDX files in {tmp_path / 'debian'}" in source.description
  np.testing.assert_array_equal(_first_image("test"),
                                debian_arrays["test"][0][0])


def test_env_dir_without_files_is_an_error(tmp_path, monkeypatch):
  (tmp_path / "empty").mkdir()
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, str(tmp_path / "empty"))
  with pytest.raises(DataError, match="missing IDX files"):
    data.load_source("fashion_mnist")


def test_prepared_dataset_beats_idx_files(tmp_path, monkeypatch):
  first = write_fashion_idx(str(tmp_path / "first"), seed=1)
  write_fashion_idx(str(tmp_path / "second"), seed=2)
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, str(tmp_path / "first"))
  data.load_source("fashion_mnist")
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, str(tmp_path / "second"))
  source = data.load_source("fashion_mnist")
  # The dataset prepared from `first` is used, and says so.
  assert f"IDX files in {tmp_path / 'first'}" in source.description
  np.testing.assert_array_equal(_first_image(), first["train"][0][0])


class FashionMnist(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Stands in for the catalog's fashion_mnist: same name, PNG images."""

  VERSION = tfds.core.Version("3.0.1")
  code_path = None  # see CnnjaxFashionMnist

  def _info(self):
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(28, 28, 1)),
        "label": tfds.features.ClassLabel(num_classes=10)})
    return tfds.core.DatasetInfo(builder=self, features=features)

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for i in range(6):
      # PIL images are encoded without TensorFlow.
      image = Image.fromarray(np.full((28, 28), 40 * i, np.uint8))
      yield i, {"image": image, "label": i}


def test_catalog_dataset_beats_own_builder_and_idx(idx_dir, isolated_data):
  data.load_source("fashion_mnist")  # prepares cnnjax_fashion_mnist
  FashionMnist(data_dir=str(isolated_data),
               file_format="array_record").download_and_prepare()
  source = data.load_source("fashion_mnist")
  assert "catalog's fashion_mnist" in source.description
  assert len(source) == 6 and source.num_classes == 10
  # TFDS shuffled the records at preparation; each still pairs up.
  records = [source.source[i] for i in range(6)]
  assert sorted(r["label"] for r in records) == list(range(6))
  for record in records:
    assert record["image"].shape == (28, 28, 1)
    assert (record["image"] == 40 * record["label"]).all()


def _assert_lists_remedies(message, data_dir):
  assert "apt-get install dataset-fashion-mnist" in message
  assert "CNNJAX_FASHION_MNIST_DIR=<folder with the 4 IDX .gz files" in message
  assert "tfds.builder('fashion_mnist'" in message
  assert str(data_dir) in message


def test_nothing_found_lists_remedies(isolated_data):
  with pytest.raises(DataError) as error:
    data.load_source("fashion_mnist")
  _assert_lists_remedies(str(error.value), isolated_data)
  assert "downloads are disabled" in str(error.value)


def test_offline_download_fails_fast_with_remedies(isolated_data,
                                                   monkeypatch):
  monkeypatch.delenv(fashion_mnist.ENV_NO_DOWNLOAD)

  def offline(*args, **kwargs):
    raise OSError("Network is unreachable")

  monkeypatch.setattr(socket, "create_connection", offline)
  with pytest.raises(DataError) as error:
    data.load_source("fashion_mnist")
  _assert_lists_remedies(str(error.value), isolated_data)
  assert "unreachable" in str(error.value)


def test_download_path_prepares_from_downloaded_files(tmp_path, monkeypatch,
                                                      isolated_data):
  """Step c, with TFDS's downloader replaced by local copies."""
  arrays = write_fashion_idx(str(tmp_path / "mirror"), seed=7)
  monkeypatch.setattr(fashion_mnist, "_download_problem", lambda: None)
  requested = []

  def download(self, urls):
    requested.extend(urls.values())
    return {key: os.path.join(tmp_path, "mirror", os.path.basename(url))
            for key, url in urls.items()}

  monkeypatch.setattr(tfds.download.DownloadManager, "download", download)
  source = data.load_source("fashion_mnist", "test")
  assert all(url.startswith(fashion_mnist.DOWNLOAD_URL) for url in requested)
  assert len(requested) == 4
  assert "downloaded from http" in source.description
  np.testing.assert_array_equal(_first_image("test"), arrays["test"][0][0])


def test_default_data_dir_order(monkeypatch):
  monkeypatch.setenv("CNNJAX_DATA_DIR", "/a")
  monkeypatch.setenv("TFDS_DATA_DIR", "/b")
  assert data.default_data_dir() == "/a"
  monkeypatch.delenv("CNNJAX_DATA_DIR")
  assert data.default_data_dir() == "/b"
  monkeypatch.delenv("TFDS_DATA_DIR")
  assert data.default_data_dir() == os.path.expanduser("~/tensorflow_datasets")

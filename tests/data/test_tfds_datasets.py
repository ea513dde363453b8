"""'tfds:<name>' datasets, prepared by the tests with tiny builders."""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from cnnjax import data
from cnnjax.errors import DataError
from data_test_utils import make_data_config


def _images(count, seed, shape=(16, 12, 3)):
  return np.random.default_rng(seed).integers(0, 256, (count,) + shape,
                                              dtype=np.uint8)


class TinyTensors(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Non-square RGB uint8 tensors with 3 classes, two splits."""

  VERSION = tfds.core.Version("1.0.0")
  code_path = None  # see cnnjax.data.fashion_mnist.CnnjaxFashionMnist

  def _info(self):
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Tensor(shape=(16, 12, 3), dtype=np.uint8),
        "label": tfds.features.ClassLabel(num_classes=3),
        "extra": tfds.features.Tensor(shape=(), dtype=np.int64),
    })
    return tfds.core.DatasetInfo(builder=self, features=features,
                                 disable_shuffling=True)

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(_images(10, 0)),
            "test": self._generate_examples(_images(4, 1))}

  def _generate_examples(self, images):
    for i, image in enumerate(images):
      yield i, {"image": image, "label": i % 3, "extra": 7}


class TinyPngs(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Unlabeled gray images stored as PNG, like the catalog's image datasets."""

  VERSION = tfds.core.Version("2.0.0")
  code_path = None

  def _info(self):
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(20, 20, 1)),
    })
    return tfds.core.DatasetInfo(builder=self, features=features,
                                 disable_shuffling=True)

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for i, image in enumerate(_images(5, 2, (20, 20))):
      yield i, {"image": Image.fromarray(image)}  # PNG-encoded by PIL


@pytest.fixture
def tiny_datasets(isolated_data):
  for builder in (TinyTensors, TinyPngs):
    builder(data_dir=str(isolated_data),
            file_format="array_record").download_and_prepare()
  return isolated_data


def test_tensor_dataset_reads_back(tiny_datasets):
  source = data.load_source("tfds:tiny_tensors")
  assert len(source) == 10
  assert source.image_shape == (16, 12, 3) and source.num_classes == 3
  assert "tiny_tensors/1.0.0" in source.description
  expected = _images(10, 0)
  for i in range(10):
    record = source.source[i]
    np.testing.assert_array_equal(record["image"], expected[i])
    assert record["label"] == i % 3
  test = data.load_source("tfds:tiny_tensors:test")  # split in the name wins
  assert len(test) == 4
  np.testing.assert_array_equal(test.source[3]["image"], _images(4, 1)[3])
  assert len(data.load_source("tfds:tiny_tensors", "test")) == 4


def test_png_dataset_decodes_without_tensorflow(tiny_datasets):
  source = data.load_source("tfds:tiny_pngs")
  assert source.num_classes == 0 and source.image_shape == (20, 20, 1)
  images, labels = source.source.read_batch([0, 4])
  expected = _images(5, 2, (20, 20))
  np.testing.assert_array_equal(images[..., 0], expected[[0, 4]])
  assert labels.tolist() == [0, 0]
  assert "tensorflow" not in sys.modules


def test_unprepared_dataset_names_the_remedy(isolated_data):
  with pytest.raises(DataError) as error:
    data.load_source("tfds:cifar10")
  message = str(error.value)
  assert "no prepared TFDS dataset 'cifar10'" in message
  assert "file_format='array_record'" in message and str(isolated_data) in (
      message)


def test_unknown_split_lists_splits(tiny_datasets):
  with pytest.raises(DataError, match=r"Splits there: \['test', 'train'\]"):
    data.load_source("tfds:tiny_tensors:validation")


def test_pipeline_on_non_square_rgb_dataset(tiny_datasets):
  config = make_data_config(name="tfds:tiny_tensors", resolution=32,
                            channels=3, num_threads=0)
  batch = next(iter(data.make_train_dataset(
      config, global_batch_size=4, seed=0, process_index=0,
      process_count=1)))
  assert batch["image"].shape == (4, 32, 32, 3)
  assert batch["image"].dtype == np.float32
  assert -1 <= batch["image"].min() and batch["image"].max() <= 1
  assert set(batch["label"].tolist()) <= {0, 1, 2}

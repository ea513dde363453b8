"""scikit-learn's digits as a dataset."""

import numpy as np
import pytest

from cnnjax import data
from cnnjax.errors import DataError


def _all_images(source):
  images, labels = source.source.read_batch(np.arange(len(source)))
  return images, labels


def test_splits_are_disjoint_cover_everything_and_are_deterministic():
  train = data.load_source("digits", "train")
  test = data.load_source("digits", "test")
  everything = data.load_source("digits", "all")
  assert (len(train), len(test), len(everything)) == (1438, 359, 1797)
  train_images, train_labels = _all_images(train)
  test_images, _ = _all_images(test)
  all_images, _ = _all_images(everything)
  # "all" is the permuted order; train then test is exactly it.
  np.testing.assert_array_equal(
      np.concatenate([train_images, test_images]), all_images)
  again_images, again_labels = _all_images(data.load_source("digits", "train"))
  np.testing.assert_array_equal(again_images, train_images)
  np.testing.assert_array_equal(again_labels, train_labels)


def test_split_indices_are_disjoint():
  from cnnjax.data.digits import split_indices
  train, test = split_indices("train", 1797), split_indices("test", 1797)
  assert not set(train) & set(test)
  assert sorted(np.concatenate([train, test])) == list(range(1797))


def test_values_and_metadata():
  source = data.load_source("digits", "all")
  images, labels = _all_images(source)
  assert images.dtype == np.uint8 and images.shape == (1797, 8, 8, 1)
  # 0..16 maps onto 0..255 with both ends reached.
  assert images.min() == 0 and images.max() == 255
  assert set(np.unique(images)) <= {round(v * 255 / 16) for v in range(17)}
  assert sorted(set(labels.tolist())) == list(range(10))
  assert source.image_shape == (8, 8, 1) and source.num_classes == 10
  assert "load_digits" in source.description
  record = source.source[0]
  assert record["image"].shape == (8, 8, 1) and isinstance(record["label"], int)


def test_unknown_split():
  with pytest.raises(DataError, match="unknown split 'validation'"):
    data.load_source("digits", "validation")

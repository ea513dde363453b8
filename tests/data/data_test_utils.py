"""Helpers shared by the data tests (imported by name; see conftest.py)."""

import os

import ml_collections
import numpy as np

from cnnjax.data import fashion_mnist
from cnnjax.data.idx import write_idx


def write_fashion_idx(folder, *, seed: int, num_train: int = 50,
                      num_test: int = 20, compress: bool = True) -> dict:
  """Writes the four Fashion-MNIST IDX files with random content.

  Returns {"train": (images, labels), "test": (images, labels)}.
  """
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(seed)
  arrays = {}
  for split, count in (("train", num_train), ("test", num_test)):
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, (count,), dtype=np.uint8)
    image_stem, label_stem = fashion_mnist.IDX_FILES[split]
    suffix = ".gz" if compress else ""
    write_idx(os.path.join(folder, image_stem + suffix), images,
              compress=compress)
    write_idx(os.path.join(folder, label_stem + suffix), labels,
              compress=compress)
    arrays[split] = (images, labels)
  return arrays


def make_data_config(**overrides) -> ml_collections.ConfigDict:
  """A data config like the config files define, with `overrides`."""
  config = ml_collections.ConfigDict(dict(
      name="digits", split="train", data_dir="", resolution=32, channels=1,
      resize_method="auto", crop="center", num_threads=2, prefetch=4))
  config.update(overrides)
  return config

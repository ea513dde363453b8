"""scikit-learn's bundled 8x8 digits: a tiny labeled dataset, always offline.

Useful for smoke tests and quick experiments. Pixel values 0..16 become uint8
via round(v * 255 / 16). The splits come from one fixed permutation
(numpy default_rng(0)) of the 1797 images: "train" is its first 80%, "test"
the last 20%, "all" everything (in permuted order).
"""

import numpy as np

from cnnjax.data.sources import ArraySource, ImageSource
from cnnjax.errors import DataError

SPLITS = ("train", "test", "all")
_TRAIN_FRACTION = 0.8


def split_indices(split: str, num_images: int) -> np.ndarray:
  """Indices into sklearn's order that make up `split`."""
  if split not in SPLITS:
    raise DataError(f"digits: unknown split '{split}'; known: {SPLITS}.")
  order = np.random.default_rng(0).permutation(num_images)
  num_train = int(round(_TRAIN_FRACTION * num_images))
  return {"train": order[:num_train], "test": order[num_train:],
          "all": order}[split]


def load(split: str = "train") -> ImageSource:
  """The digits `split` as uint8 [N, 8, 8, 1] images with labels 0..9."""
  from sklearn.datasets import load_digits  # slow import; only when used
  bunch = load_digits()
  values = bunch.images  # float64 [1797, 8, 8] in 0..16
  images = np.round(values * (255.0 / 16.0)).astype(np.uint8)[..., None]
  indices = split_indices(split, len(images))
  return ImageSource(
      source=ArraySource(images[indices], bunch.target[indices]),
      image_shape=(8, 8, 1),
      num_classes=10,
      name="digits",
      description=f"digits: scikit-learn's bundled load_digits, split "
                  f"'{split}' ({len(indices)} of {len(images)} 8x8 images)",
  )

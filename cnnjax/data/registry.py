"""Datasets by name: what a config's `data.name` can say.

  "fashion_mnist"             Fashion-MNIST (see fashion_mnist.py for where
                              it is looked for)
  "digits"                    scikit-learn's 8x8 digits, always offline
  "tfds:<name>[:<split>]"     any image dataset already prepared with TFDS
                              (array_record) in the data dir
  "folder:<path>"             the PNG/JPEG files under a folder, labeled by
                              subfolder (see folder.py)

More can be added with `register`, e.g. from a test or an experiment script.
"""

from typing import Callable

from cnnjax.data import digits, fashion_mnist, folder, tfds_catalog
from cnnjax.data.sources import ImageSource
from cnnjax.errors import DataError

# name -> loader(split, data_dir) -> ImageSource
Loader = Callable[[str, str | None], ImageSource]

_LOADERS: dict[str, Loader] = {
    "fashion_mnist": fashion_mnist.load,
    "digits": lambda split, data_dir: digits.load(split),
}
TFDS_PREFIX = "tfds:"
FOLDER_PREFIX = folder.FOLDER_PREFIX


def register(name: str, loader: Loader) -> None:
  """Makes `load_source(name, ...)` call `loader(split, data_dir)`."""
  if name in _LOADERS or name.startswith((TFDS_PREFIX, FOLDER_PREFIX)):
    raise ValueError(f"dataset name '{name}' is taken")
  _LOADERS[name] = loader


def known_names() -> list[str]:
  """Names `load_source` accepts, with the TFDS and folder patterns last."""
  return sorted(_LOADERS) + [f"{TFDS_PREFIX}<name>[:<split>]",
                             f"{FOLDER_PREFIX}<path>"]


def load_source(name: str, split: str = "train",
                data_dir: str | None = None) -> ImageSource:
  """Finds dataset `name` and returns its `split` as an ImageSource.

  `data_dir` None or "" means $CNNJAX_DATA_DIR, else $TFDS_DATA_DIR, else
  ~/tensorflow_datasets. Raises DataError when the dataset is unknown,
  missing or unreadable; the message says how to fix it.
  """
  if name.startswith(TFDS_PREFIX):
    return tfds_catalog.load_tfds(name, split=split, data_dir=data_dir)
  if name.startswith(FOLDER_PREFIX):
    return folder.load(name, split)
  loader = _LOADERS.get(name)
  if loader is None:
    raise DataError(f"unknown dataset '{name}'; known: "
                    f"{', '.join(known_names())}.")
  return loader(split, data_dir or None)

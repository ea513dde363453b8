"""Datasets and the training input pipeline.

  src = data.load_source("fashion_mnist", "train")   # an ImageSource
  ds = data.make_train_dataset(config.data, global_batch_size=64, seed=0)
  batch = next(iter(ds))  # {"image": float32 [B, R, R, C] in [-1, 1],
                          #  "label": int32 [B]}

See registry.py for the dataset names and pipeline.py for how batches are
made and sharded over processes.
"""

from cnnjax.data.bench import measure_pipeline
from cnnjax.data.pipeline import make_train_dataset
from cnnjax.data.registry import known_names, load_source, register
from cnnjax.data.sources import ArraySource, ImageSource, check_labels
from cnnjax.data.tfds_catalog import default_data_dir

__all__ = [
    "ArraySource",
    "ImageSource",
    "check_labels",
    "default_data_dir",
    "known_names",
    "load_source",
    "make_train_dataset",
    "measure_pipeline",
    "register",
]

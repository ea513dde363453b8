"""Random-access image sources and the `ImageSource` description around them.

Every dataset, whatever it is stored in, is served as a random-access source
whose records are `{"image": uint8 [H, W, C], "label": int}`. Sources may also
offer `read_batch(indices) -> (images, labels)`, which the pipeline prefers
because one vectorised read is much cheaper than a Python call per record.
"""

import dataclasses
from typing import Any, Protocol, Sequence

import numpy as np

from cnnjax.errors import DataError


class RandomAccessSource(Protocol):
  """What the pipeline needs from a source: a length and indexed records."""

  def __len__(self) -> int:
    ...

  def __getitem__(self, index: int) -> dict[str, Any]:
    ...


@dataclasses.dataclass(frozen=True)
class ImageSource:
  """A dataset split, ready for the pipeline.

  Attributes:
    source: random access; `source[i]` is {"image": uint8 HxWxC, "label": int}.
    image_shape: (H, W, C) when every image has it, None when shapes vary.
    num_classes: number of label values, 0 for an unlabeled dataset (labels 0).
    name: the dataset name as the config spells it.
    description: where the data came from, in words, for logs and run notes.
    fingerprint: for data read from files that may change (a folder), a
      digest of what was found; "" for fixed datasets. Caches of derived
      numbers (reference statistics) are keyed by it.
  """

  source: RandomAccessSource
  image_shape: tuple[int, int, int] | None
  num_classes: int
  name: str
  description: str
  fingerprint: str = ""

  def __len__(self) -> int:
    return len(self.source)


def check_labels(image_source: ImageSource, num_classes: int) -> None:
  """Refuses a model with `num_classes` labels (0: none) for data whose
  labels it cannot take: any labels would be silently wrong."""
  have = image_source.num_classes
  if num_classes > 0 and have == 0:
    raise DataError(
        f"model.num_classes={num_classes} needs labeled data, but "
        f"{image_source.name} is unlabeled ({image_source.description}).")
  if 0 < num_classes < have:
    raise DataError(
        f"{image_source.name} has {have} classes but model.num_classes="
        f"{num_classes}; set --config.model.num_classes={have}.")


class ArraySource:
  """Images and labels held in memory as numpy arrays."""

  def __init__(self, images: np.ndarray, labels: np.ndarray):
    if images.ndim == 3:
      images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
      raise ValueError(f"images must be uint8 [N, H, W, C], got "
                       f"{images.dtype} {images.shape}")
    if len(labels) != len(images):
      raise ValueError(f"{len(images)} images but {len(labels)} labels")
    self.images = images
    self.labels = np.asarray(labels, dtype=np.int32)

  def __len__(self) -> int:
    return len(self.images)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return {"image": self.images[index], "label": int(self.labels[index])}

  def read_batch(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Returns (uint8 [B, H, W, C], int32 [B]) for `indices`."""
    indices = np.asarray(indices)
    return self.images[indices], self.labels[indices]


class TfdsSource:
  """Adapts a TFDS data source (array_record) to the record layout above.

  Only `image_key` and `label_key` are kept; `label_key=None` (no usable
  label feature) gives label 0 for every record.
  """

  def __init__(self, data_source, *, image_key: str = "image",
               label_key: str | None = "label", origin: str = ""):
    self.data_source = data_source
    self.image_key = image_key
    self.label_key = label_key
    self.origin = origin

  def __len__(self) -> int:
    return len(self.data_source)

  def __getitem__(self, index: int) -> dict[str, Any]:
    image, label = self._convert(self.data_source[int(index)])
    return {"image": image, "label": label}

  def read_batch(self, indices: Sequence[int]):
    """Returns (images, int32 labels); images stacked when shapes agree."""
    keys = [int(i) for i in indices]
    # ArrayRecord reads a list of keys in one call, much faster than a loop.
    records = self.data_source.__getitems__(keys)
    converted = [self._convert(r) for r in records]
    images = [c[0] for c in converted]
    labels = np.asarray([c[1] for c in converted], dtype=np.int32)
    if all(im.shape == images[0].shape for im in images):
      return np.stack(images), labels
    return images, labels

  def _convert(self, record: dict[str, Any]) -> tuple[np.ndarray, int]:
    try:
      image = np.asarray(record[self.image_key])
    except KeyError:
      raise DataError(f"{self.origin}: records have no '{self.image_key}' "
                      f"feature (features: {sorted(record)}).") from None
    if image.ndim == 2:
      image = image[..., None]
    if image.dtype != np.uint8 or image.ndim != 3:
      raise DataError(f"{self.origin}: '{self.image_key}' must be uint8 "
                      f"[H, W, C], got {image.dtype} {image.shape}.")
    label = 0 if self.label_key is None else int(record[self.label_key])
    return image, label

"""Finding and opening TFDS datasets that are already prepared on disk.

We look for prepared data ourselves (`<data_dir>/<name>[/<config>]/<version>/
dataset_info.json`) instead of asking `tfds.builder(name)`: that needs the
builder's code (absent for datasets prepared elsewhere), may reach for the
network, and picks the version the code wants rather than the one on disk.
Reading goes through `builder_from_directory(...).as_data_source`, the same
ArrayRecord reader `tfds.data_source` uses, and needs no TensorFlow (images
stored as `tfds.features.Image` are decoded with PIL).
"""

import dataclasses
import os
import re

from cnnjax.data.sources import ImageSource, TfdsSource
from cnnjax.errors import DataError

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def default_data_dir() -> str:
  """$CNNJAX_DATA_DIR, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  for var in ("CNNJAX_DATA_DIR", "TFDS_DATA_DIR"):
    if os.environ.get(var):
      return os.path.expanduser(os.environ[var])
  return os.path.expanduser("~/tensorflow_datasets")


def resolve_data_dir(data_dir: str | None) -> str:
  """The data dir to use: the given one, or the default when None or ""."""
  return os.path.expanduser(data_dir) if data_dir else default_data_dir()


@dataclasses.dataclass(frozen=True)
class PreparedDataset:
  """A prepared dataset version on disk."""

  path: str             # <data_dir>/<name>[/<config>]/<version>
  file_formats: tuple[str, ...]   # e.g. ("array_record",)

  @property
  def random_access(self) -> bool:
    return "array_record" in self.file_formats


def find_prepared(data_dir: str, name: str) -> PreparedDataset | None:
  """Returns the newest prepared version of `name` ("ds" or "ds/config").

  Only complete versions count: TFDS prepares into `incomplete.*` folders and
  renames them when done, and writes dataset_info.json last.
  """
  dataset_dir = os.path.join(data_dir, name)
  try:
    entries = os.listdir(dataset_dir)
  except OSError:
    return None
  versions = []
  for entry in entries:
    match = _VERSION_RE.match(entry)
    info = os.path.join(dataset_dir, entry, "dataset_info.json")
    if match and os.path.isfile(info):
      versions.append((tuple(int(g) for g in match.groups()), entry))
  if not versions:
    return None
  path = os.path.join(dataset_dir, max(versions)[1])
  return PreparedDataset(path=path, file_formats=_file_formats(path))


def _file_formats(path: str) -> tuple[str, ...]:
  """The record formats a prepared version holds, read from its info."""
  builder = _builder_from_directory(path)
  return tuple(sorted(f.value for f in builder.info.available_file_formats()))


def _builder_from_directory(path: str):
  import tensorflow_datasets as tfds  # slow import; only when a dataset is read
  try:
    return tfds.builder_from_directory(path)
  except Exception as e:  # tfds raises many kinds for a broken folder
    raise DataError(
        f"{path}: the prepared TFDS dataset cannot be read ({type(e).__name__}:"
        f" {e}). Delete the folder and prepare it again."
    ) from e


def open_prepared(prepared: PreparedDataset, *, split: str, name: str,
                  provenance: str = "") -> ImageSource:
  """Opens one split of a prepared dataset as an ImageSource.

  The records' "image" feature is used, and "label" when it is a ClassLabel
  (other datasets are treated as unlabeled: label 0, num_classes 0).
  `provenance` is appended to the path in the description (e.g. " from IDX
  files in <dir>").
  """
  if not prepared.random_access:
    raise DataError(
        f"{name}: the dataset at {prepared.path} is stored as "
        f"{', '.join(prepared.file_formats)}, which has no random access. "
        f"Prepare it again with file_format='array_record', e.g. "
        f"tfds.builder(..., file_format='array_record').download_and_prepare()"
        f", into another data dir or after deleting that folder."
    )
  builder = _builder_from_directory(prepared.path)
  features = builder.info.features
  if "image" not in features:
    raise DataError(f"{name}: {prepared.path} has no 'image' feature "
                    f"(features: {sorted(features.keys())}).")
  try:
    data_source = builder.as_data_source(split=split)
  except Exception as e:  # unknown split names surface as several types
    raise DataError(
        f"{name}: cannot open split '{split}' of {prepared.path} ({e}). "
        f"Splits there: {sorted(builder.info.splits.keys())}."
    ) from e

  num_classes = 0
  label_key = None
  label = features["label"] if "label" in features else None
  if label is not None and type(label).__name__ == "ClassLabel":
    num_classes, label_key = label.num_classes, "label"
  shape = tuple(features["image"].shape)
  if len(shape) == 2:
    shape = shape + (1,)
  image_shape = shape if None not in shape and len(shape) == 3 else None
  return ImageSource(
      source=TfdsSource(data_source, label_key=label_key, origin=prepared.path),
      image_shape=image_shape,
      num_classes=num_classes,
      name=name,
      description=f"{name}: TFDS array_record dataset prepared at "
                  f"{prepared.path}{provenance}, split '{split}' "
                  f"({len(data_source)} images)",
  )


def load_tfds(spec: str, *, split: str, data_dir: str | None) -> ImageSource:
  """Loads "tfds:<name>[:<split>]" (name may be "<dataset>/<config>").

  A split in the name overrides `split`. Only prepared data is used; nothing
  is downloaded.
  """
  parts = spec.split(":")
  if len(parts) not in (2, 3) or not parts[1]:
    raise DataError(f"'{spec}': expected 'tfds:<name>' or "
                    f"'tfds:<name>:<split>'.")
  tfds_name = parts[1]
  if len(parts) == 3 and parts[2]:
    split = parts[2]
  root = resolve_data_dir(data_dir)
  prepared = find_prepared(root, tfds_name)
  if prepared is None:
    raise DataError(
        f"{spec}: no prepared TFDS dataset '{tfds_name}' in {root} (looked "
        f"for {os.path.join(root, tfds_name, '<version>', 'dataset_info.json')}"
        f"). Prepare it once where it can be downloaded, in array_record "
        f"format: tfds.builder('{tfds_name}', data_dir='{root}', "
        f"file_format='array_record').download_and_prepare(); or point "
        f"data_dir / $CNNJAX_DATA_DIR at the folder that holds it."
    )
  return open_prepared(prepared, split=split, name=spec)

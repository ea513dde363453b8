"""The training input pipeline: one grain pipeline for every dataset.

The pipeline works on record *indices* until the last step:

  range(N) -> shuffle (a new full permutation each epoch) -> repeat forever
  -> batch into local batches of B_local = global_batch_size // process_count
  -> keep every process_count-th local batch, from process_index
  -> read those records and preprocess the whole batch at once

With `data.crop = "random"` each element also carries its epoch, and the
crop of a record is placed by a hash of (run seed, epoch, record index):
the same in a resumed run and on any number of processes, and different in
each epoch. Evaluations read through `BatchReader` alone and always crop
the center.

Global batch b is local batches b*P .. b*P+P-1, so process p gets rows
[p*B_local, (p+1)*B_local) of what a single process would see, and reads only
its own records. Every step is a pure function of the element index, so the
iterator's state is one integer (grain's `next_index`) and a restored
iterator continues bitwise identically.

Further streams (`streams`, e.g. AdaIN's style images beside its content
images) are built the same way from their own source and a seed derived
from the run seed and the stream's name, and read by random access at the
main stream's element index: batch b holds the stream's batch b. One
stream's images thus never depend on another's, each cycles through its
own records epoch by epoch, and the one integer of the iterator's state
still resumes all of them; a second grain iterator would need its own
entry in every checkpoint and rollback.
"""

import dataclasses
import functools
import zlib
from typing import Any

import grain
import numpy as np

from cnnjax.data import transforms
from cnnjax.data.registry import load_source
from cnnjax.data.sources import ImageSource
from cnnjax.errors import ConfigError, DataError

CROPS = ("center", "random")


@dataclasses.dataclass(frozen=True)
class BatchReader:
  """Reads a batch of records by index and turns it into model input."""

  source: Any
  resolution: int
  channels: int
  resize_method: str

  def __call__(self, indices: np.ndarray,
               crop_positions: np.ndarray | None = None
               ) -> dict[str, np.ndarray]:
    """`crop_positions`: see `transforms.to_resolution` (None: centered)."""
    images, labels = read_records(self.source, indices)
    images = transforms.to_resolution(images, self.resolution,
                                      self.resize_method, crop_positions)
    return {"image": transforms.to_float(images, self.channels),
            "label": labels}


@dataclasses.dataclass(frozen=True)
class RandomCropReader:
  """A BatchReader for batches of (record indices, epochs) whose crops are
  placed by `crop_positions`."""

  reader: BatchReader
  seed: int

  def __call__(self, batch: tuple[np.ndarray, np.ndarray]
               ) -> dict[str, np.ndarray]:
    indices, epochs = batch
    return self.reader(indices, crop_positions(self.seed, epochs, indices))


def crop_positions(seed: int, epochs: np.ndarray,
                   indices: np.ndarray) -> np.ndarray:
  """float64 [B] in [0, 1): where each record's square crop sits, a pure
  function of (seed, epoch, record index)."""
  return np.asarray([
      np.random.SeedSequence([seed, int(epoch), int(index)]).generate_state(
          1, dtype=np.uint64)[0] / 2.0**64
      for epoch, index in zip(epochs, indices)], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class WithStreams:
  """Reads a main-stream element and, at its index, each further stream's
  batch, as batch["<name>_image"]."""

  reader: Any
  streams: tuple[tuple[str, Any, Any], ...]  # (name, batches, reader)

  def __call__(self, position: int, element) -> dict[str, np.ndarray]:
    batch = self.reader(element)
    for name, batches, reader in self.streams:
      batch[f"{name}_image"] = reader(batches[position])["image"]
    return batch


def _with_epoch(num_records: int, position: int, record: int):
  """(record, epoch) of the element at `position` in the repeated stream."""
  return record, position // num_records


def read_records(source, indices: np.ndarray):
  """(images, int32 labels) for `indices`; images as a uint8 [B, H, W, C]
  array or, when shapes differ, a list."""
  if hasattr(source, "read_batch"):
    return source.read_batch(indices)
  records = [source[int(i)] for i in indices]
  images = [np.asarray(r["image"]) for r in records]
  labels = np.asarray([r["label"] for r in records], dtype=np.int32)
  if all(image.shape == images[0].shape for image in images):
    return np.stack(images), labels
  return images, labels


def shuffle_seed(seed: int) -> int:
  """A 32-bit shuffle seed derived from the run seed.

  grain reshuffles epoch e with seed + e, so runs with seeds s and s + 1
  would see the same orders shifted by one epoch; hashing the seed first
  makes different runs' orders unrelated.
  """
  return _derived_seed(seed, 0x6461_7461)


def crop_seed(seed: int) -> int:
  """The seed of random crops, unrelated to the shuffle seed."""
  return _derived_seed(seed, 0x6372_6f70)


def stream_seed(seed: int, name: str) -> int:
  """The run seed of stream `name`: its order and crops are unrelated to
  the main stream's and to other streams'."""
  return _derived_seed(seed, zlib.crc32(f"stream:{name}".encode("utf-8")))


def _derived_seed(seed: int, purpose: int) -> int:
  sequence = np.random.SeedSequence([int(seed) & (2**64 - 1), purpose])
  return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _process_layout(global_batch_size: int, process_index: int | None,
                    process_count: int | None) -> tuple[int, int, int]:
  """(process_index, process_count, local batch size), validated."""
  if process_index is None or process_count is None:
    import jax  # only needed for the defaults
    if process_index is None:
      process_index = jax.process_index()
    if process_count is None:
      process_count = jax.process_count()
  if not 0 <= process_index < process_count:
    raise ConfigError(f"process_index {process_index} is not in "
                      f"[0, {process_count}).")
  if global_batch_size <= 0 or global_batch_size % process_count:
    raise ConfigError(f"the global batch size {global_batch_size} must be a "
                      f"positive multiple of the {process_count} processes.")
  return process_index, process_count, global_batch_size // process_count


def _check_image_config(data_config, image_source: ImageSource) -> None:
  """Fails before the first batch for settings that cannot work."""
  if data_config.resolution <= 0:
    raise ConfigError(f"data.resolution must be positive, got "
                      f"{data_config.resolution}.")
  if data_config.channels not in (1, 3):
    raise ConfigError(f"data.channels must be 1 or 3, got "
                      f"{data_config.channels}.")
  if image_source.image_shape is not None:
    height, width, source_channels = image_source.image_shape
    if source_channels not in (1, 3):
      raise DataError(f"{image_source.name}: images have {source_channels} "
                      f"channels; only gray (1) and RGB (3) are supported.")
    # Raises for an unknown method and for 'pad' on larger images.
    transforms.resolve_method(data_config.resize_method, min(height, width),
                              data_config.resolution)
  else:
    transforms.resolve_method(data_config.resize_method, 1, 1)
  if data_config.get("crop", "center") not in CROPS:
    raise ConfigError(f"data.crop '{data_config.crop}' is unknown; choose one "
                      f"of {CROPS}.")
  if len(image_source) == 0:
    raise DataError(f"{image_source.name}: the split is empty "
                    f"({image_source.description}).")


def make_train_dataset(data_config, *, global_batch_size: int, seed: int,
                       process_index: int | None = None,
                       process_count: int | None = None,
                       image_source: ImageSource | None = None,
                       streams: dict[str, tuple[Any, ImageSource | None]]
                       | None = None) -> grain.IterDataset:
  """The infinite, shuffled, sharded training stream of this process.

  Args:
    data_config: ConfigDict with name, split, data_dir, resolution, channels,
      resize_method, crop (absent: "center"), num_threads and prefetch
      (see cnnjax/config.py).
    global_batch_size: images per step over all processes.
    seed: run seed; the same seed gives the same stream.
    process_index, process_count: default to jax.process_index() and
      jax.process_count().
    image_source: an already loaded source (skips `load_source`); for callers
      that load it once for several pipelines, and for tests.
    streams: further image streams, {name: (data section, its source or
      None to load it)}, drawn in step with this one (module docstring).

  Returns:
    An IterDataset whose iterator yields, forever, {"image": float32
    [B_local, R, R, C] in [-1, 1], "label": int32 [B_local]} (and
    "<name>_image" of each stream) and supports get_state()/set_state() and
    grain.checkpoint.CheckpointSave/Restore.
  """
  index, count, local_batch = _process_layout(global_batch_size,
                                              process_index, process_count)
  own_batches, reader = _own_batches(data_config, image_source, seed,
                                     local_batch, index, count)
  read_options = grain.ReadOptions(
      num_threads=data_config.num_threads,
      prefetch_buffer_size=max(data_config.prefetch, 1))
  if not streams:
    return own_batches.map(reader).to_iter_dataset(read_options)
  others = tuple(
      (name, *_own_batches(section, source, stream_seed(seed, name),
                           local_batch, index, count))
      for name, (section, source) in streams.items())
  return own_batches.map_with_index(WithStreams(reader, others)
                                    ).to_iter_dataset(read_options)


def _own_batches(data_config, image_source: ImageSource | None, seed: int,
                 local_batch: int, index: int, count: int):
  """(this process's batches of record indices, as a MapDataset, and the
  reader that turns one into model input) of one stream."""
  if image_source is None:
    image_source = load_source(data_config.name, data_config.split,
                               data_config.data_dir or None)
  _check_image_config(data_config, image_source)
  reader = BatchReader(source=image_source.source,
                       resolution=data_config.resolution,
                       channels=data_config.channels,
                       resize_method=data_config.resize_method)
  records = (grain.MapDataset.range(len(image_source))
             .shuffle(seed=shuffle_seed(seed))
             .repeat())
  if data_config.get("crop", "center") == "random":
    # Before batching and sharding: the index is the position in the
    # global stream, whatever the number of processes.
    records = records.map_with_index(
        functools.partial(_with_epoch, len(image_source)))
    reader = RandomCropReader(reader, crop_seed(seed))
  return records.batch(local_batch)[index::count], reader

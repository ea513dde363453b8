"""The grain training pipeline: batches, shuffling, epochs and sharding."""

import itertools
import threading

import numpy as np
import pytest

from cnnjax import data
from cnnjax.errors import ConfigError, DataError
from data_test_utils import make_data_config


class CountingSource(data.ArraySource):
  """An in-memory source whose labels are record indices; logs its reads."""

  def __init__(self, count, shape=(28, 28, 1)):
    images = np.random.default_rng(0).integers(0, 256, (count,) + shape,
                                               dtype=np.uint8)
    super().__init__(images, np.arange(count))
    self.reads = []
    self._lock = threading.Lock()

  def read_batch(self, indices):
    with self._lock:
      self.reads.extend(int(i) for i in indices)
    return super().read_batch(indices)


def _image_source(count=50, shape=(28, 28, 1)):
  return data.ImageSource(source=CountingSource(count, shape),
                          image_shape=shape, num_classes=0, name="counting",
                          description="test")


def _batches(dataset, count):
  return list(itertools.islice(iter(dataset), count))


def _dataset(image_source, *, batch=8, seed=0, index=0, count=1, **config):
  return data.make_train_dataset(
      make_data_config(**config), global_batch_size=batch, seed=seed,
      process_index=index, process_count=count, image_source=image_source)


def test_fashion_mnist_28_pads_to_32(idx_dir):
  config = make_data_config(name="fashion_mnist", resolution=32, channels=1)
  batch = next(iter(data.make_train_dataset(
      config, global_batch_size=16, seed=0, process_index=0,
      process_count=1)))
  assert batch["image"].shape == (16, 32, 32, 1)
  assert batch["image"].dtype == np.float32
  assert batch["label"].dtype == np.int32 and batch["label"].shape == (16,)
  assert (batch["image"][:, :2] == -1).all()  # the padded border
  assert batch["image"].min() >= -1 and batch["image"].max() <= 1


def test_digits_8_resizes_to_32_in_rgb():
  config = make_data_config(name="digits", resolution=32, channels=3)
  batch = next(iter(data.make_train_dataset(
      config, global_batch_size=16, seed=0, process_index=0,
      process_count=1)))
  assert batch["image"].shape == (16, 32, 32, 3)
  np.testing.assert_array_equal(batch["image"][..., 0], batch["image"][..., 2])
  assert batch["image"].min() >= -1 and batch["image"].max() <= 1
  assert set(batch["label"].tolist()) <= set(range(10))


def test_same_seed_same_batches_other_seed_other_batches():
  source = _image_source()
  first = _batches(_dataset(source, seed=3), 4)
  again = _batches(_dataset(source, seed=3), 4)
  other = _batches(_dataset(source, seed=4), 4)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])
  assert any((a["label"] != b["label"]).any() for a, b in zip(first, other))


def test_every_epoch_is_a_new_permutation():
  # 50 records, batches of 8: epochs end mid-batch and the stream goes on.
  labels = np.concatenate(
      [b["label"] for b in _batches(_dataset(_image_source()), 25)])
  epochs = labels[:200].reshape(4, 50)
  for epoch in epochs:
    assert sorted(epoch.tolist()) == list(range(50))
  assert len({tuple(epoch) for epoch in epochs}) == 4
  assert (epochs[0] != np.arange(50)).any()  # actually shuffled


@pytest.mark.parametrize("count", [2, 4])
def test_processes_get_their_rows_of_the_global_batch(count):
  single_source = _image_source()
  single = _batches(_dataset(single_source, batch=16), 7)
  sources = [_image_source() for _ in range(count)]
  per_process = [_batches(_dataset(sources[p], batch=16, index=p,
                                   count=count, num_threads=0), 7)
                 for p in range(count)]
  for step, global_batch in enumerate(single):
    local = [per_process[p][step] for p in range(count)]
    assert all(len(batch["label"]) == 16 // count for batch in local)
    for key in ("image", "label"):
      np.testing.assert_array_equal(
          np.concatenate([batch[key] for batch in local]), global_batch[key])
  # Each process read only its own records: together exactly the global ones.
  reads = [source.source.reads for source in sources]
  assert sorted(sum(reads, [])) == sorted(
      np.concatenate([b["label"] for b in single]).tolist())


def test_default_process_layout_is_jax_single_process():
  import jax
  config = make_data_config(name="digits", num_threads=0)
  batch = next(iter(data.make_train_dataset(config, global_batch_size=8,
                                            seed=0)))
  assert len(batch["label"]) == 8 // jax.process_count()


def test_invalid_settings_fail_before_the_first_batch():
  source = _image_source()
  with pytest.raises(ConfigError, match="multiple of the 3 processes"):
    _dataset(source, batch=8, count=3)
  with pytest.raises(ConfigError, match="channels must be 1 or 3"):
    _dataset(source, channels=4)
  with pytest.raises(ConfigError, match="resize_method 'area'"):
    _dataset(source, resize_method="area")
  with pytest.raises(DataError, match="'pad' cannot shrink 28x28"):
    _dataset(source, resize_method="pad", resolution=16)


def test_measure_pipeline_reports_throughput():
  config = make_data_config(name="digits", resolution=32, num_threads=2)
  result = data.measure_pipeline(config, global_batch_size=32, num_batches=5)
  assert result["batches"] == 5 and result["batch_size"] == 32
  assert result["images_per_sec"] == pytest.approx(5 * 32 / result["seconds"])

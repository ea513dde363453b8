"""Exact resume of the training stream, by state dict and through orbax."""

import itertools

import grain
import numpy as np
import orbax.checkpoint as ocp
import pytest

from cnnjax import data
from data_test_utils import make_data_config


def _dataset(seed=0):
  # digits' train split has 1438 images: 45 batches of 32 cross an epoch.
  config = make_data_config(name="digits", resolution=16, num_threads=2,
                            prefetch=4)
  return data.make_train_dataset(config, global_batch_size=32, seed=seed,
                                 process_index=0, process_count=1)


def _assert_same(batches, others):
  assert len(batches) == len(others)
  for a, b in zip(batches, others):
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])


@pytest.mark.parametrize("skip", [3, 44])  # 44: the epoch ends in batch 45
def test_set_state_resumes_bitwise(skip):
  dataset = _dataset()
  reference = list(itertools.islice(iter(dataset), skip + 5))
  iterator = iter(dataset)
  for _ in range(skip):
    next(iterator)
  state = iterator.get_state()
  restored = iter(dataset)
  next(restored)  # a used iterator is overwritten completely by set_state
  restored.set_state(state)
  _assert_same(list(itertools.islice(restored, 5)), reference[skip:])
  _assert_same(list(itertools.islice(iterator, 5)), reference[skip:])


def test_orbax_checkpoint_manager_round_trip(tmp_path):
  dataset = _dataset(seed=5)
  reference = list(itertools.islice(iter(dataset), 50))
  iterator = iter(dataset)
  for _ in range(43):
    next(iterator)
  with ocp.CheckpointManager(tmp_path / "checkpoints") as manager:
    manager.save(43, args=ocp.args.Composite(
        data=grain.checkpoint.CheckpointSave(iterator)))
    manager.wait_until_finished()
  # A new process would build a fresh pipeline and restore into it.
  restored = iter(_dataset(seed=5))
  with ocp.CheckpointManager(tmp_path / "checkpoints") as manager:
    assert manager.latest_step() == 43
    manager.restore(43, args=ocp.args.Composite(
        data=grain.checkpoint.CheckpointRestore(restored)))
  _assert_same(list(itertools.islice(restored, 7)), reference[43:])

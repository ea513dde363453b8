"""Further image streams (`make_train_dataset(streams=...)`, AdaIN's style
images): read at the main stream's element index, so the one iterator
state resumes them, adding one leaves the main stream as it was, and
processes split them as they split the main one."""

import itertools

import numpy as np

from cnnjax import data
from cnnjax.data import pipeline
from data_test_utils import make_data_config


def _dataset(streams=True, process_index=0, process_count=1, batch=8):
  main = make_data_config(name="digits", resolution=8)
  style = make_data_config(name="digits", split="test", resolution=8,
                           crop="random")
  return data.make_train_dataset(
      main, global_batch_size=batch, seed=3, process_index=process_index,
      process_count=process_count,
      streams={"style": (style, None)} if streams else None)


def test_main_stream_is_unchanged_and_the_stream_is_its_own():
  plain = list(itertools.islice(iter(_dataset(streams=False)), 3))
  both = list(itertools.islice(iter(_dataset()), 3))
  test_split = data.load_source("digits", "test").source
  for a, b in zip(plain, both):
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])
    assert b["style_image"].shape == b["image"].shape
  # The style images are test-split digits (8x8: no crop or resize), a
  # permutation of their own, not the main stream's order.
  style = np.concatenate([b["style_image"] for b in both])
  pixels = np.round((style[..., 0] + 1) * 127.5).astype(np.uint8)
  found = [next(i for i in range(len(test_split))
                if np.array_equal(test_split[i]["image"][..., 0], p))
           for p in pixels]
  assert len(set(found)) == len(found)  # 24 distinct of 359: one epoch
  assert found != sorted(found)


def test_a_restored_iterator_continues_every_stream():
  reference = list(itertools.islice(iter(_dataset()), 6))
  iterator = iter(_dataset())
  for _ in range(4):
    next(iterator)
  restored = iter(_dataset())
  restored.set_state(iterator.get_state())
  for a, b in zip(itertools.islice(restored, 2), reference[4:]):
    np.testing.assert_array_equal(a["style_image"], b["style_image"])
    np.testing.assert_array_equal(a["image"], b["image"])


def test_processes_split_the_stream_as_one_process_reads_it():
  whole = next(iter(_dataset()))
  halves = [next(iter(_dataset(process_index=p, process_count=2)))
            for p in (0, 1)]
  np.testing.assert_array_equal(
      np.concatenate([h["style_image"] for h in halves]),
      whole["style_image"])


def test_stream_seeds_differ_by_name_and_from_the_run_seed():
  seeds = {pipeline.stream_seed(0, "style"), pipeline.stream_seed(0, "other"),
           pipeline.stream_seed(1, "style"), 0, 1}
  assert len(seeds) == 5

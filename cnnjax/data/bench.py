"""How fast the input pipeline delivers batches on this machine."""

import time

from cnnjax.data.pipeline import make_train_dataset


def measure_pipeline(data_config, *, global_batch_size: int,
                     num_batches: int = 200, seed: int = 0,
                     process_index: int | None = None,
                     process_count: int | None = None) -> dict:
  """Times `num_batches` batches of this process's training stream.

  The first batch is fetched before the clock starts: it pays for loading
  the source, starting the reader threads and filling nothing yet, which a
  long run pays once.

  Returns:
    {"images_per_sec", "batches", "seconds", "batch_size"} where batch_size
    is the local (per-process) batch size.
  """
  dataset = make_train_dataset(data_config,
                               global_batch_size=global_batch_size, seed=seed,
                               process_index=process_index,
                               process_count=process_count)
  iterator = iter(dataset)
  batch_size = len(next(iterator)["label"])
  start = time.perf_counter()
  for _ in range(num_batches):
    next(iterator)
  seconds = time.perf_counter() - start
  return {
      "images_per_sec": num_batches * batch_size / seconds,
      "batches": num_batches,
      "seconds": seconds,
      "batch_size": batch_size,
  }

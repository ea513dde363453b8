"""Times each part of a 10k-vs-10k evaluation of a trained GAN workdir.

  .venv/bin/python experiments/2026-11-25-evaluation/time_eval.py \
      --workdir runs/families/dcgan --extractor classifier:runs/clf_fmnist

Prints one JSON line: seconds to set the evaluator up (reference read from
the cache or computed), to read and extract the 10k reference images, to
generate and extract the samples, for each metric, and for one whole
evaluation as training runs it.
"""

import argparse
import json
import time

import jax
import numpy as np

from cnnjax import data, metrics, runs
from cnnjax.data.pipeline import BatchReader
from cnnjax.evaluation import evaluate
from cnnjax.tasks.gan import sampling


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--extractor", required=True)
  parser.add_argument("--num_samples", type=int, default=10000)
  args = parser.parse_args()
  run = runs.load(args.workdir)
  config, weights = run.config, sampling.sampling_weights(run.state)
  times = {}
  start = time.perf_counter()
  evaluator = run.task.evaluator(run.mesh, args.extractor, args.num_samples)
  times["evaluator_setup"] = time.perf_counter() - start
  times["reference_was_cached"] = not evaluator.reference.computed
  # What computing the reference costs: read, preprocess and extract 10k.
  source = data.load_source(config.data.name, config.eval.split,
                            config.data.data_dir or None)
  reader = BatchReader(source.source, config.data.resolution,
                       config.data.channels, config.data.resize_method)
  count = len(evaluator.reference.features)
  start = time.perf_counter()
  evaluator.extract_batches(reader(np.arange(i, min(i + 500, count)))["image"]
                            for i in range(0, count, 500))
  times["reference_read_and_extract"] = time.perf_counter() - start
  evaluator.generate_features(weights)  # compile
  start = time.perf_counter()
  features, logits, _ = evaluator.generate_features(weights)
  times["generate_and_extract"] = time.perf_counter() - start
  real = evaluator.reference.features
  for name, fn in [
      ("fid", lambda: metrics.fid_from_features(real, features)),
      ("kid", lambda: metrics.kid_from_features(real, features)),
      ("precision_recall", lambda: metrics.precision_recall(real, features)),
      ("inception_score", lambda: metrics.inception_score(
          np.asarray(jax.nn.softmax(logits, -1), np.float64)))]:
    start = time.perf_counter()
    fn()
    times[name] = time.perf_counter() - start
  # The floor: 10k real test images scored like samples against the train
  # reference (what a perfect generator would get, up to sampling noise).
  test = data.load_source(config.data.name, "test", config.data.data_dir or None)
  test_reader = BatchReader(test.source, config.data.resolution,
                            config.data.channels, config.data.resize_method)
  test_features, test_logits = evaluator.extract_batches(
      test_reader(np.arange(i, min(i + 500, len(test.source))))["image"]
      for i in range(0, min(count, len(test.source)), 500))
  floor = evaluate.compute_metrics(evaluator.reference, test_features,
                                   test_logits, None, evaluator.extractor,
                                   config.data.name)
  start = time.perf_counter()
  row = evaluator(weights)
  times["whole_evaluation"] = time.perf_counter() - start
  print(json.dumps({"step": run.step, "num_samples": len(features),
                    "num_real": len(real), "devices": run.mesh.size,
                    "seconds": {k: round(v, 3) if isinstance(v, float) else v
                                for k, v in times.items()},
                    "metrics": row, "real_test_vs_reference": floor}))


if __name__ == "__main__":
  main()

"""The classifier task: trained by the shared loop, evaluated on the held-out
split, resumable bitwise, and its features shaped for FID."""

import json
import os

import jax
import numpy as np

from cnnjax import data, runs
from cnnjax.models import variables
from cnnjax.tasks.classifier import task as classifier
from cnnjax.train import loop
from tests.conftest import digests, load_config, stopped_copy


def test_features_and_logits_shapes():
  config = load_config("classifier", "fashion_mnist")
  model = classifier.build(config, 0)
  images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1))
  images = images.astype(np.float32)
  assert model.features(images).shape == (3, 128)
  assert model(images).shape == (3, 10)
  layers = model.activations(images, ("block1", "block3", "logits"))
  assert [layers[n].shape for n in ("block1", "block3", "logits")] == [
      (3, 16, 16, 32), (3, 4, 4, 128), (3, 10)]
  np.testing.assert_array_equal(layers["logits"], model(images))


def test_logged_test_accuracy_matches_an_independent_count(tmp_path):
  config = load_config("classifier", "tiny")
  workdir = str(tmp_path)
  result = loop.train_and_evaluate(config, workdir)
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  evals = [r for r in rows if "test_accuracy" in r]
  assert [r["step"] for r in evals] == [10, 20]
  assert result["eval"]["test_accuracy"] == evals[-1]["test_accuracy"]
  # Recount with the restored weights, image by image, outside the evaluator.
  run = runs.load(workdir)
  model = variables.merge(run.task.graphdef,
                          jax.device_get(run.state.classifier))
  source = data.load_source("digits", "test")
  reader = data.pipeline.BatchReader(source.source, 32, 1, "auto")
  correct = 0
  for index in range(len(source.source)):
    batch = reader(np.array([index]))
    correct += int(np.argmax(model(batch["image"])[0]) == batch["label"][0])
  assert len(source.source) == 359
  assert np.isclose(evals[-1]["test_accuracy"], correct / len(source.source))


def test_classifier_resume_is_bitwise(tmp_path):
  straight = load_config("classifier", "tiny")  # checkpoints 10 and 20
  loop.train_and_evaluate(straight, str(tmp_path / "straight"))
  resumed = stopped_copy(str(tmp_path / "straight"),
                         str(tmp_path / "resumed"), 10)
  loop.train_and_evaluate(load_config("classifier", "tiny"), resumed)
  assert (digests(str(tmp_path / "straight")) == digests(resumed))

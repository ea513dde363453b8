"""Evaluation: extractors, the reference cache, the evaluator, evaluation
during training with a best checkpoint, and `cnnjax eval`."""

import json
import os
import shutil

import jax
import numpy as np
import pytest
import scipy.linalg

from cnnjax import commands, config as config_lib, data, runs, sharding, tasks
from cnnjax.data import transforms
from cnnjax.errors import UserError
from cnnjax.evaluation import extractors, reference
from cnnjax.nets import classifier as classifier_net
from cnnjax.tasks.gan import sampling
from cnnjax.train import loop
from cnnjax.utils.trees import tree_sha256
from tests.conftest import cli, load_config


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
  """A tiny classifier trained on digits: the extractor of these tests."""
  workdir = str(tmp_path_factory.mktemp("classifier"))
  loop.train_and_evaluate(load_config("classifier", "tiny"), workdir)
  return workdir


def gan_config(classifier_dir, name="dcgan", **fields):
  config = load_config(name, "tiny")
  config.eval.extractor = f"classifier:{classifier_dir}"
  for field, value in fields.items():
    section, key = field.split("__")
    config[section][key] = value
  return config


@pytest.fixture(scope="module")
def gan_run(classifier_dir, tmp_path_factory):
  """A tiny DCGAN evaluated every 10 steps (at 10 and 20)."""
  workdir = str(tmp_path_factory.mktemp("gan"))
  result = loop.train_and_evaluate(
      gan_config(classifier_dir, eval__every_steps=10), workdir)
  return workdir, result


def rows_of(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def load_extractor(classifier_dir):
  return extractors.load(f"classifier:{classifier_dir}", dataset="digits",
                         data_dir=data.default_data_dir())


def test_classifier_extractor_is_deterministic(classifier_dir):
  first, second = load_extractor(classifier_dir), load_extractor(classifier_dir)
  assert first.digest == second.digest
  images = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 1))
  images = images.astype(np.float32)
  apply = jax.jit(first.apply)
  features, logits = apply(first.weights, images)
  again = apply(second.weights, images)
  np.testing.assert_array_equal(features, again[0])
  np.testing.assert_array_equal(logits, again[1])
  assert features.shape == (16, 128) and logits.shape == (16, 10)
  # The same features sharded over 8 devices, in batches of other sizes.
  evaluator = tasks.build(gan_config(classifier_dir)).evaluator(
      sharding.make_mesh())
  sharded, _ = evaluator.extract_batches([images[:5], images[5:]])
  np.testing.assert_allclose(sharded, features, rtol=1e-5, atol=1e-5)


def test_classifier_input_is_preprocessed_as_its_training_data():
  """28 px images reach a 32 px classifier zero-padded, as Fashion-MNIST's
  28 px images were padded for its training."""
  pixels = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1), np.uint8)
  expected = transforms.to_float(transforms.to_resolution(pixels, 32, "auto"), 1)
  got = classifier_net.to_input(transforms.to_float(pixels, 1), 32, 1,
                                "auto")
  np.testing.assert_array_equal(np.asarray(got), expected)
  rgb = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), np.uint8)
  np.testing.assert_allclose(
      np.asarray(classifier_net.to_input(
          transforms.to_float(rgb, 3), 32, 1, "auto")),
      transforms.to_float(rgb, 1), atol=1e-6)


def test_unknown_and_missing_extractors(tmp_path):
  with pytest.raises(UserError, match="Unknown feature network"):
    extractors.load("vgg", dataset="digits", data_dir=str(tmp_path))
  with pytest.raises(UserError, match="configs/classifier.py"):
    extractors.load("classifier", dataset="tfds:cifar10",
                    data_dir=str(tmp_path))
  with pytest.raises(UserError, match="CNNJAX_INCEPTION_WEIGHTS"):
    extractors.load("inception_v3", dataset="digits", data_dir=str(tmp_path))
  # The default classifier lives under the data dir, keyed by dataset.
  assert extractors.resolve("classifier", dataset="tfds:cifar10",
                            data_dir="/d") == \
      "classifier:/d/cnnjax_classifiers/tfds_cifar10"


def _reference(classifier_dir, extractor=None, **fields):
  config = gan_config(classifier_dir)
  for field, value in fields.items():
    config.data[field] = value
  extractor = extractor or load_extractor(classifier_dir)

  def extract_batches(batches):
    apply = jax.jit(extractor.apply)
    outputs = [apply(extractor.weights, b) for b in batches]
    return (np.concatenate([np.asarray(f) for f, _ in outputs]),
            np.concatenate([np.asarray(l) for _, l in outputs]))

  return reference.load_or_compute(config.data, extractor, extract_batches,
                                   split="train", num_real=100, batch_size=32)


def test_reference_cache_is_reused_and_invalidated(classifier_dir, tmp_path,
                                                   caplog):
  data_dir = str(tmp_path / "data")
  first = _reference(classifier_dir, data_dir=data_dir)
  assert first.computed and first.features.shape == (100, 128)
  assert first.path.startswith(os.path.join(data_dir, "cnnjax_reference"))
  again = _reference(classifier_dir, data_dir=data_dir)
  assert not again.computed and again.path == first.path
  np.testing.assert_array_equal(again.features, first.features)
  np.testing.assert_array_equal(again.sigma, first.sigma)
  # The statistics are those of the features, by numpy.
  np.testing.assert_allclose(first.sigma, np.cov(first.features.astype(
      np.float64), rowvar=False), rtol=1e-10, atol=1e-12)

  # Other weights (a retrained classifier): a new key, never the old file.
  extractor = load_extractor(classifier_dir)
  changed = jax.tree.map(lambda x: x * 1.01, extractor.weights)
  import dataclasses
  other = dataclasses.replace(extractor, weights=changed,
                              digest="0" * 64)
  retrained = _reference(classifier_dir, extractor=other, data_dir=data_dir)
  assert retrained.computed and retrained.path != first.path
  assert not np.array_equal(retrained.features, first.features)
  # Another resolution or preprocessing: another key.
  nearest = _reference(classifier_dir, data_dir=data_dir,
                       resize_method="nearest")
  assert nearest.computed and nearest.path != first.path

  # A file whose stored key differs (renamed, or edited) is not trusted.
  shutil.copy(nearest.path, first.path)
  caplog.set_level("WARNING")
  recomputed = _reference(classifier_dir, data_dir=data_dir)
  assert recomputed.computed and "another key" in caplog.text
  np.testing.assert_array_equal(recomputed.features, first.features)
  # A corrupted file is recomputed and replaced.
  with open(first.path, "wb") as f:
    f.write(b"not an npz")
  assert _reference(classifier_dir, data_dir=data_dir).computed
  assert not _reference(classifier_dir, data_dir=data_dir).computed


@pytest.mark.filterwarnings("ignore:Matrix is singular")
def test_metrics_match_independent_computations(gan_run, classifier_dir):
  workdir, _ = gan_run
  run = runs.load(workdir)
  evaluator = run.task.evaluator(run.mesh)
  weights = sampling.sampling_weights(run.state)
  features, logits, labels = evaluator.generate_features(weights)
  assert features.shape == (128, 128) and labels is None
  row = evaluator(weights)
  real = evaluator.reference.features.astype(np.float64)
  fake = features.astype(np.float64)
  mu1, mu2 = real.mean(0), fake.mean(0)
  s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  fid = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
  assert row["fid"] == pytest.approx(fid, rel=1e-5)
  # The samples are the same ones at every call: a pure function of index.
  again, _, _ = evaluator.generate_features(weights)
  np.testing.assert_array_equal(again, features)
  # Inception Score from the classifier's softmax, by hand.
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  splits = np.array_split(p, 10)
  scores = [np.exp(np.mean(np.sum(s * (np.log(s) - np.log(s.mean(0))), 1)))
            for s in splits]
  assert row["inception_score"] == pytest.approx(np.mean(scores), rel=1e-4)
  assert set(row) >= {"fid", "kid", "kid_std", "precision", "recall",
                      "inception_score", "inception_score_std"}
  assert "class_accuracy" not in row  # an unconditional model


def test_evaluation_during_training_keeps_the_best_checkpoint(gan_run):
  workdir, result = gan_run
  evals = [r for r in rows_of(workdir) if "fid" in r]
  assert [r["step"] for r in evals] == [10, 20]
  assert result["eval"]["fid"] == evals[-1]["fid"]
  for row in evals:
    assert row["num_samples"] == 128 and row["generator"] == "raw"
    assert row["extractor"].startswith("classifier:")
  with open(os.path.join(workdir, "checkpoints_best", "best.json")) as f:
    best = json.load(f)
  winner = min(evals, key=lambda r: r["fid"])
  assert (best["step"], best["fid"]) == (winner["step"], winner["fid"])
  # `--step best` restores exactly the state of that step.
  best = runs.load(workdir, "best")
  assert best.step == winner["step"]
  assert (tree_sha256(best.state) ==
          tree_sha256(runs.load(workdir, winner["step"]).state))


def test_evaluation_does_not_change_training(classifier_dir, gan_run,
                                             tmp_path):
  plain = str(tmp_path / "plain")
  loop.train_and_evaluate(gan_config(classifier_dir), plain)
  assert not any("fid" in r for r in rows_of(plain))
  assert (commands.inspect(plain)["state_sha256"] ==
          commands.inspect(gan_run[0])["state_sha256"])
  with pytest.raises(UserError, match="no best checkpoint"):
    runs.load(plain, "best")


@pytest.mark.slow
def test_conditional_models_get_class_accuracy(classifier_dir, tmp_path):
  workdir = str(tmp_path)
  # Two steps (the tiny cgan families test's training program): accuracy
  # is recounted below, whatever the generator has learnt.
  config = gan_config(classifier_dir, "cgan", eval__every_steps=2,
                      train__num_steps=2)
  result = loop.train_and_evaluate(config, workdir)
  row = result["eval"]
  assert row["generator"] == "ema"  # cgan keeps an EMA generator
  # Recount: the classifier's argmax against index mod 10.
  run = runs.load(workdir)
  evaluator = run.task.evaluator(run.mesh)
  _, logits, labels = evaluator.generate_features(
      sampling.sampling_weights(run.state))
  np.testing.assert_array_equal(labels, np.arange(128) % 10)
  assert row["class_accuracy"] == np.mean(logits.argmax(1) == labels)


def test_configs_without_an_eval_section_still_load():
  config = load_config("dcgan", "tiny")
  values = config_lib.to_dict(config)
  del values["eval"]
  restored = tasks.config_from_dict(values)
  assert (restored.eval.every_steps == 0 and
          restored.model.generator.name == "dcgan")


def test_eval_command(gan_run, classifier_dir, tmp_path):
  workdir, _ = gan_run
  before = len(rows_of(workdir))
  done = cli("eval", f"--workdir={workdir}", "--step=best",
             "--num_samples=64")
  assert done.returncode == 0, done.stderr
  row = json.loads(done.stdout.strip().splitlines()[-1])
  best = json.load(open(os.path.join(workdir, "checkpoints_best", "best.json")))
  assert row["step"] == best["step"] and row["num_samples"] == 64
  for key in ("fid", "kid", "kid_std", "precision", "recall",
              "inception_score"):
    assert np.isfinite(row[key]), key
  assert rows_of(workdir)[before:] == [row]  # appended with its step

  # The default feature network needs no step of the user's: cnnjax ships
  # the digits classifier.
  shipped_row = cli("eval", f"--workdir={workdir}", "--extractor=classifier",
                    "--num_samples=64")
  assert shipped_row.returncode == 0, shipped_row.stderr
  assert json.loads(shipped_row.stdout.strip().splitlines()[-1])[
      "extractor"].endswith("classifier-digits.npz")
  missing = cli("eval", f"--workdir={workdir}",
                f"--extractor=classifier:{tmp_path / 'none'}")
  assert missing.returncode == 2
  assert "cnnjax train --config configs/classifier.py" in missing.stderr
  assert "Traceback" not in missing.stderr
  bad_step = cli("eval", f"--workdir={workdir}", "--step=last")
  assert bad_step.returncode == 2 and "'best'" in bad_step.stderr
  classifier_row = cli("eval", f"--workdir={classifier_dir}")
  assert classifier_row.returncode == 0, classifier_row.stderr
  assert "test_accuracy" in json.loads(classifier_row.stdout.splitlines()[-1])

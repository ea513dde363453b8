"""The reference classifiers that ship with cnnjax, and classifier files."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from cnnjax import data
from cnnjax.data.pipeline import BatchReader
from cnnjax.errors import UserError
from cnnjax.evaluation import extractors
from cnnjax.nets import classifier, export_classifier, shipped
from cnnjax.train import loop
from tests.conftest import load_config

SHIPPED = shipped.manifest()


def test_shipped_files_are_the_ones_the_manifest_describes():
  assert set(SHIPPED) == {"fashion_mnist", "digits"}
  for dataset, entry in SHIPPED.items():
    path = os.path.join(shipped.WEIGHTS_DIR, entry["file"])
    assert shipped.sha256_of(path) == entry["sha256"], dataset
    assert os.path.getsize(path) < 2 << 20  # small enough to ship
    assert f"configs/classifier.py:{dataset}" in entry["command"]
    trained = classifier.read(path)
    assert trained.digest == entry["digest"]
    assert trained.step == entry["step"]
    assert sum(leaf.size for leaf in jax.tree.leaves(trained.weights)) == (
        entry["num_params"])


@pytest.mark.parametrize("dataset,at_least", [
    ("digits", 0.97),
    pytest.param("fashion_mnist", 0.91, marks=pytest.mark.slow)])
def test_shipped_classifiers_classify_held_out_images(dataset, at_least):
  """Recounted image by image on the whole held-out split, with the default
  `classifier` feature network of a run on that dataset."""
  net = extractors.load("classifier", dataset=dataset,
                        data_dir=data.default_data_dir())
  assert net.name == "classifier:" + shipped.shipped_path(dataset)
  values = classifier.read(shipped.shipped_path(dataset)).values
  source = data.load_source(dataset, values["eval"]["split"], None).source
  reader = BatchReader(source, values["data"]["resolution"],
                       values["data"]["channels"],
                       values["data"]["resize_method"])
  apply = jax.jit(net.apply)
  correct = 0
  for start in range(0, len(source), 1000):
    batch = reader(np.arange(start, min(start + 1000, len(source))))
    _, logits = apply(net.weights, batch["image"])
    correct += int(np.sum(np.argmax(logits, -1) == batch["label"]))
  accuracy = correct / len(source)
  assert accuracy >= at_least
  assert accuracy == pytest.approx(SHIPPED[dataset]["test_accuracy"],
                                   abs=2e-3)


def test_the_default_classifier_is_the_shipped_one_where_there_is_one(
    tmp_path, caplog):
  assert extractors.resolve("classifier", dataset="fashion_mnist",
                            data_dir="/d") == (
      "classifier:" + os.path.join(shipped.WEIGHTS_DIR,
                                   "classifier-fashion_mnist.npz"))
  assert extractors.resolve("classifier", dataset="tfds:cifar10",
                            data_dir="/d") == (
      "classifier:/d/cnnjax_classifiers/tfds_cifar10")
  # A classifier of the user's own at the default place is not silently
  # replaced: the log names both and how to pick the user's.
  own = tmp_path / "cnnjax_classifiers" / "digits"
  own.mkdir(parents=True)
  (own / "config.json").write_text("{}")
  with caplog.at_level("WARNING"):
    name = extractors.resolve("classifier", dataset="digits",
                              data_dir=str(tmp_path))
  assert name == "classifier:" + shipped.shipped_path("digits")
  assert f"--extractor classifier:{own}" in caplog.text


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("classifier"))
  loop.train_and_evaluate(load_config("classifier", "tiny"), workdir)
  return workdir


def test_an_exported_file_is_the_same_network_as_its_run(tiny_classifier,
                                                         tmp_path):
  out = str(tmp_path / "weights")
  os.makedirs(out)
  exported = export_classifier.main([tiny_classifier, "--out", out])
  assert exported == 0
  entry = shipped.manifest(out)["digits"]
  path = os.path.join(out, entry["file"])
  from_run, from_file = (classifier.read(tiny_classifier),
                         classifier.read(path))
  # One digest, so both share cached reference statistics.
  assert from_file.digest == from_run.digest == entry["digest"]
  assert from_file.step == from_run.step == entry["step"]
  rows = [json.loads(line) for line in
          open(os.path.join(tiny_classifier, "metrics.jsonl"))]
  assert entry["test_accuracy"] == [
      r for r in rows if "test_accuracy" in r][-1]["test_accuracy"]
  images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 1))
  outputs = []
  for source in (tiny_classifier, path):
    net = classifier.load(f"classifier:{source}", source, "digits")
    outputs.append(net.apply(net.weights, images, ("features", "logits")))
  for layer in ("features", "logits"):
    np.testing.assert_array_equal(outputs[0][layer], outputs[1][layer])
  # The file's bytes depend on the weights alone: the same sha256 again.
  again = str(tmp_path / "again")
  os.makedirs(again)
  assert export_classifier.export(tiny_classifier, again)["sha256"] == (
      entry["sha256"])


def test_damaged_classifier_files_are_refused(tiny_classifier, tmp_path,
                                              monkeypatch):
  out = str(tmp_path / "weights")
  os.makedirs(out)
  entry = export_classifier.export(tiny_classifier, out)
  path = os.path.join(out, entry["file"])
  damaged = str(tmp_path / "damaged.npz")
  shutil.copy(path, damaged)
  with open(damaged, "r+b") as f:  # a flipped byte inside the compressed data
    f.seek(os.path.getsize(damaged) // 2)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0xFF]))
  with pytest.raises(UserError, match="not a readable cnnjax classifier"):
    classifier.read(damaged)
  # A shipped file is checked against its manifest's sha256 as well.
  monkeypatch.setattr(shipped, "WEIGHTS_DIR", out)
  shutil.copy(damaged, path)
  with pytest.raises(UserError, match="is damaged.*configs/classifier.py"):
    classifier.read(path)

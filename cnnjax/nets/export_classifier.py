"""Exports a trained classifier run as a classifier file (cnnjax.nets.shipped):

  python -m cnnjax.nets.export_classifier WORKDIR [--out DIR]

writes DIR/classifier-<dataset>.npz from the run's newest checkpoint and
records it (sha256, digest, step, test accuracy, the command that made it,
the jax and flax versions) in DIR/classifiers.json. DIR defaults to the
package's weights folder: this is how the reference classifiers are made.
"""

import argparse
import json
import os
import sys
from importlib import metadata

import jax
import numpy as np

from cnnjax.errors import UserError
from cnnjax.nets import classifier, shipped
from cnnjax.utils import files
from cnnjax.utils.trees import path_name


def export(workdir: str, out_dir: str | None = None,
           command: str | None = None) -> dict:
  """Writes the newest checkpoint of the classifier run in `workdir` as a
  classifier file in `out_dir` and records it in `out_dir`'s manifest;
  returns the manifest entry. Nothing is written if the run is unreadable."""
  out_dir = out_dir or shipped.WEIGHTS_DIR
  trained = classifier.read(workdir)
  dataset = shipped.safe_name(trained.values["data"]["name"])
  accuracy = _logged_accuracy(workdir, trained.step)
  arrays = {path_name(key): np.asarray(leaf) for key, leaf in
            jax.tree_util.tree_flatten_with_path(trained.weights)[0]}
  config = dict(trained.values, step=trained.step, test_accuracy=accuracy)
  path = os.path.join(out_dir, shipped.file_name(dataset))
  shipped.write(path, config, arrays)
  entry = {
      "file": shipped.file_name(dataset), "sha256": shipped.sha256_of(path),
      "digest": trained.digest, "step": trained.step,
      "test_accuracy": accuracy,
      "num_params": int(sum(a.size for a in arrays.values())),
      "command": command or shipped.COMMAND.format(dataset=dataset),
      "jax": metadata.version("jax"), "flax": metadata.version("flax"),
  }
  entries = shipped.manifest(out_dir)
  entries[dataset] = entry
  files.write_json_atomically(os.path.join(out_dir, shipped.MANIFEST),
                              entries, indent=2, sort_keys=True)
  return entry


def _logged_accuracy(workdir: str, step: int) -> float | None:
  """The held-out accuracy the run logged at `step` (metrics.jsonl)."""
  rows = [row for row in files.read_jsonl(os.path.join(workdir,
                                                       "metrics.jsonl"))
          if row.get("step") == step and "test_accuracy" in row]
  return rows[-1]["test_accuracy"] if rows else None


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m cnnjax.nets.export_classifier",
      description="Export a trained classifier run as a classifier file "
                  "and record it in the folder's classifiers.json.")
  parser.add_argument("workdir", help="a configs/classifier.py run")
  parser.add_argument("--out", default=None,
                      help="folder of the file (default: the package's "
                           "reference classifiers)")
  args = parser.parse_args(argv)
  try:
    entry = export(args.workdir, args.out)
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(json.dumps(entry, sort_keys=True))
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""Classifier weight files: one trained classifier in one `.npz`, and the
reference classifiers that ship with cnnjax.

A classifier file holds the weights of a `configs/classifier.py` run's
checkpoint (arrays named by their path, "params/conv1/kernel", ...) and, as
`__config__`, the run's config.json with the step and its test accuracy. A
file carries everything `classifier.load` needs, and gives the same digest
as the workdir it came from, so cached reference statistics are shared.

The reference classifiers live in `cnnjax/nets/weights/`; `classifiers.json`
there gives each file's sha256 (checked at every load), its accuracy and the
command that made it. Exported by

  python -m cnnjax.nets.export_classifier WORKDIR [--out DIR]

(`cnnjax/nets/export_classifier.py`; DIR defaults to the package's weights
folder, whose manifest it updates).
"""

import hashlib
import json
import os
import zipfile

import numpy as np

from cnnjax.errors import UserError
from cnnjax.nets.base import safe_name
from cnnjax.utils import files

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "weights")
MANIFEST = "classifiers.json"
CONFIG_KEY = "__config__"
# How the shipped files were made: the classifier's own config and command.
COMMAND = ("cnnjax train --config configs/classifier.py:{dataset} "
           "--workdir runs/clf_{dataset} && python -m "
           "cnnjax.nets.export_classifier "
           "runs/clf_{dataset}")


def file_name(dataset: str) -> str:
  return f"classifier-{safe_name(dataset)}.npz"


def manifest(directory: str | None = None) -> dict:
  """{dataset: entry} of a folder's classifiers.json (default: shipped)."""
  path = os.path.join(directory or WEIGHTS_DIR, MANIFEST)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def shipped_path(dataset: str) -> str | None:
  """The reference classifier file for `dataset`, if cnnjax ships one."""
  entry = manifest().get(safe_name(dataset))
  return os.path.join(WEIGHTS_DIR, entry["file"]) if entry else None


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def read(path: str) -> tuple[dict, dict[str, np.ndarray]]:
  """(config values with "step", {array name: array}) of a classifier file.

  A shipped file whose bytes differ from its manifest's sha256 is refused.
  """
  if not os.path.isfile(path):
    raise UserError(f"No classifier file at {path}.")
  if os.path.dirname(os.path.abspath(path)) == WEIGHTS_DIR:
    for entry in manifest().values():
      if entry["file"] == os.path.basename(path) and (
          sha256_of(path) != entry["sha256"]):
        raise UserError(
            f"The shipped classifier {path} is damaged (its sha256 differs "
            f"from the one in {MANIFEST}). Reinstall cnnjax, or make it "
            f"again: {entry['command']}")
  try:
    with np.load(path, allow_pickle=False) as stored:
      arrays = {key: stored[key] for key in stored.files}
    values = json.loads(str(arrays.pop(CONFIG_KEY)))
  except Exception as error:  # zip, CRC, JSON and key errors alike
    raise UserError(f"{path} is not a readable cnnjax classifier file "
                    f"({type(error).__name__}: {error}).") from None
  return values, arrays


def write(path: str, config: dict, arrays: dict[str, np.ndarray]) -> None:
  """Writes a classifier file (atomically): an `.npz` whose bytes depend on
  its contents alone (sorted members, a fixed timestamp; numpy's savez
  stamps the time), so the same weights give the same sha256."""
  members = {CONFIG_KEY: np.array(json.dumps(config, sort_keys=True)),
             **arrays}
  with files.atomic_write(path, "wb") as f:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
      for name in sorted(members):
        info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as member:
          np.lib.format.write_array(member, np.asarray(members[name]),
                                    allow_pickle=False)

"""Reference (real-image) features, cached under the data dir.

FID needs the real images' mean and covariance, KID and precision/recall
their features. Computing them costs a pass of the extractor over thousands
of images, so they are cached, one file per key:

  <data dir>/cnnjax_reference/<dataset>-<split>-<kind>-<R>px-n<N>-<hash>.npz

The key holds everything the numbers depend on: dataset, split, how images
are preprocessed (resolution, channels, resize method), which images (count
and selection seed), the extractor's kind and weight digest, a format
version and, for a folder dataset, the fingerprint of its files (names,
byte sizes, image sizes). The file stores its key and is used only when the
stored key is equal to the wanted one, so a retrained classifier, another
resolution, another split or a changed folder never reuses stale
statistics. An unreadable or mismatched
file is recomputed and replaced (atomically; it is a cache, not user data).

Which images: the first N of a fixed permutation (seed `selection_seed`) of
the split, all of it when N >= its size, preprocessed exactly as training
batches are (same resolution, channels and resize method; always the
center crop).
"""

import dataclasses
import hashlib
import json
import logging
import os
import zipfile

import numpy as np

from cnnjax import data
from cnnjax.data.pipeline import BatchReader
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.nets.base import safe_name
from cnnjax.metrics import feature_statistics
from cnnjax.utils import files

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
REFERENCE_DIR = "cnnjax_reference"


@dataclasses.dataclass
class Reference:
  features: np.ndarray  # float32 [N, D]
  mu: np.ndarray  # float64 [D]
  sigma: np.ndarray  # float64 [D, D]
  key: dict
  path: str
  computed: bool  # False when read from the cache


def cache_key(data_config, extractor, split: str, num_real: int,
              selection_seed: int) -> dict:
  return {"version": FORMAT_VERSION, "dataset": data_config.name,
          "split": split, "resolution": data_config.resolution,
          "channels": data_config.channels,
          "resize_method": data_config.resize_method,
          "num_real": num_real, "selection_seed": selection_seed,
          "extractor_kind": extractor.kind,
          "extractor_sha256": extractor.digest}


def cache_path(key: dict, data_dir: str) -> str:
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
  # A folder's path can be long; its end names it best, the digest exactly.
  name = (f"{safe_name(key['dataset'])[-80:]}-{key['split']}-"
          f"{key['extractor_kind']}-{key['resolution']}px-n{key['num_real']}-"
          f"{digest.hexdigest()[:16]}.npz")
  return os.path.join(data_dir, REFERENCE_DIR, name)


def load_or_compute(data_config, extractor, extract_batches, *,
                    split: str, num_real: int, selection_seed: int = 0,
                    batch_size: int = 500) -> Reference:
  """The reference features of a split, from the cache or computed.

  `extract_batches(batches)` maps an iterable of float32 image batches in
  [-1, 1] to ([N, D] features, [N, K] logits) numpy arrays.
  """
  data_dir = resolve_data_dir(data_config.data_dir or None)
  source = data.load_source(data_config.name, split, data_dir)
  count = min(num_real, len(source.source))
  key = cache_key(data_config, extractor, split, count, selection_seed)
  if source.fingerprint:  # files that may change (a folder): what was read
    key["dataset_sha256"] = source.fingerprint
  path = cache_path(key, data_dir)
  cached = _read(path, key)
  if cached is not None:
    return Reference(*cached, key=key, path=path, computed=False)

  indices = np.sort(np.random.default_rng(selection_seed).permutation(
      len(source.source))[:count])
  reader = BatchReader(source.source, data_config.resolution,
                       data_config.channels, data_config.resize_method)
  batches = (reader(indices[i:i + batch_size])["image"]
             for i in range(0, count, batch_size))
  features, _ = extract_batches(batches)
  features = np.asarray(features, np.float32)
  mu, sigma = feature_statistics(features)
  _write(path, key, features, mu, sigma)
  log.info("Reference statistics of %s/%s (%d images, %s) written to %s.",
           data_config.name, split, count, extractor.name, path)
  return Reference(features, mu, sigma, key=key, path=path, computed=True)


def _read(path: str, key: dict):
  if not os.path.exists(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as stored:
      stored_key = json.loads(str(stored["key"]))
      if stored_key != key:
        log.warning("Cached reference statistics %s are for another key; "
                    "recomputing them.", path)
        return None
      return stored["features"], stored["mu"], stored["sigma"]
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
          json.JSONDecodeError) as error:
    log.warning("Cached reference statistics %s cannot be read (%s: %s); "
                "recomputing them.", path, type(error).__name__, error)
    return None


def _write(path: str, key: dict, features, mu, sigma) -> None:
  with files.atomic_write(path, "wb") as f:  # a file object: no ".npz" added
    np.savez(f, key=np.asarray(json.dumps(key, sort_keys=True)),
             features=features, mu=mu, sigma=sigma)

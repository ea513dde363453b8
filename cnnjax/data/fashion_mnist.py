"""Fashion-MNIST: find it, prepare it once as a TFDS dataset, open it.

Search order (the first that works is used, and `description` says which):
  a. a TFDS dataset already prepared in the data dir, in array_record format:
     the catalog's `fashion_mnist`, else this project's `cnnjax_fashion_mnist`;
  b. the original IDX files in $CNNJAX_FASHION_MNIST_DIR, else in the folder
     of Debian's `dataset-fashion-mnist` package, prepared once into the data
     dir by `CnnjaxFashionMnist` below;
  c. the IDX files downloaded by TFDS from the catalog's URL (internet only),
     prepared the same way. The catalog builder itself is not used for this:
     it encodes images as PNG with TensorFlow, which we do not depend on.
"""

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from cnnjax.data import tfds_catalog
from cnnjax.data.idx import read_idx
from cnnjax.data.sources import ImageSource
from cnnjax.errors import DataError

ENV_IDX_DIR = "CNNJAX_FASHION_MNIST_DIR"
ENV_NO_DOWNLOAD = "CNNJAX_NO_DOWNLOAD"  # any non-empty value skips step c
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
CATALOG_NAME = "fashion_mnist"
BUILDER_NAME = "cnnjax_fashion_mnist"
DOWNLOAD_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IDX_FILES = {  # split -> (images, labels), without the optional ".gz"
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_idx_file(folder: str, stem: str) -> str | None:
  """Path of `stem.gz` or `stem` in `folder`, or None."""
  for candidate in (stem + ".gz", stem):
    path = os.path.join(folder, candidate)
    if os.path.isfile(path):
      return path
  return None


def has_idx_files(folder: str) -> bool:
  """Whether all four IDX files are in `folder` (gzipped or not)."""
  return all(find_idx_file(folder, stem) is not None
             for pair in IDX_FILES.values() for stem in pair)


def read_idx_split(paths: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
  """Reads and cross-checks one split: (uint8 [N, 28, 28], uint8 [N])."""
  images_path, labels_path = paths
  images = read_idx(images_path, expected_ndim=3)
  labels = read_idx(labels_path, expected_ndim=1)
  if images.shape[1:] != (28, 28):
    raise DataError(f"{images_path}: images are {images.shape[1:]}, "
                    f"Fashion-MNIST's are (28, 28).")
  if len(images) != len(labels):
    raise DataError(f"{images_path} holds {len(images)} images but "
                    f"{labels_path} holds {len(labels)} labels.")
  if len(labels) and labels.max() >= len(CLASS_NAMES):
    raise DataError(f"{labels_path}: label {labels.max()} is out of range "
                    f"0..{len(CLASS_NAMES) - 1}.")
  return images, labels


def idx_paths(folder: str) -> dict[str, tuple[str, str]]:
  """split -> (images path, labels path) in `folder`; DataError if missing."""
  paths = {}
  for split, stems in IDX_FILES.items():
    found = tuple(find_idx_file(folder, stem) for stem in stems)
    missing = [s for s, p in zip(stems, found) if p is None]
    if missing:
      raise DataError(f"{folder}: missing IDX files {missing} (each may end "
                      f"in .gz).")
    paths[split] = found
  return paths


class CnnjaxFashionMnist(tfds.core.GeneratorBasedBuilder,
                         skip_registration=True):
  """Fashion-MNIST from the IDX files, stored as uint8 tensors (no PNG).

  The IDX folder is the manual dir; without one, the files are downloaded.
  Records keep the IDX order (shuffling disabled), so record i of a split is
  image i of its IDX file.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Images as uint8 tensors, IDX order."}
  # tfds looks for a checksums file next to the builder's code, and on
  # Python >= 3.9 without the `importlib_resources` backport that look-up
  # crashes for builders outside tensorflow_datasets. We register no
  # checksums (the IDX header checks catch a bad download), so opt out.
  code_path = None
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"A folder holding {', '.join(s for p in IDX_FILES.values() for s in p)}"
      f" (each optionally .gz), e.g. {DEBIAN_DIR} from `apt-get install "
      f"{DEBIAN_PACKAGE}`.")

  def __init__(self, *, idx_dir: str | None = None, **kwargs):
    self._idx_dir = idx_dir
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    origin = self._idx_dir or DOWNLOAD_URL
    return tfds.core.DatasetInfo(
        builder=self,
        description=f"Fashion-MNIST prepared by cnnjax from {origin}.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
        }),
        supervised_keys=("image", "label"),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(idx_source=origin),
    )

  def _split_generators(self, dl_manager):
    if self._idx_dir:
      paths = idx_paths(self._idx_dir)
    else:
      urls = {f"{split}_{i}": urllib.parse.urljoin(DOWNLOAD_URL, stem + ".gz")
              for split, stems in IDX_FILES.items()
              for i, stem in enumerate(stems)}
      files = {k: os.fspath(v) for k, v in dl_manager.download(urls).items()}
      paths = {split: (files[f"{split}_0"], files[f"{split}_1"])
               for split in IDX_FILES}
    return {split: self._generate_examples(read_idx_split(pair))
            for split, pair in paths.items()}

  def _generate_examples(self, arrays):
    images, labels = arrays
    for i in range(len(images)):
      yield i, {"image": images[i, :, :, None], "label": int(labels[i])}


def debian_idx_dir() -> str | None:
  """The IDX folder of Debian's package, via dpkg if it exists, else the
  package's usual path; None when neither has the files."""
  candidates = []
  try:
    listing = subprocess.run(["dpkg", "-L", DEBIAN_PACKAGE],
                             capture_output=True, text=True, timeout=10,
                             check=False).stdout
    candidates += [os.path.dirname(line) for line in listing.splitlines()
                   if line.endswith("/train-images-idx3-ubyte.gz")]
  except (OSError, subprocess.SubprocessError):
    pass  # no dpkg: not Debian, or a minimal image; try the known path
  candidates.append(DEBIAN_DIR)
  return next((c for c in candidates if has_idx_files(c)), None)


def load(split: str = "train", data_dir: str | None = None) -> ImageSource:
  """Fashion-MNIST `split` ("train", "test" or TFDS slicing like
  "train[:10%]"), found and prepared as the module docstring says."""
  root = tfds_catalog.resolve_data_dir(data_dir)
  notes = []
  for name in (CATALOG_NAME, BUILDER_NAME):
    prepared = tfds_catalog.find_prepared(root, name)
    if prepared is None:
      continue
    if not prepared.random_access:
      notes.append(f"{prepared.path} exists but is stored as "
                   f"{'/'.join(prepared.file_formats)}, not array_record")
      continue
    return tfds_catalog.open_prepared(prepared, split=split,
                                      name="fashion_mnist",
                                      provenance=_provenance(prepared.path))

  idx_dir, searched = _find_idx_dir()
  if idx_dir is not None:
    return _prepare_and_open(root, split, idx_dir=idx_dir)
  download_problem = _download_problem()
  if download_problem is None:
    try:
      return _prepare_and_open(root, split, idx_dir=None)
    except DataError:
      raise  # a corrupt download: its message names the file
    except Exception as e:  # network errors come in many types
      download_problem = f"the download failed ({type(e).__name__}: {e})"
  raise DataError(_not_found_message(root, searched, download_problem, notes))


def _provenance(path: str) -> str:
  """Where a prepared version came from, for the description."""
  if os.path.basename(os.path.dirname(path)) != BUILDER_NAME:
    return " (the TFDS catalog's fashion_mnist)"
  try:
    with open(os.path.join(path, "metadata.json")) as f:
      idx_source = json.load(f)["idx_source"]
  except (OSError, ValueError, KeyError):
    return ""
  if idx_source.startswith("http"):
    return f" from IDX files downloaded from {idx_source}"
  return f" from IDX files in {idx_source}"


def _find_idx_dir() -> tuple[str | None, list[str]]:
  """(the IDX folder to use or None, what was searched, in words)."""
  env_dir = os.environ.get(ENV_IDX_DIR)
  if env_dir:
    if not has_idx_files(env_dir):
      idx_paths(env_dir)  # raises, naming the missing files
    return env_dir, []
  searched = [f"${ENV_IDX_DIR} (not set)"]
  debian_dir = debian_idx_dir()
  if debian_dir is not None:
    return debian_dir, searched
  searched.append(f"Debian's {DEBIAN_PACKAGE} ({DEBIAN_DIR}: not there)")
  return None, searched


@contextlib.contextmanager
def _prepare_lock(root: str):
  """Serialises preparation between processes sharing the data dir."""
  try:
    os.makedirs(root, exist_ok=True)
    lock = open(os.path.join(root, f".{BUILDER_NAME}.lock"), "w")
  except OSError as e:
    raise DataError(
        f"fashion_mnist: cannot prepare the dataset in {root} ({e}). Set "
        f"$CNNJAX_DATA_DIR (or data.data_dir) to a writable folder.") from e
  with lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def _prepare_and_open(root: str, split: str, *, idx_dir: str | None):
  """Prepares `cnnjax_fashion_mnist` from `idx_dir` (None: download), once."""
  if idx_dir is not None:
    for pair in idx_paths(idx_dir).values():  # fail with the file's name
      read_idx_split(pair)
  with _prepare_lock(root):
    # Another process may have prepared it while we waited for the lock.
    if tfds_catalog.find_prepared(root, BUILDER_NAME) is None:
      start = time.perf_counter()
      builder = CnnjaxFashionMnist(idx_dir=idx_dir, data_dir=root,
                                   file_format="array_record")
      config = tfds.download.DownloadConfig(manual_dir=idx_dir)
      download_dir = os.path.join(root, "downloads", BUILDER_NAME)
      try:
        builder.download_and_prepare(download_dir=download_dir,
                                     download_config=config)
      finally:
        if idx_dir is not None:  # tfds leaves empty download folders behind
          shutil.rmtree(download_dir, ignore_errors=True)
          with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(download_dir))  # only if empty
      logging.info("Prepared %s at %s in %.1f s.", BUILDER_NAME,
                   builder.data_path, time.perf_counter() - start)
  prepared = tfds_catalog.find_prepared(root, BUILDER_NAME)
  return tfds_catalog.open_prepared(prepared, split=split,
                                    name="fashion_mnist",
                                    provenance=_provenance(prepared.path))


def _download_problem(timeout: float = 3.0) -> str | None:
  """Why TFDS cannot download now, or None when the host answers.

  Connecting first, with a timeout, makes an offline machine fail in seconds
  instead of hanging in the downloader's retries.
  """
  if os.environ.get(ENV_NO_DOWNLOAD):
    return f"downloads are disabled by ${ENV_NO_DOWNLOAD}"
  host = urllib.parse.urlparse(DOWNLOAD_URL).hostname
  result = []

  def probe():
    try:
      socket.create_connection((host, 80), timeout=timeout).close()
      result.append(None)
    except OSError as e:
      result.append(f"{host} is unreachable ({e})")

  # A thread, because name resolution has no timeout of its own.
  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(timeout + 1)
  return result[0] if result else f"{host} did not answer in {timeout:.0f} s"


def _not_found_message(root: str, searched: list[str], download_problem: str,
                       notes: list[str]) -> str:
  looked = [f"a prepared TFDS dataset in {root} ({CATALOG_NAME} or "
            f"{BUILDER_NAME}, array_record)"] + searched
  looked.append(f"a download by TFDS: {download_problem}")
  lines = ["fashion_mnist: dataset not found. Looked for:"]
  lines += [f"  - {item}" for item in looked + notes]
  lines += [
      "Any one of these fixes it:",
      f"  - apt-get install {DEBIAN_PACKAGE}",
      f"  - set {ENV_IDX_DIR}=<folder with the 4 IDX .gz files: "
      f"{', '.join(s + '.gz' for p in IDX_FILES.values() for s in p)}>",
      f"  - prepare it with TFDS into {root} (array_record), e.g. on a machine"
      f" with internet and TensorFlow (which encodes its PNGs): tfds.builder("
      f"'{CATALOG_NAME}', data_dir='{root}', file_format='array_record')"
      f".download_and_prepare(), then copy {root}/{CATALOG_NAME} here",
      "  - or point data_dir / $CNNJAX_DATA_DIR at a data dir that holds it",
  ]
  return "\n".join(lines)

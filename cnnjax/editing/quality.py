"""How well real images are reconstructed: the metric row of an inversion.

`ReconstructionEvaluator` holds held-out real images (the first N of a
split, preprocessed as training batches are), a feature extractor (the
classifier by default) and the split's cached reference statistics; called
with a `reconstruct(images, labels) -> (reconstructions, latents)` function
it measures, per image and then averaged:

  mse, psnr, ssim         pixels ([-1, 1], data range 2; SSIM as scikit-image's
                          with Gaussian weights)
  feature_distance        squared distance of unit-normalised features
  class_agreement         the share of images whose reconstruction the
                          classifier puts in the original's predicted class
  fid_reconstructions     FID of the reconstructions against the split's
                          reference statistics, beside fid_originals, the
                          FID of the originals themselves (the floor at
                          this N: FID is biased upward for small N)
  images_per_second       of `reconstruct`, after a warm-up call

It knows nothing of encoders or optimisers (as the sample-quality
Evaluator knows nothing of GANs).
"""

import time
from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh

from cnnjax import data, metrics, sharding
from cnnjax.data.pipeline import BatchReader
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.errors import UserError
from cnnjax.evaluation import extractors as extractors_lib
from cnnjax.evaluation import reference as reference_lib
from cnnjax.metrics import reconstruction


def read_split(data_config, split: str, count: int):
  """(images float32 [N, R, R, C] in [-1, 1], labels [N]): the first
  `count` images of a split (all of it when smaller), as training reads
  them."""
  source = data.load_source(data_config.name, split,
                            resolve_data_dir(data_config.data_dir or None))
  count = min(count, len(source.source))
  reader = BatchReader(source.source, data_config.resolution,
                       data_config.channels, data_config.resize_method)
  batch = reader(np.arange(count))
  return batch["image"], batch["label"]


class ReconstructionEvaluator:
  """See the module docstring."""

  def __init__(self, data_config, images: np.ndarray, labels: np.ndarray,
               *, split: str, extractor: str, mesh: Mesh,
               batch_size: int = 250, num_real: int = 10000):
    """`images` (float32 in [-1, 1]) and their `labels` are the originals;
    `split` is the one whose reference statistics FID compares with."""
    if len(images) < 4:
      raise UserError(f"Reconstruction metrics need at least 4 images, not "
                      f"{len(images)}.")
    self.images, self.labels = images, labels
    self.data_config, self.split = data_config, split
    self.mesh = mesh
    self.batch_size = -(-batch_size // mesh.size) * mesh.size
    self.extractor = extractors_lib.load(
        extractor, dataset=data_config.name,
        data_dir=resolve_data_dir(data_config.data_dir or None))
    replicated = sharding.replicated(mesh)
    self._weights = jax.device_put(self.extractor.weights, replicated)
    self._extract = jax.jit(self.extractor.apply,
                            out_shardings=(replicated, replicated))
    self.reference = reference_lib.load_or_compute(
        data_config, self.extractor, self.extract_batches, split=split,
        num_real=num_real, batch_size=self.batch_size)
    self.original_features, self.original_logits = self.extract_batches(
        self.batches(self.images))

  def batches(self, array: np.ndarray):
    return [array[i:i + self.batch_size]
            for i in range(0, len(array), self.batch_size)]

  def put(self, array: np.ndarray) -> jax.Array:
    """A host batch split over the mesh's devices (padded to the batch)."""
    return jax.device_put(pad_to(array, self.batch_size),
                          sharding.batch_sharding(self.mesh))

  def extract_batches(self, batches):
    features, logits = [], []
    for images in batches:
      f, l = self._extract(self._weights, self.put(np.asarray(images)))
      features.append(sharding.to_host(f)[:len(images)])
      logits.append(sharding.to_host(l)[:len(images)])
    return np.concatenate(features), np.concatenate(logits)

  def __call__(self, reconstruct: Callable) -> tuple[dict, dict]:
    """(metric row, {"latents", "reconstructions"}) of `reconstruct`, which
    maps a device batch of images and labels to (images, latents)."""
    outputs = []
    first = self.put(self.images[:self.batch_size])
    jax.block_until_ready(reconstruct(first, self.put(
        self.labels[:self.batch_size])))  # compile outside the timing
    start = time.perf_counter()
    for images, labels in zip(self.batches(self.images),
                              self.batches(self.labels)):
      outputs.append((reconstruct(self.put(images), self.put(labels)),
                      len(images)))
    jax.block_until_ready(outputs)
    seconds = time.perf_counter() - start
    recon = np.concatenate([np.asarray(r)[:n] for (r, _), n in outputs])
    latents = np.concatenate([np.asarray(z)[:n] for (_, z), n in outputs])
    return self.measure(recon, seconds), {"latents": latents,
                                          "reconstructions": recon}

  def measure(self, recon: np.ndarray, seconds: float | None = None) -> dict:
    """The metric row of reconstructions of `self.images`."""
    features, logits = self.extract_batches(self.batches(recon))
    originals = self.images
    row = {
        "num_images": len(originals),
        "mse": _mean(reconstruction.mse(originals, recon)),
        "psnr": _mean(reconstruction.psnr(originals, recon)),
        "ssim": _mean(reconstruction.ssim(originals, recon)),
        "feature_distance": _mean(reconstruction.feature_distance(
            self.original_features, features)),
        "class_agreement": float(np.mean(
            np.argmax(logits, -1) == np.argmax(self.original_logits, -1))),
        "fid_reconstructions": self._fid(features),
        "fid_originals": self._fid(self.original_features),
        **self.extractor.describe()}
    if seconds is not None:
      row["seconds"] = round(seconds, 4)
      row["images_per_second"] = round(len(originals) / seconds, 2)
    return row

  def _fid(self, features: np.ndarray) -> float:
    mu, sigma = metrics.feature_statistics(features)
    return metrics.frechet_distance(self.reference.mu, self.reference.sigma,
                                    mu, sigma)


def pad_to(array: np.ndarray, size: int) -> np.ndarray:
  """`array` padded with zeros along its first axis to `size` rows."""
  if len(array) >= size:
    return array
  padding = np.zeros((size - len(array), *array.shape[1:]), array.dtype)
  return np.concatenate([array, padding])


def _mean(values) -> float:
  return float(np.mean(np.asarray(values, np.float64)))

"""Sample-quality evaluation of a generator: generate, extract, measure.

The evaluator takes a `generate(weights, z, labels) -> images` function and
knows nothing of how it was trained (as big_vision hands its evaluators
`predict_fns`): a GAN task passes its generator, an editing task could pass
a reconstruction. Generation and feature extraction run as one jitted
program per batch, sharded over every device of the mesh; the features come
back replicated, and the metrics are computed on the host in float64
(cnnjax.metrics).

The latents are a pure function of the sample index (`eval.seed`), so every
evaluation of a run, and every run with the same seed, scores the same
latents: differences between steps are the generator's, not the noise's.
Conditional models get balanced labels, index mod num_classes.
"""

import logging
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from cnnjax import metrics, sharding
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.errors import UserError
from cnnjax.evaluation import extractors as extractors_lib
from cnnjax.evaluation import reference as reference_lib

log = logging.getLogger(__name__)

PURPOSE_EVAL = 3001  # fold_in purpose of the evaluation latents


class Evaluator:
  """FID, KID, precision/recall, IS (and class accuracy) of a generator.

  `generate(weights, z, labels)` maps latents [B, latent_dim] (and, when
  num_classes > 0, labels [B]) to images in [-1, 1]; it is traced under jit.
  `settings` is an `eval` config section, `data_config` the `data` one (the
  reference images). Construction loads the extractor and the reference
  statistics (computing and caching them when needed); each call evaluates
  one set of weights.
  """

  def __init__(self, generate: Callable, *, latent_dim: int,
               num_classes: int, settings, data_config, mesh: Mesh,
               extractor: str | None = None, num_samples: int | None = None):
    self.data_config = data_config
    self.num_classes = num_classes
    self.num_samples = num_samples or settings.num_samples
    if self.num_samples < 4:
      raise UserError(f"Evaluation needs at least 4 samples (precision and "
                      f"recall use 3 neighbours), not {self.num_samples}.")
    self.extractor = extractors_lib.load(
        extractor or settings.extractor, dataset=data_config.name,
        data_dir=resolve_data_dir(data_config.data_dir or None))
    # A multiple of the device count, so every batch shards evenly.
    self.batch_size = -(-settings.batch_size // mesh.size) * mesh.size
    replicated = sharding.replicated(mesh)
    self._data_sharding = sharding.batch_sharding(mesh)
    self._weights = jax.device_put(self.extractor.weights, replicated)
    apply = self.extractor.apply
    base_key = jax.random.fold_in(jax.random.PRNGKey(settings.seed),
                                  PURPOSE_EVAL)

    def generate_and_extract(generator_weights, weights, offset):
      index = offset + jnp.arange(self.batch_size)
      index = jax.lax.with_sharding_constraint(index, self._data_sharding)
      z = jax.vmap(lambda i: jax.random.normal(
          jax.random.fold_in(base_key, i), (latent_dim,)))(index)
      labels = (index % num_classes).astype(jnp.int32) if num_classes else None
      return apply(weights, generate(generator_weights, z, labels))

    self._generate_and_extract = jax.jit(
        generate_and_extract, out_shardings=(replicated, replicated))
    self._extract = jax.jit(apply, in_shardings=(replicated,
                                                 self._data_sharding),
                            out_shardings=(replicated, replicated))
    start = time.perf_counter()
    self.reference = reference_lib.load_or_compute(
        data_config, self.extractor, self.extract_batches,
        split=settings.split, num_real=settings.num_real,
        batch_size=self.batch_size)
    log.info("Reference features of %s/%s (%d images) %s in %.1f s.",
             data_config.name, settings.split,
             len(self.reference.features),
             "computed" if self.reference.computed else "read from the cache",
             time.perf_counter() - start)

  def extract_batches(self, batches):
    """Features and logits of float32 [-1, 1] image batches (numpy)."""
    outputs = []
    for images in batches:
      count = len(images)
      if count < self.batch_size:  # one compiled shape: pad the last batch
        padding = np.zeros((self.batch_size - count, *images.shape[1:]),
                           images.dtype)
        images = np.concatenate([images, padding])
      array = jax.make_array_from_callback(images.shape, self._data_sharding,
                                           lambda index: images[index])
      outputs.append((self._extract(self._weights, array), count))
    to_host = sharding.to_host
    features = np.concatenate([to_host(f)[:n] for (f, _), n in outputs])
    logits = np.concatenate([to_host(l)[:n] for (_, l), n in outputs])
    return features, logits

  def generate_features(self, generator_weights):
    """Features, logits and intended labels (or None) of the samples."""
    outputs = [self._generate_and_extract(generator_weights, self._weights,
                                          offset)
               for offset in range(0, self.num_samples, self.batch_size)]
    features = np.concatenate([sharding.to_host(f) for f, _ in outputs])
    logits = np.concatenate([sharding.to_host(l) for _, l in outputs])
    count = self.num_samples
    labels = (np.arange(count) % self.num_classes if self.num_classes
              else None)
    return features[:count], logits[:count], labels

  def __call__(self, generator_weights) -> dict:
    """The metric row of one set of weights (see `compute_metrics`)."""
    start = time.perf_counter()
    features, logits, labels = self.generate_features(generator_weights)
    row = compute_metrics(self.reference, features, logits, labels,
                          self.extractor, self.data_config.name)
    row.update({
        "num_samples": self.num_samples,
        "num_real": len(self.reference.features),
        **self.extractor.describe(),
        "eval_seconds": round(time.perf_counter() - start, 3)})
    return row


def compute_metrics(reference, features, logits, labels, extractor,
                    dataset: str) -> dict:
  """fid, kid, kid_std, precision, recall, inception_score(_std), and
  class_accuracy when `labels` are given and the extractor's classes are
  the dataset's."""
  try:
    mu, sigma = metrics.feature_statistics(features)
    fid = metrics.frechet_distance(reference.mu, reference.sigma, mu, sigma)
    kid, kid_std = metrics.kid_from_features(reference.features, features)
    precision, recall = metrics.precision_recall(reference.features, features)
    probabilities = jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)
    score, score_std = metrics.inception_score(
        np.asarray(probabilities, np.float64),
        num_splits=min(10, len(features)))
    row = {"fid": fid, "kid": kid, "kid_std": kid_std, "precision": precision,
           "recall": recall, "inception_score": score,
           "inception_score_std": score_std}
    if labels is not None and extractor.label_dataset == dataset and (
        extractor.num_classes > int(labels.max())):
      row["class_accuracy"] = metrics.class_accuracy(logits, labels)
    elif labels is not None:
      log.warning("No class_accuracy: the extractor %s does not classify "
                  "%s's labels.", extractor.name, dataset)
  except ValueError as error:  # NaN features from a diverged generator...
    raise UserError(f"The metrics cannot be computed: {error}") from None
  return row

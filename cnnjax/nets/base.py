"""What every feature network is: `FeatureNet`."""

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import jax

WEIGHTS_DIR = "cnnjax_weights"  # under the data dir: converted weight files


@dataclasses.dataclass(frozen=True)
class FeatureNet:
  """A network with its weights, ready to be traced under jit."""
  name: str  # the resolved spec, e.g. "classifier:/abs/path/to/workdir"
  kind: str  # "classifier", "inception_v3", "vgg19" or "vgg16"
  digest: str  # sha256 of the weights and architecture
  weights: Any  # a pytree of arrays, the first argument of `apply`
  # apply(weights, images, layers) -> {name: activations [B, ...]}
  apply: Callable[[Any, jax.Array, tuple[str, ...]], dict[str, jax.Array]]
  layers: tuple[str, ...]  # its named layers, input to output
  features_layer: str  # the layer FID and friends use
  # Its class logits; None for a network without a classifier head (VGG's
  # convolutional part), which then has num_classes 0 and cannot be an
  # extractor for FID or the Inception Score.
  logits_layer: str | None
  num_classes: int
  # The dataset whose labels the logits are; None when they are another
  # label set (Inception's ImageNet), so class accuracy cannot be measured.
  label_dataset: str | None
  input_description: str


def safe_name(dataset: str) -> str:
  """A dataset name usable in a file name ("tfds:cifar10" -> "tfds_cifar10")."""
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)

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
  kind: str  # "classifier" or "inception_v3"
  digest: str  # sha256 of the weights and architecture
  weights: Any  # a pytree of arrays, the first argument of `apply`
  # apply(weights, images, layers) -> {name: activations [B, ...]}
  apply: Callable[[Any, jax.Array, tuple[str, ...]], dict[str, jax.Array]]
  layers: tuple[str, ...]  # its named layers, input to output
  features_layer: str  # the layer FID and friends use
  logits_layer: str  # its class logits
  num_classes: int
  # The dataset whose labels the logits are; None when they are another
  # label set (Inception's ImageNet), so class accuracy cannot be measured.
  label_dataset: str | None
  input_description: str


def safe_name(dataset: str) -> str:
  """A dataset name usable in a file name ("tfds:cifar10" -> "tfds_cifar10")."""
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)
